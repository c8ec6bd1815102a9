"""Augmentations: shapes and ranges, shares sum to one, credit equals area, identities, determinism,
composition, and the credit rule of the engine."""

import pytest
import torch

from swiftsampler.augment import AugmentContext, Compose, Mixed, create_augmentation, list_augmentations
from swiftsampler.budget import Budget
from swiftsampler.config import RunConfig
from swiftsampler.engine import train
from swiftsampler.errors import ConfigError
from swiftsampler.samplers import create_sampler
from swiftsampler.sampling import SamplingCore
from swiftsampler.tasks import Task

IMAGE = AugmentContext("image", torch.zeros(3), torch.ones(3))
SIGNAL = AugmentContext("signal", torch.zeros(1), torch.ones(1))
VECTOR = AugmentContext("vector", torch.zeros(1), torch.ones(1))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(context, b=12):
    shape = {"image": (b, 3, 8, 8), "signal": (b, 1, 40), "vector": (b, 6)}[context.kind]
    return torch.rand(shape, generator=gen(99))


def supported(name, context):
    try:
        create_augmentation([name], context)
        return True
    except ConfigError:
        return False


CASES = [(n, c) for n in list_augmentations() for c in (IMAGE, SIGNAL, VECTOR) if supported(n, c)]


@pytest.mark.parametrize("name, context", CASES, ids=lambda v: getattr(v, "kind", v))
def test_shapes_dtypes_ranges_and_shares(name, context):
    x = batch(context)
    out = create_augmentation([name], context)(x, gen(1))
    assert out.inputs.shape == x.shape and out.inputs.dtype == x.dtype
    assert out.sources.dtype == torch.long and out.sources.shape[0] == x.shape[0]
    assert bool((out.sources >= 0).all()) and bool((out.sources < x.shape[0]).all())
    assert torch.allclose(out.weights.sum(1), torch.ones(x.shape[0]))
    assert bool((out.weights >= 0).all())
    # inputs lie in [0, 1]; only the signal amplitude scaling (by up to 1.1) may leave the range
    top = 1.1 if (name, context.kind) == ("standard", "signal") else 1.0
    assert float(out.inputs.min()) >= -1e-6 and float(out.inputs.max()) <= top + 1e-6


@pytest.mark.parametrize("name, context", CASES, ids=lambda v: getattr(v, "kind", v))
def test_determinism_for_a_seed(name, context):
    x = batch(context)
    aug = create_augmentation([name], context)
    a, b, c = aug(x, gen(5)), aug(x, gen(5)), aug(x, gen(6))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.sources, b.sources)
    assert not torch.equal(a.inputs, c.inputs)


def test_augmentations_use_no_global_rng():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    for name, context in CASES:
        create_augmentation([name], context)(batch(context), gen())
    assert torch.equal(state, torch.get_rng_state())


def constant_batch(context, b=10):
    """Sample i is filled with the value i, so every output value names its source."""
    shape = {"image": (3, 8, 8), "signal": (1, 40)}[context.kind]
    return torch.arange(b, dtype=torch.float32).view(b, *[1] * len(shape)).expand(b, *shape).clone()


@pytest.mark.parametrize("name", ["cutmix", "ricap"])
@pytest.mark.parametrize("context", [IMAGE, SIGNAL], ids=["image", "signal"])
def test_patch_credit_equals_the_area_taken_from_each_source(name, context):
    x = constant_batch(context)
    for seed in range(5):
        out = create_augmentation([name], context)(x, gen(seed))
        for i in range(x.shape[0]):
            values = out.inputs[i, 0].flatten()
            for src in out.sources[i].unique():
                area = (values == src).float().mean()
                credit = out.weights[i][out.sources[i] == src].sum()
                assert area.item() == pytest.approx(credit.item(), abs=1e-6)


def test_mixup_is_the_convex_combination_with_its_weights():
    x = constant_batch(SIGNAL)
    out = create_augmentation(["mixup"], SIGNAL)(x, gen(3))
    expected = (out.weights * out.sources.float()).sum(1)
    assert torch.allclose(out.inputs[:, 0, 0], expected, atol=1e-5)
    assert torch.equal(out.sources[:, 0], torch.arange(10))


def test_identities_at_zero_strength():
    for context in (IMAGE, SIGNAL):
        x = batch(context)
        same = create_augmentation(["standard"], context,
                                   {"standard.padding": 0, "standard.flip": False,
                                    "standard.shift": 0, "standard.scale": 0.0})(x, gen())
        assert torch.equal(same.inputs, x)
        assert torch.equal(create_augmentation(["cutout"], context, {"cutout.size": 0})(x, gen())
                           .inputs, x)


def test_standard_image_is_a_translation_of_each_image():
    x = torch.rand(4, 1, 8, 8, generator=gen(7))
    out = create_augmentation(["standard"], AugmentContext("image", torch.zeros(1), torch.ones(1)),
                              {"standard.flip": False})(x, gen(8)).inputs
    for i in range(4):  # some shift (dy, dx) in [-4, 4]^2 maps x_i onto out_i where both exist
        assert any(torch.equal(out[i, 0, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)],
                               x[i, 0, max(-dy, 0):8 - max(dy, 0), max(-dx, 0):8 - max(dx, 0)])
                   for dy in range(-4, 5) for dx in range(-4, 5))


def test_composition_multiplies_shares():
    x = constant_batch(SIGNAL)
    out = create_augmentation(["ricap", "mixup"], SIGNAL)(x, gen(4))
    assert out.sources.shape == (10, 8)
    assert torch.allclose(out.weights.sum(1), torch.ones(10))
    # every output is the share-weighted mean of its sources' (constant) values
    assert torch.allclose(out.inputs.mean(dim=(1, 2)), (out.weights * out.sources.float()).sum(1),
                          atol=1e-4)


def test_bad_augmentation_settings_are_config_errors():
    with pytest.raises(ConfigError, match="unknown augmentation 'ricapp'"):
        create_augmentation(["ricapp"], IMAGE)
    with pytest.raises(ConfigError, match="supports image/signal data, not vector"):
        create_augmentation(["ricap"], VECTOR)
    with pytest.raises(ConfigError, match="alpha must be positive"):
        create_augmentation(["mixup"], IMAGE, {"mixup.alpha": 0})
    with pytest.raises(ConfigError, match="is not in --augment"):
        create_augmentation(["mixup"], IMAGE, {"cutmix.alpha": 1.0})


def test_credit_reaches_the_source_indices():
    indices = torch.tensor([10, 11, 12, 13])
    targets = torch.tensor([0, 1, 2, 0])
    mixed = Mixed(torch.zeros(4, 2), torch.tensor([[0, 1], [1, 2], [2, 3], [3, 0]]),
                  torch.tensor([[0.7, 0.3], [0.6, 0.4], [0.5, 0.5], [0.9, 0.1]]))
    logits = torch.randn(4, 3, generator=gen(9))
    parts = Task().part_losses(logits, targets, mixed)
    ce = torch.nn.functional.cross_entropy
    assert parts[1, 1].item() == pytest.approx(ce(logits[1:2], targets[2:3]).item(), rel=1e-6)
    core = SamplingCore(create_sampler("uniform", 20), Budget(1.0, 1, 20), batch_size=4, seed=0)
    core.record(indices, logits, targets, parts, mixed.sources, mixed.weights)
    stats = core.stats
    assert torch.allclose(stats.seen[10:14], torch.tensor([0.7 + 0.1, 0.3 + 0.6, 0.4 + 0.5,
                                                           0.5 + 0.9]))
    assert stats.seen.sum().item() == pytest.approx(4.0)
    # sample 13's last loss: its own label on outputs 2 (share 0.5) and 3 (share 0.9)
    expected = (0.5 * parts[2, 1] + 0.9 * parts[3, 0]) / 1.4
    assert stats.loss[13].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("augment", [["standard", "ricap"], ["mixup"], ["cutout"]])
def test_training_with_augmentation_is_recorded_and_learns(augment):
    cfg = RunConfig().replace(dataset="mnist1d", num_samples=1000, model="cnn1d", width=16,
                              epochs=3, batch_size=32, budget=0.5, augment=augment)
    result = train(cfg)
    assert result["config"]["augment"]["augment"] == augment
    # each output spreads one unit of credit over its sources
    assert result["usage"]["visits"] == pytest.approx(result["cost"]["backward_samples"], rel=1e-5)
    assert result["test_acc"] > 0.3


def test_compose_of_nothing_is_falsy():
    assert not Compose([]) and not create_augmentation(["none"], IMAGE)
