"""RandAugment: shapes, ranges, identities, determinism, per-op references and batched/per-sample parity."""

import math

import pytest
import torch

from swiftsampler.augment._base import AUGMENTATIONS, AugmentContext, create_augmentation
from swiftsampler.augment._randaugment import IMAGE_OPS, SIGNAL_OPS, RandAugment
from swiftsampler.errors import ConfigError


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def images():
    x = torch.randn(16, 3, 8, 8, generator=gen(1)) * 2 + 0.5
    return x, AugmentContext.from_inputs("image", x)


@pytest.fixture
def signals():
    x = torch.randn(16, 1, 40, generator=gen(2))
    return x, AugmentContext.from_inputs("signal", x)


@pytest.fixture(params=["image", "signal"])
def batch(request, images, signals):
    return images if request.param == "image" else signals


def unit(*shape, seed=3):
    return torch.rand(*shape, generator=gen(seed))


# --- the augmentation -------------------------------------------------------------------------------


def test_registered_and_created_through_the_registry(images):
    _, ctx = images
    aug = create_augmentation(["randaugment"], ctx, {"randaugment.n": 3, "randaugment.m": 9})
    (step,) = aug.steps
    assert isinstance(step, RandAugment) and (step.n, step.m) == (3, 9.0)
    assert "randaugment" in AUGMENTATIONS
    with pytest.raises(ConfigError, match="n"):
        create_augmentation(["randaugment"], ctx, {"randaugment.n": -1})


def test_defaults_and_validation(images):
    _, ctx = images
    aug = RandAugment(ctx)
    assert (aug.n, aug.m) == (2, 4.0)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"\bn\b"):
            RandAugment(ctx, n=bad)
    for bad in (-0.1, 30.5, math.nan, True):
        with pytest.raises(ValueError, match=r"\bm\b"):
            RandAugment(ctx, m=bad)
    with pytest.raises(ValueError, match="image/signal"):
        RandAugment(AugmentContext("vector", torch.zeros(1), torch.ones(1)))


def test_shape_dtype_range_and_identity_mixing(batch):
    x, ctx = batch
    for m in (4.0, 30.0):
        out = RandAugment(ctx, n=3, m=m)(x, gen())
        y = out.inputs
        assert y.shape == x.shape and y.dtype == x.dtype
        assert not torch.equal(y, x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        assert (y >= ctx.low.view(shape)).all() and (y <= ctx.high.view(shape)).all()
        assert torch.equal(out.sources, torch.arange(len(x)).unsqueeze(1))
        assert torch.equal(out.weights, torch.ones(len(x), 1))


def test_float64_batch_keeps_its_dtype(images):
    x, ctx = images
    y = RandAugment(ctx, m=10)(x.double(), gen()).inputs
    assert y.dtype == torch.float64


def test_magnitude_zero_is_the_identity(batch):
    x, ctx = batch
    y = RandAugment(ctx, n=4, m=0)(x, gen()).inputs
    torch.testing.assert_close(y, x, atol=1e-6, rtol=0)


def test_every_op_is_the_identity_at_magnitude_zero():
    for table, u in ((IMAGE_OPS, unit(4, 3, 8, 8)), (SIGNAL_OPS, unit(4, 2, 40))):
        sign = torch.tensor([1.0, -1.0, 1.0, -1.0])
        for name, op in table.items():
            extra = (op.draw(gen(), u),) if op.draw is not None else ()
            out = op.fn(u, op.value(0.0, sign), *extra)
            torch.testing.assert_close(out, u, atol=1e-6, rtol=0, msg=name)


def test_zero_ops_returns_the_input(batch):
    x, ctx = batch
    assert torch.equal(RandAugment(ctx, n=0, m=30)(x, gen()).inputs, x)


def test_seeded_determinism(batch):
    x, ctx = batch
    aug = RandAugment(ctx, n=2, m=12)
    a = aug(x, gen(5)).inputs
    assert torch.equal(a, aug(x, gen(5)).inputs)
    assert not torch.equal(a, aug(x, gen(6)).inputs)


def test_no_global_rng(batch):
    x, ctx = batch
    torch.manual_seed(0)
    state = torch.get_rng_state()
    RandAugment(ctx, n=3, m=20)(x, gen())
    assert torch.equal(torch.get_rng_state(), state)


def test_samples_draw_ops_independently(images):
    x, ctx = images
    y = RandAugment(ctx, n=1, m=20)(x, gen()).inputs
    changed = (y - x).flatten(1).abs().amax(dim=1) > 1e-5
    assert 0 < int(changed.sum()) <= len(x)  # identity is one of the choices
    assert len({tuple(torch.round(r, decimals=3).tolist()) for r in (y - x).flatten(1)[:, :4]}) > 2


# --- per-op references on hand-made inputs ------------------------------------------------------------


def test_solarize_posterize_brightness():
    u = torch.tensor([0.2, 0.7, 200 / 255, 1.0]).view(1, 1, 1, 4)
    out = IMAGE_OPS["solarize"].fn(u, torch.tensor([0.5]))
    torch.testing.assert_close(out.flatten(), torch.tensor([0.2, 0.3, 55 / 255, 0.0]))
    out = IMAGE_OPS["posterize"].fn(u, torch.tensor([4.0]))  # keep 4 bits: multiples of 16
    expected = torch.tensor([48, 176, 192, 240]) / 255  # round(0.2*255)=51 -> 48, 178.5 -> 178 -> 176
    torch.testing.assert_close(out.flatten(), expected)
    out = IMAGE_OPS["brightness"].fn(u, torch.tensor([1.5]))
    torch.testing.assert_close(out.flatten(), torch.tensor([0.3, 1.0, 1.0, 1.0]))


def test_magnitude_mapping():
    sign = torch.tensor([1.0, -1.0])
    torch.testing.assert_close(IMAGE_OPS["rotate"].value(15.0, sign), torch.tensor([15.0, -15.0]))
    torch.testing.assert_close(IMAGE_OPS["contrast"].value(30.0, sign), torch.tensor([1.9, 0.1]))
    torch.testing.assert_close(IMAGE_OPS["solarize"].value(6.0, sign), torch.tensor([0.8, 0.8]))
    torch.testing.assert_close(IMAGE_OPS["posterize"].value(30.0, sign), torch.tensor([4.0, 4.0]))
    torch.testing.assert_close(IMAGE_OPS["translate_x"].value(10.0, sign), torch.tensor([0.15, -0.15]))
    torch.testing.assert_close(IMAGE_OPS["equalize"].value(1.0, sign), torch.tensor([1.0, 1.0]))


def test_autocontrast_stretches_each_channel():
    u = unit(2, 3, 5, 5) * 0.5 + 0.2
    u[1, 2] = 0.4  # constant channel: unchanged
    out = IMAGE_OPS["autocontrast"].fn(u, torch.ones(2))
    torch.testing.assert_close(out[0].flatten(1).amin(1), torch.zeros(3))
    torch.testing.assert_close(out[0].flatten(1).amax(1), torch.ones(3))
    torch.testing.assert_close(out[1, 2], u[1, 2])
    assert torch.equal(IMAGE_OPS["autocontrast"].fn(u, torch.zeros(2)), u)


def test_equalize_is_monotone_and_spreads_values():
    u = (0.4 + 0.1 * unit(2, 3, 8, 8)).round(decimals=2)
    out = IMAGE_OPS["equalize"].fn(u, torch.ones(2))
    for i in range(2):
        for c in range(3):
            a, b = u[i, c].flatten(), out[i, c].flatten()
            order = torch.argsort(a)
            assert (b[order].diff() >= 0).all()
            assert b.max() - b.min() > 2 * (a.max() - a.min())
    constant = torch.full((1, 1, 4, 4), 0.3)
    torch.testing.assert_close(IMAGE_OPS["equalize"].fn(constant, torch.ones(1)), constant)


def test_translate_rotate_shear():
    u = unit(1, 2, 8, 8)
    out = IMAGE_OPS["translate_x"].fn(u, torch.tensor([2 / 8]))  # right by 2 pixels, zero fill
    torch.testing.assert_close(out[..., 2:], u[..., :-2], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., :2], torch.zeros(1, 2, 8, 2), atol=1e-5, rtol=0)
    out = IMAGE_OPS["translate_y"].fn(u, torch.tensor([-3 / 8]))  # up by 3
    torch.testing.assert_close(out[..., :-3, :], u[..., 3:, :], atol=1e-5, rtol=0)
    torch.testing.assert_close(IMAGE_OPS["rotate"].fn(u, torch.zeros(1)), u, atol=1e-6, rtol=0)
    torch.testing.assert_close(IMAGE_OPS["rotate"].fn(u, torch.tensor([90.0])), torch.rot90(u, 1, (2, 3)),
                               atol=1e-5, rtol=0)
    odd = unit(1, 1, 9, 9)  # shear about the centre: the middle row (column) does not move
    torch.testing.assert_close(IMAGE_OPS["shear_x"].fn(odd, torch.tensor([0.3]))[..., 4, :], odd[..., 4, :],
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(IMAGE_OPS["shear_y"].fn(odd, torch.tensor([0.3]))[..., 4], odd[..., 4],
                               atol=1e-5, rtol=0)


def test_color_contrast_sharpness():
    u = unit(2, 3, 6, 6)
    gray = IMAGE_OPS["color"].fn(u, torch.zeros(2))
    torch.testing.assert_close(gray[:, 0], gray[:, 1])
    torch.testing.assert_close(gray[:, 0], 0.299 * u[:, 0] + 0.587 * u[:, 1] + 0.114 * u[:, 2])
    one_channel = u[:, :1]
    torch.testing.assert_close(IMAGE_OPS["color"].fn(one_channel, torch.tensor([0.1, 1.9])), one_channel)
    flat = IMAGE_OPS["contrast"].fn(u, torch.zeros(2))
    torch.testing.assert_close(flat, gray.mean(dim=(1, 2, 3), keepdim=True).expand_as(u))
    constant = torch.full((1, 3, 6, 6), 0.25)
    torch.testing.assert_close(IMAGE_OPS["sharpness"].fn(constant, torch.tensor([1.9])), constant)
    sharp = IMAGE_OPS["sharpness"].fn(u, torch.tensor([0.0, 0.0]))
    assert torch.equal(sharp[..., 0, :], u[..., 0, :])  # borders are kept
    centre = (u[:, :, 2:5, 2:5].sum(dim=(2, 3)) + 4 * u[:, :, 3, 3]) / 13
    torch.testing.assert_close(sharp[:, :, 3, 3], centre)


def test_signal_ops():
    u = unit(3, 2, 20)
    out = SIGNAL_OPS["translate"].fn(u, torch.tensor([0.1, -0.25, 0.0]))
    for i, s in enumerate((2, -5, 0)):
        torch.testing.assert_close(out[i], torch.roll(u[i], s, dims=1))
    torch.testing.assert_close(SIGNAL_OPS["scale"].fn(u * 0.5, torch.full((3,), 1.5)), u * 0.75)
    flat = SIGNAL_OPS["contrast"].fn(u, torch.zeros(3))
    torch.testing.assert_close(flat, u.mean(dim=(1, 2), keepdim=True).expand_as(u))
    avg = SIGNAL_OPS["smooth"].fn(u, torch.ones(3))
    torch.testing.assert_close(avg[..., 1:-1], (u[..., :-2] + u[..., 1:-1] + u[..., 2:]) / 3)
    out = SIGNAL_OPS["cutout"].fn(u + 0.1, torch.full((3,), 0.3), torch.tensor([0.0, 0.5, 0.999]))
    zero = out == 0
    assert (zero.sum(dim=2) == 6).all()  # round(0.3 * 20)
    assert zero[0, :, :6].all() and zero[2, :, -6:].all()
    noise = torch.randn(3, 2, 20, generator=gen())
    torch.testing.assert_close(SIGNAL_OPS["jitter"].fn(u * 0 + 0.5, torch.full((3,), 0.1), noise),
                               (0.5 + 0.1 * noise).clamp(0, 1))


@pytest.mark.parametrize("table,name", [
    (IMAGE_OPS, "equalize"), (IMAGE_OPS, "autocontrast"), (IMAGE_OPS, "contrast"), (IMAGE_OPS, "sharpness"),
    (IMAGE_OPS, "posterize"), (IMAGE_OPS, "rotate"), (IMAGE_OPS, "shear_x"), (IMAGE_OPS, "translate_y"),
    (SIGNAL_OPS, "translate"), (SIGNAL_OPS, "smooth"), (SIGNAL_OPS, "cutout"),
])
def test_batched_op_matches_a_per_sample_loop(table, name):
    op = table[name]
    u = unit(6, 3, 7, 9) if table is IMAGE_OPS else unit(6, 2, 30)
    sign = torch.where(torch.rand(6, generator=gen(4)) < 0.5, -1.0, 1.0)
    v = op.value(17.0, sign)
    extra = (op.draw(gen(), u),) if op.draw is not None else ()
    batched = op.fn(u, v, *extra)
    looped = torch.cat([op.fn(u[i:i + 1], v[i:i + 1], *(e[i:i + 1] for e in extra)) for i in range(6)])
    torch.testing.assert_close(batched, looped, atol=1e-6, rtol=0)


def test_grouped_rounds_match_applying_each_samples_ops_one_by_one(images):
    """The batched augmentation equals a per-sample reference that replays the generator's draws."""
    x, ctx = images
    n, m = 2, 17.0
    y = RandAugment(ctx, n=n, m=m)(x, gen(9)).inputs
    ops = list(IMAGE_OPS.values())
    low, high = ctx.low.view(1, -1, 1, 1), ctx.high.view(1, -1, 1, 1)
    u = (x - low) / (high - low)
    g = gen(9)
    for _ in range(n):  # the image ops draw nothing beyond the choices and signs
        choice = torch.randint(0, len(ops), (len(x),), generator=g)
        sign = torch.where(torch.rand(len(x), generator=g) < 0.5, -1.0, 1.0)
        u = torch.cat([ops[k].fn(u[i:i + 1], ops[k].value(m, sign[i:i + 1])) for i, k in enumerate(choice)])
    torch.testing.assert_close(y, low + u * (high - low), atol=1e-5, rtol=0)
