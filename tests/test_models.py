"""Tests of swiftsampler.models: every registered model is checked automatically via list_models()."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from swiftsampler.errors import ConfigError
from swiftsampler.models import MODELS, Classifier, create_model, list_models

# A small input shape per ``inputs`` kind, and a small width to keep the tests fast.
SHAPES = {"signal": (1, 40), "image": (3, 8, 8), "any": (2, 5, 3)}
#: The classifiers (every model but the token models, whose outputs are per position: test_gpt.py).
CLASSIFIERS = [n for n in list_models() if MODELS.get(n).meta["inputs"] != "tokens"]
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
    assert {"preact-resnet18", "wrn-28-10", "mobilenetv2", "resnet50"} <= set(list_models())
    assert "gpt-tiny" in list_models() and "gpt-tiny" not in CLASSIFIERS
    assert list_models() == sorted(list_models())


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_metadata(name):
    entry = MODELS.get(name)
    assert entry.meta["inputs"] in SHAPES
    assert isinstance(entry.meta["width"], int) and entry.meta["width"] > 0
    assert entry.summary  # one-line docstring for `swiftsampler list`


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_output_shape_and_dtype(name):
    model = _build(name, num_classes=7)
    assert isinstance(model, Classifier)
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 7
    out = model(_input(_shape(name)))
    assert out.shape == (BATCH, 7)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_backward_gives_finite_grads_on_all_parameters(name):
    model = _build(name)
    model.train()
    loss = nn.functional.cross_entropy(model(_input(_shape(name))), torch.arange(BATCH) % 5)
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert torch.isfinite(param.grad).all(), pname


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_head_of_features_equals_forward(name):
    model = _build(name).eval()
    x = _input(_shape(name))
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (BATCH, model.head.in_features) == (BATCH, model.feature_dim)
        torch.testing.assert_close(model.head(feats), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_same_seed_gives_identical_weights(name):
    a, b, c = _build(name, seed=3), _build(name, seed=3), _build(name, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_library_does_not_seed_the_global_rng(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        a = create_model(name, 3, _shape(name), width=WIDTH)
        b = create_model(name, 3, _shape(name), width=WIDTH)  # continues the same RNG stream
    assert not torch.equal(a.head.weight, b.head.weight)


@pytest.mark.parametrize("name", CLASSIFIERS)
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
        ("preact-resnet18", (1, 8, 8)),
        ("preact-resnet18", (3, 32, 32)),
        ("wrn-28-10", (3, 16, 16)),
        ("wrn-28-10", (1, 5, 7)),
        ("mobilenetv2", (3, 32, 32)),
        ("mobilenetv2", (1, 3, 3)),
        ("resnet50", (3, 32, 32)),
        ("resnet50", (3, 16, 16)),
        ("resnet50", (1, 1, 1)),
    ],
)
def test_other_input_shapes(name, shape):
    model = _build(name, shape=shape).eval()
    with torch.no_grad():
        assert model(_input(shape, batch=2)).shape == (2, 5)


def test_cnn1d_head_uses_the_downsampled_length():
    model = create_model("cnn1d", 10, (1, 40), width=8)
    assert model.head.in_features == 2 * 8 * 10  # 40 -> 20 -> 10


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, num_classes, expected, tolerance",
    [
        ("resnet18", 10, 11.17e6, 0.02),
        ("preact-resnet18", 10, 11.17e6, 0.02),
        ("wrn-28-10", 10, 36.5e6, 0.03),  # Zagoruyko & Komodakis, Table 1: 36.5M
        ("mobilenetv2", 10, 2.24e6, 0.02),
        ("mobilenetv2", 1000, 3.5e6, 0.02),  # Sandler et al., Table 4: 3.4M (+ BN)
        ("resnet50", 1000, 25.6e6, 0.02),
    ],
)
def test_parameter_count_at_default_width(name, num_classes, expected, tolerance):
    n = _n_params(create_model(name, num_classes, (3, 32, 32)))  # no forward pass: shape-free
    assert abs(n - expected) / expected < tolerance, n


def test_imagenet_resnet_reuses_the_basic_block():
    from swiftsampler.models.resnet import BasicBlock
    from swiftsampler.models.resnet50 import ImageNetResNet

    model = ImageNetResNet(1000, (3, 224, 224), 64, (2, 2, 2, 2), block=BasicBlock)  # ResNet-18
    assert abs(_n_params(model) - 11.69e6) / 11.69e6 < 0.01
    assert model.feature_dim == 512


@pytest.mark.parametrize(
    "name, width, feature_dim",
    [
        ("preact-resnet18", 4, 32),
        ("wrn-28-10", 2, 80),  # groups 20 / 40 / 80 channels
        ("wrn-28-10", 16, 640),
        ("resnet50", 8, 256),
        ("resnet50", 64, 2048),
        ("mobilenetv2", 4, 1280),  # the last conv is not narrowed below 1280
        ("mobilenetv2", 40, 1600),  # but widened above it
    ],
)
def test_feature_dim_follows_width(name, width, feature_dim):
    model = create_model(name, 10, (3, 8, 8), width=width)
    assert model.feature_dim == feature_dim


def _conv_channels(model: nn.Module) -> list[int]:
    return [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_wrn_structure():
    model = create_model("wrn-28-10", 10, (3, 32, 32), width=2)
    convs = _conv_channels(model)
    assert convs[0] == 2  # stem: the base width
    # 3 groups x 4 blocks x 2 convs, plus the stem and 3 projection shortcuts = 28 convolutions
    assert len(convs) == 28
    assert sorted(set(convs[1:])) == [20, 40, 80]


def test_wrn_depth_and_dropout():
    from swiftsampler.models.wide_resnet import WideResNet

    with pytest.raises(ValueError, match="6n"):
        WideResNet(10, (3, 8, 8), width=2, depth=27)
    model = WideResNet(10, (3, 8, 8), width=2, depth=10, widen=2, dropout=0.5)
    assert len(_conv_channels(model)) == 1 + 3 * 2 + 3
    x = _input((3, 8, 8))
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


def test_preact_blocks_have_no_activation_after_the_sum():
    from swiftsampler.models.preact_resnet import PreActBlock

    block = PreActBlock(4, 4).eval()
    x = -torch.ones(1, 4, 3, 3)
    with torch.no_grad():
        nn.init.zeros_(block.conv2.weight)  # residual branch is zero: output is the identity
        assert torch.equal(block(x), x)  # negative values survive (no ReLU after the addition)


def test_mobilenetv2_blocks():
    from swiftsampler.models.mobilenetv2 import InvertedResidual

    model = create_model("mobilenetv2", 10, (3, 32, 32), width=8)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17
    assert sum(b.use_residual for b in blocks) == 10
    assert model.features[0].out_channels == 8  # width = stem channels
    depthwise = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 17 and all(m.groups == m.in_channels for m in depthwise)


@pytest.mark.parametrize(
    "name, width, side, out_side",
    [
        ("preact-resnet18", 2, 32, 4),
        ("wrn-28-10", 1, 32, 8),
        ("mobilenetv2", 4, 32, 4),  # CIFAR strides: downsampling by 8
        ("resnet50", 8, 64, 2),  # downsampling by 32
        ("resnet50", 8, 16, 1),
    ],
)
def test_final_feature_map_size(name, width, side, out_side):
    model = create_model(name, 10, (3, side, side), width=width).eval()
    seen = []
    model.pool.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[-2:]))
    with torch.no_grad():
        model(_input((3, side, side), batch=1))
    assert seen == [(out_side, out_side)]


@pytest.mark.parametrize(
    "name, shape, words",
    [
        ("resnet18", (1, 40), "image inputs of shape (C, H, W); this dataset gives (1, 40)"),
        ("resnet50", (1, 40), "image inputs of shape (C, H, W); this dataset gives (1, 40)"),
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


@pytest.mark.parametrize("name", CLASSIFIERS)
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
