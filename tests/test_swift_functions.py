"""Swift Sampler building blocks: features, transforms, the sampler family and the sampler card."""

import json
import math

import pytest
import torch

from swiftsampler.errors import ConfigError
from swiftsampler.samplers._swift import (
    CARD_SCHEMA,
    FEATURES,
    TRANSFORMS,
    SamplerCard,
    SamplerFamily,
    apply_transform,
    cdf,
    cgf,
    feature_matrix,
    load_card,
    none,
    piecewise_linear,
    transformed_features,
)
from swiftsampler.stats import SampleStats

NAN = float("nan")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------------------- family
def test_piecewise_linear_values_at_knots_and_midpoints():
    knots = [0.0, 1.0, 0.5]  # S = 2: knots at 0, 1/2, 1
    u = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    assert piecewise_linear(u, knots).tolist() == [0.0, 0.5, 1.0, 0.75, 0.5]
    five = torch.tensor([0.2, 0.4, 0.6, 0.8, 0.1])
    got = piecewise_linear(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 0.125]), five)
    assert torch.allclose(got, torch.tensor([0.2, 0.4, 0.6, 0.8, 0.1, 0.3], dtype=torch.float64))
    assert piecewise_linear(u, knots).dtype == torch.float64
    with pytest.raises(ValueError):
        piecewise_linear(torch.tensor([NAN]), knots)
    with pytest.raises(ValueError):
        piecewise_linear(u, [1.0])


def test_piecewise_linear_is_continuous_at_knots():
    knots = torch.rand(7, generator=_gen(1), dtype=torch.float64)
    s = knots.numel() - 1
    at = torch.arange(1, s, dtype=torch.float64) / s
    eps = 1e-9
    left, mid, right = (piecewise_linear(x, knots) for x in (at - eps, at, at + eps))
    assert torch.allclose(mid, knots[1:-1], atol=1e-15)
    assert (left - mid).abs().max() < 1e-7 and (right - mid).abs().max() < 1e-7


def test_product_and_sum_combine_hand_values():
    theta = [0.0, 1.0, 0.5, 1.0, 0.5, 0.0]  # loss: 0 -> 1 -> 0.5, entropy: 1 -> 0.5 -> 0
    u = torch.tensor([[0.25, 0.25], [0.75, 1.0], [0.5, 0.5]], dtype=torch.float64)
    prod = SamplerFamily(n_knots=3)
    add = SamplerFamily(n_knots=3, combine="sum")
    # h_loss = [0.5, 0.75, 1.0], h_entropy = [0.75, 0.0, 0.5]
    assert torch.allclose(prod.weights(u, theta), torch.tensor([0.375, 0.0, 0.5], dtype=torch.float64))
    assert torch.allclose(add.weights(u, theta), torch.tensor([1.25, 0.75, 1.5], dtype=torch.float64))
    p = prod.probabilities(u, theta)
    assert torch.allclose(p, torch.tensor([3 / 7, 0.0, 4 / 7], dtype=torch.float64))
    assert abs(add.probabilities(u, theta).sum().item() - 1.0) < 1e-12
    floored = SamplerFamily(n_knots=3, floor=0.3).probabilities(u, theta)
    assert torch.allclose(floored, 0.7 * p + 0.1)
    assert floored.min().item() >= 0.3 / 3 - 1e-15


def test_probabilities_normalise_and_respect_the_floor_on_random_inputs():
    fam = SamplerFamily(floor=0.2)
    u = torch.rand(1000, 2, generator=_gen(2), dtype=torch.float64)
    theta = torch.rand(fam.n_params, generator=_gen(3), dtype=torch.float64)
    p = fam.probabilities(u, theta)
    assert p.shape == (1000,) and p.dtype == torch.float64
    assert abs(p.sum().item() - 1.0) < 1e-12
    assert p.min().item() >= 0.2 / 1000 - 1e-15


def test_equal_knots_give_exactly_uniform_and_zero_weights_fall_back_to_uniform():
    for combine in ("product", "sum"):
        fam = SamplerFamily(combine=combine, low=0.0, high=2.0)
        assert fam.uniform_params() == [1.0] * 10
        u = torch.rand(37, 2, generator=_gen(4), dtype=torch.float64)
        p = fam.probabilities(u, fam.uniform_params())
        assert (p == p[0]).all() and abs(p[0].item() - 1 / 37) < 1e-15
    zero = SamplerFamily().probabilities(torch.rand(8, 2, generator=_gen(5)), [0.0] * 10)
    assert torch.equal(zero, torch.full((8,), 1 / 8, dtype=torch.float64))


def test_lipschitz_bound_holds_empirically_and_is_tight():
    fam = SamplerFamily(features=("loss",), n_knots=5)
    for seed in range(3):
        theta = torch.rand(5, generator=_gen(10 + seed), dtype=torch.float64)
        bound = fam.lipschitz_bound(theta)
        assert bound <= fam.n_segments * (fam.high - fam.low)
        u = torch.rand(20000, generator=_gen(20 + seed), dtype=torch.float64)
        v = torch.where(torch.arange(20000) % 2 == 0,
                        torch.rand(20000, generator=_gen(30 + seed), dtype=torch.float64),
                        (u + 1e-3 * torch.randn(20000, generator=_gen(40 + seed), dtype=torch.float64))
                        .clamp(0, 1))
        keep = (u - v).abs() > 1e-9
        ratio = ((piecewise_linear(u, theta) - piecewise_linear(v, theta)).abs() / (u - v).abs())[keep]
        assert ratio.max().item() <= bound * (1 + 1e-9)
        assert ratio.max().item() >= 0.99 * bound
    two = SamplerFamily(n_knots=3)
    assert two.lipschitz_bounds([0.0, 1.0, 0.5, 1.0, 0.5, 0.0]) == [2.0, 1.0]
    assert two.lipschitz_bound([0.0, 1.0, 0.5, 1.0, 0.5, 0.0]) == 2.0


def test_family_fields_are_validated_and_round_trip():
    fam = SamplerFamily(features=["loss"], n_knots=4, combine="sum", low=0.1, high=2, floor=0.05)
    assert fam.features == ("loss",) and fam.n_params == 4 and fam.n_segments == 3
    assert fam.param_names == ["loss_0", "loss_1", "loss_2", "loss_3"]
    assert fam.bounds() == [(0.1, 2.0)] * 4
    assert SamplerFamily.from_dict(json.loads(json.dumps(fam.to_dict()))) == fam
    assert SamplerFamily().param_names[5] == "entropy_0"
    bad = [
        ({"n_knots": 1}, "n_knots"), ({"n_knots": 2.5}, "n_knots"), ({"low": -0.1}, "low"),
        ({"high": 0.0}, "high"), ({"floor": 1.0}, "floor"), ({"floor": -0.1}, "floor"),
        ({"combine": "max"}, "combine"), ({"features": ()}, "features"),
        ({"features": ("loss", "nope")}, "nope"), ({"features": ("loss", "loss")}, "repeat"),
        ({"high": math.inf}, "high"),
    ]
    for kwargs, word in bad:
        with pytest.raises(ValueError, match=word):
            SamplerFamily(**kwargs)
    with pytest.raises(ConfigError, match="colour"):
        SamplerFamily.from_dict({"colour": 1})
    fam = SamplerFamily()
    for theta, word in (([0.5] * 9, "expected 10"), ([0.5] * 9 + [NAN], "not finite"),
                        ([0.5] * 9 + [1.5], "outside")):
        with pytest.raises(ConfigError, match=word):
            fam.probabilities(torch.rand(3, 2, generator=_gen(6)), theta)


# ------------------------------------------------------------------------------------------- transforms
def test_cdf_of_continuous_data_is_uniform_and_monotone():
    values = torch.randn(5000, generator=_gen(7), dtype=torch.float64) * 3 + 1
    u = cdf(values)
    s = torch.sort(u).values
    grid = (torch.arange(5000, dtype=torch.float64) + 0.5) / 5000
    assert (s - grid).abs().max().item() < 1e-12  # mid-ranks: exactly (rank - 1/2) / N
    ks = torch.maximum((torch.arange(1, 5001) / 5000 - s).abs(), (torch.arange(5000) / 5000 - s).abs())
    assert ks.max().item() < 0.01
    order = torch.argsort(values)
    assert (u[order].diff() >= 0).all()
    assert u.min().item() > 0 and u.max().item() < 1


def test_cdf_ties_share_the_mid_rank_and_nan_maps_to_the_middle():
    u = cdf(torch.tensor([3.0, 1.0, 2.0, 2.0, NAN, 2.0]))
    # seen: 1 | 2 2 2 | 3 (N_seen = 5): 0.5/5, (1 + 1.5)/5, (4 + 0.5)/5
    assert torch.allclose(u, torch.tensor([0.9, 0.1, 0.5, 0.5, 0.5, 0.5], dtype=torch.float64))
    assert cdf(torch.full((4,), NAN)).tolist() == [0.5] * 4
    assert cdf(torch.tensor([7.0, 7.0])).tolist() == [0.5, 0.5]


def test_cgf_intervals_carry_equal_gradient_mass():
    n = 8000
    values = torch.randn(n, generator=_gen(8), dtype=torch.float64)
    # Gradient mass that grows with the value, as the loss' does.
    mass = torch.rand(n, generator=_gen(9), dtype=torch.float64) * values.exp()
    u = cgf(values, mass)
    bins = (u * 4).floor().clamp(max=3).long()
    share = torch.zeros(4, dtype=torch.float64).index_add_(0, bins, mass) / mass.sum()
    assert (share - 0.25).abs().max().item() < 0.02
    # cdf's equal-count bins carry very unequal mass here: cgf is a different transform.
    cdf_bins = (cdf(values) * 4).floor().clamp(max=3).long()
    cdf_share = torch.zeros(4, dtype=torch.float64).index_add_(0, cdf_bins, mass) / mass.sum()
    assert (cdf_share - 0.25).abs().max().item() > 0.1
    assert (u[torch.argsort(values)].diff() >= 0).all()


def test_cgf_hand_values_constant_mass_zero_mass_and_nan():
    values = torch.tensor([3.0, 1.0, 2.0, 2.0, NAN])
    mass = torch.tensor([1.0, 1.0, 0.0, 2.0, 5.0])  # the unseen sample's mass is ignored
    # seen mass 4: 1 -> 0.5/4, the tie at 2 -> (1 + 1)/4, 3 -> (3 + 0.5)/4
    assert cgf(values, mass).tolist() == [0.875, 0.125, 0.5, 0.5, 0.5]
    data = torch.randn(300, generator=_gen(11), dtype=torch.float64)
    data[::7] = data[1]  # some ties
    assert torch.allclose(cgf(data, torch.full((300,), 2.5)), cdf(data), atol=1e-12)
    assert torch.equal(cgf(data, torch.zeros(300)), cdf(data))
    assert torch.equal(cgf(data, torch.full((300,), NAN)), cdf(data))
    with pytest.raises(ValueError):
        cgf(data, -torch.ones(300))
    with pytest.raises(ValueError):
        cgf(data, None)


def test_none_transform_and_registry():
    assert none(torch.tensor([-1.0, 0.3, 2.0, NAN], dtype=torch.float64)).tolist() == [0.0, 0.3, 1.0, 0.5]
    assert TRANSFORMS.names() == ["cdf", "cgf", "none"]
    raw = torch.tensor([[1.0, 0.2], [2.0, NAN], [3.0, 0.9]], dtype=torch.float64)
    u = apply_transform(raw, "cdf", None)
    assert torch.allclose(u, torch.tensor([[1 / 6, 0.25], [0.5, 0.5], [5 / 6, 0.75]],
                                          dtype=torch.float64))
    with pytest.raises(ConfigError, match="cfg"):
        apply_transform(raw, "cfg")


# ------------------------------------------------------------------------------------------- features
def _crafted_stats() -> SampleStats:
    """5 samples, 4 classes, label 0; sample 4 never seen. Losses are set directly (with a tie)."""
    stats = SampleStats(5)
    big = 30.0
    others = torch.tensor([
        [0.0, 0.0, 0.0],     # E^r = 1
        [0.0, 0.0, -big],    # E^r ~ log 2 / log 3
        [0.0, -big, -big],   # E^r ~ 0
        [0.0, 0.0, -1.0],    # between log 2 / log 3 and 1
    ])
    logits = torch.cat([torch.zeros(4, 1), others], dim=1)
    losses = torch.tensor([0.3, 0.1, 0.2, 0.2])
    stats.record(torch.arange(4), logits, torch.zeros(4, dtype=torch.long), losses, step=1)
    return stats


def test_features_read_the_stats_with_nan_for_unseen():
    stats = _crafted_stats()
    assert FEATURES.names() == ["entropy", "grad_norm", "loss", "loss_ema", "margin", "p_true"]
    m = feature_matrix(stats, ("loss", "entropy", "p_true", "grad_norm", "loss_ema"))
    assert m.shape == (5, 5) and m.dtype == torch.float64
    assert m[4].isnan().all() and not m[:4].isnan().any()
    assert torch.allclose(m[:4, 0], torch.tensor([0.3, 0.1, 0.2, 0.2], dtype=torch.float64))
    assert torch.allclose(m[:4, 4], m[:4, 0])
    assert torch.allclose(m[:4, 2], stats.p_mean[:4].double())
    assert torch.allclose(feature_matrix(stats, ("margin",))[:4, 0], stats.margin[:4].double())
    with pytest.raises(ConfigError):
        feature_matrix(stats, ("loss", "margn"))


def test_card_probabilities_match_a_hand_computation():
    stats = _crafted_stats()
    fam = SamplerFamily(n_knots=3)  # S = 2, knots at 0, 1/2, 1
    theta = [0.0, 1.0, 0.5, 0.2, 0.6, 1.0]
    card = SamplerCard.create(fam, theta, transform="cdf")
    # loss cdf over 4 seen: 0.3 -> 0.875, 0.1 -> 0.125, 0.2 (tie) -> 0.5; unseen -> 0.5
    u_loss = [0.875, 0.125, 0.5, 0.5, 0.5]
    # entropy order: sample 2 < sample 1 < sample 3 < sample 0 -> 0.875, 0.375, 0.125, 0.625; unseen 0.5
    u_ent = [0.875, 0.375, 0.125, 0.625, 0.5]
    h_loss = [0.625, 0.25, 1.0, 1.0, 1.0]  # 0 -> 1 -> 0.5
    h_ent = [0.9, 0.5, 0.3, 0.7, 0.6]     # 0.2 -> 0.6 -> 1.0
    w = [a * b for a, b in zip(h_loss, h_ent)]
    expected = torch.tensor([x / sum(w) for x in w], dtype=torch.float64)
    u = transformed_features(stats, fam.features, "cdf")
    assert torch.allclose(u, torch.tensor([u_loss, u_ent], dtype=torch.float64).T)
    p = card.probabilities(stats)
    assert torch.allclose(p, expected, atol=1e-12)
    # cgf uses the gradient-norm proxy of the stats as its mass.
    cgf_card = SamplerCard.create(fam, theta, transform="cgf")
    raw = feature_matrix(stats, fam.features)
    mass = torch.nan_to_num(stats.grad_norm.double(), nan=0.0)
    u_cgf = torch.stack([cgf(raw[:, 0], mass), cgf(raw[:, 1], mass)], dim=1)
    assert torch.allclose(cgf_card.probabilities(stats), fam.probabilities(u_cgf, theta))


# ------------------------------------------------------------------------------------------- card
def _card() -> SamplerCard:
    fam = SamplerFamily(floor=0.1)
    params = [0.1 * (i % 10) for i in range(10)]
    return SamplerCard.create(fam, params, transform="cgf",
                              provenance={"dataset": "mnist1d", "objective": "val_acc", "value": 0.8})


def test_card_save_load_round_trip(tmp_path):
    card = _card()
    path = card.save(tmp_path / "sub" / "card.json")
    data = json.loads(path.read_text())
    assert data["schema"] == CARD_SCHEMA and data["features"] == ["loss", "entropy"]
    assert "created" in data["provenance"] and "swiftsampler" in data["provenance"]
    n = card.family_obj().n_knots  # the readable knots repeat the parameters feature by feature
    assert data["knots"]["loss"] == {"at": [j / (n - 1) for j in range(n)], "values": card.params[:n]}
    assert data["knots"]["entropy"]["values"] == card.params[n:]
    back = load_card(path)
    assert back == card and SamplerCard.load(path).family_obj() == card.family_obj()
    edited = {**data, "knots": {**data["knots"], "loss": {"at": data["knots"]["loss"]["at"],
                                                        "values": [0.0] * n}}}
    with pytest.raises(ConfigError, match="'knots' and 'params' disagree"):
        load_card(_write(tmp_path, edited))
    del data["knots"]  # a card without them (written before they existed) still loads
    assert load_card(_write(tmp_path, data)) == card
    assert back.family_obj().floor == 0.1
    assert not list(tmp_path.glob("sub/.*.tmp"))


def _write(tmp_path, data, name="card.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _mutated(**changes):
    data = _card().to_dict()
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


_DROP = object()


@pytest.mark.parametrize("data, word", [
    ("{not json", "not valid JSON"),
    ([1, 2], "JSON object"),
    (_mutated(schema=_DROP), "missing 'schema'"),
    (_mutated(schema="swiftsampler.sampler-card/2"), "unsupported schema"),
    (_mutated(features=["loss", "margin"]), "margin"),
    (_mutated(family={**_card().family, "features": ["loss", "margin"]}), "margin"),
    (_mutated(transform="rank"), "rank"),
    (_mutated(params=[0.5] * 9), "expected 10"),
    (_mutated(params=[0.5] * 11), "expected 10"),
    (json.dumps(_mutated(params=[NAN] + [0.5] * 9)), "not finite"),  # JSON with a bare NaN
    (json.dumps(_mutated(params=[0.5] * 9 + [math.inf])), "not finite"),
    (_mutated(params=[0.5] * 9 + [1.5]), "outside"),
    (_mutated(params=[0.5] * 9 + [-0.1]), "outside"),
    (_mutated(params=[0.5] * 9 + ["x"]), "numbers"),
    (_mutated(params=_DROP), "missing 'params'"),
    (_mutated(extra=1), "unknown key"),
    (_mutated(family={"n_knots": 1}), "n_knots"),
    (_mutated(features=["entropy", "loss"]), "differ"),
])
def test_bad_cards_raise_one_line_config_errors(tmp_path, data, word):
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=word) as info:
        load_card(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_card_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_card(tmp_path / "nope.json")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_card(tmp_path)
    with pytest.raises(ConfigError, match="JSON"):
        SamplerCard.create(SamplerFamily(), [0.5] * 10, provenance={"x": object()}).save(
            tmp_path / "c.json")
