"""Tests of swiftsampler.models: every registered model is checked automatically via list_models()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swiftsampler.errors import ConfigError
from swiftsampler.models import MODELS, Classifier, create_model, list_models

# A small input shape per ``inputs`` kind, and a small width to keep the tests fast.
SHAPES = {"signal": (1, 40), "image": (3, 8, 8), "any": (2, 5, 3)}
WIDTH = 4
BATCH = 4


def _shape(name: str) -> tuple[int, ...]:
    return SHAPES[MODELS.get(name).meta["inputs"]]


def _build(name: str, seed: int = 0, **kwargs) -> nn.Module:
    kwargs.setdefault("width", WIDTH)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model(name, kwargs.pop("num_classes", 5), kwargs.pop("shape", _shape(name)),
                            **kwargs)


def _input(shape: tuple[int, ...], batch: int = BATCH) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(batch, *shape, generator=gen)


def test_registry_lists_the_builtin_models():
    assert {"cnn1d", "mlp", "cnn2d", "resnet18"} <= set(list_models())
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", list_models())
def test_metadata(name):
    entry = MODELS.get(name)
    assert entry.meta["inputs"] in SHAPES
    assert isinstance(entry.meta["width"], int) and entry.meta["width"] > 0
    assert entry.summary  # one-line docstring for `swiftsampler list`


@pytest.mark.parametrize("name", list_models())
def test_output_shape_and_dtype(name):
    model = _build(name, num_classes=7)
    assert isinstance(model, Classifier)
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 7
    out = model(_input(_shape(name)))
    assert out.shape == (BATCH, 7)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", list_models())
def test_backward_gives_finite_grads_on_all_parameters(name):
    model = _build(name)
    model.train()
    loss = nn.functional.cross_entropy(model(_input(_shape(name))), torch.arange(BATCH) % 5)
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize("name", list_models())
def test_head_of_features_equals_forward(name):
    model = _build(name).eval()
    x = _input(_shape(name))
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (BATCH, model.head.in_features) == (BATCH, model.feature_dim)
        torch.testing.assert_close(model.head(feats), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", list_models())
def test_same_seed_gives_identical_weights(name):
    a, b, c = _build(name, seed=3), _build(name, seed=3), _build(name, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", list_models())
def test_library_does_not_seed_the_global_rng(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        a = create_model(name, 3, _shape(name), width=WIDTH)
        b = create_model(name, 3, _shape(name), width=WIDTH)  # continues the same RNG stream
    assert not torch.equal(a.head.weight, b.head.weight)


@pytest.mark.parametrize("name", list_models())
def test_default_width(name):
    default = MODELS.get(name).meta["width"]
    shape = _shape(name)
    n_params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n_params(create_model(name, 3, shape)) == n_params(
        create_model(name, 3, shape, width=default)
    )


@pytest.mark.parametrize(
    "name, shape",
    [
        ("cnn1d", (2, 37)),  # odd length, several channels
        ("cnn1d", (1, 3)),
        ("mlp", (1, 40)),
        ("mlp", (64,)),
        ("cnn2d", (1, 8, 8)),  # sklearn digits
        ("cnn2d", (3, 32, 32)),  # CIFAR
        ("cnn2d", (3, 4, 6)),
        ("resnet18", (1, 8, 8)),
        ("resnet18", (3, 32, 32)),
    ],
)
def test_other_input_shapes(name, shape):
    model = _build(name, shape=shape).eval()
    with torch.no_grad():
        assert model(_input(shape, batch=2)).shape == (2, 5)


def test_cnn1d_head_uses_the_downsampled_length():
    model = create_model("cnn1d", 10, (1, 40), width=8)
    assert model.head.in_features == 2 * 8 * 10  # 40 -> 20 -> 10


def test_resnet18_parameter_count():
    model = create_model("resnet18", 10, (3, 32, 32), width=64)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - 11.17e6) / 11.17e6 < 0.02, n


@pytest.mark.parametrize(
    "name, shape, words",
    [
        ("resnet18", (1, 40), "image inputs of shape (C, H, W); this dataset gives (1, 40)"),
        ("cnn2d", (1, 40), "image inputs of shape (C, H, W); this dataset gives (1, 40)"),
        ("cnn1d", (3, 32, 32), "signal inputs of shape (C, L); this dataset gives (3, 32, 32)"),
        ("cnn2d", (1, 2, 2), ">= 4"),
        ("mlp", (), "non-empty"),
        ("cnn1d", (1, 0), "positive"),
    ],
)
def test_incompatible_input_shape_is_a_config_error(name, shape, words):
    with pytest.raises(ConfigError) as info:
        create_model(name, 10, shape)
    message = str(info.value)
    assert f"model {name!r}" in message
    assert words in message
    assert "\n" not in message


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("num_classes", [1, 0, 2.5, True])
def test_bad_num_classes_is_a_config_error(name, num_classes):
    with pytest.raises(ConfigError, match=f"model '{name}'.*num_classes"):
        create_model(name, num_classes, _shape(name))


@pytest.mark.parametrize("width", [0, -3, 1.5])
def test_bad_width_is_a_config_error(width):
    with pytest.raises(ConfigError, match="model 'mlp'.*width"):
        create_model("mlp", 10, (1, 40), width=width)


def test_unknown_model_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'resnet81'.*did you mean 'resnet18'"):
        create_model("resnet81", 10, (3, 32, 32))
