"""ArcFace: margin logits against hand-computed values, the cosine head, the model, a short training."""

import math

import pytest
import torch
import torch.nn.functional as F

from swiftsampler.errors import ConfigError
from swiftsampler.models import create_model
from swiftsampler.models.arcface import ArcFaceModel, CosineHead, arcface_logits
from swiftsampler.verification import pair_similarities, verification_accuracy


def test_target_logit_is_scaled_cos_theta_plus_margin():
    cos = torch.tensor([[0.6, 0.3, -0.2]])
    logits = arcface_logits(cos, torch.tensor([0]), scale=2.0, margin=0.5)
    # theta = arccos(0.6): cos(theta + m) = cos(theta)cos(m) - sin(theta)sin(m), sin(theta) = 0.8.
    expected = 2.0 * (0.6 * math.cos(0.5) - 0.8 * math.sin(0.5))
    assert logits[0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert logits[0, 0].item() == pytest.approx(2.0 * math.cos(math.acos(0.6) + 0.5), abs=1e-6)
    # Non-target logits are s * cos, unchanged.
    assert logits[0, 1].item() == pytest.approx(0.6, abs=1e-7)
    assert logits[0, 2].item() == pytest.approx(-0.4, abs=1e-7)


def test_fallback_below_cos_pi_minus_m_and_monotonicity():
    m, s = 0.5, 3.0
    th = math.cos(math.pi - m)  # -0.8776: below it theta + m would pass pi
    cos = torch.tensor([[-0.9, 0.1], [0.1, -0.95]])
    logits = arcface_logits(cos, torch.tensor([0, 1]), scale=s, margin=m)
    assert -0.9 < th and -0.95 < th  # fallback branch
    assert logits[0, 0].item() == pytest.approx(s * (-0.9 - m * math.sin(m)), abs=1e-5)
    assert logits[1, 1].item() == pytest.approx(s * (-0.95 - m * math.sin(m)), abs=1e-5)
    assert logits[0, 1].item() == pytest.approx(s * 0.1, abs=1e-6)
    # Just above the switch, the usual cos(theta + m) branch (close to cos(pi) = -1).
    above = arcface_logits(torch.tensor([[th + 1e-3, 0.0]]), torch.tensor([0]), scale=1.0, margin=m)
    assert above[0, 0].item() == pytest.approx(math.cos(math.acos(th + 1e-3) + m), abs=1e-5)
    # The target logit is increasing in cos(theta_y) over the whole range.
    grid = torch.linspace(-1.0, 1.0, 2001).unsqueeze(1)
    target = arcface_logits(torch.cat([grid, torch.zeros_like(grid)], 1), torch.zeros(2001, dtype=torch.long),
                            scale=1.0, margin=m)[:, 0]
    assert bool((target[1:] >= target[:-1]).all())
    assert bool(torch.isfinite(target).all())


def test_zero_margin_gives_scaled_cosines():
    torch.manual_seed(0)
    cos = torch.rand(5, 4) * 2 - 1
    targets = torch.tensor([0, 1, 2, 3, 0])
    torch.testing.assert_close(arcface_logits(cos, targets, scale=7.0, margin=0.0), 7.0 * cos)


def test_gradient_flows_and_half_input_gives_float32():
    torch.manual_seed(0)
    cos = (torch.rand(6, 5) * 1.8 - 0.9).requires_grad_()
    targets = torch.tensor([0, 1, 2, 3, 4, 0])
    F.cross_entropy(arcface_logits(cos, targets, scale=8.0, margin=0.3), targets).backward()
    assert cos.grad is not None and bool(torch.isfinite(cos.grad).all())
    assert bool((cos.grad != 0).all())
    # Cross-entropy pushes the target cosines up: negative gradient at every target.
    assert bool((cos.grad.gather(1, targets.unsqueeze(1)) < 0).all())
    # Gradients stay finite at the ends cos = +-1.
    ends = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], requires_grad=True)
    arcface_logits(ends, torch.tensor([0, 0])).sum().backward()
    assert bool(torch.isfinite(ends.grad).all())

    half = arcface_logits(torch.tensor([[0.6, 0.2]], dtype=torch.float16), torch.tensor([0]), 2.0, 0.5)
    assert half.dtype == torch.float32
    assert half[0, 0].item() == pytest.approx(2.0 * (0.6 * math.cos(0.5) - 0.8 * math.sin(0.5)), abs=2e-3)


def test_margin_increases_cross_entropy():
    torch.manual_seed(1)
    cos = torch.rand(8, 6) * 1.6 - 0.8
    targets = torch.randint(0, 6, (8,))
    plain = F.cross_entropy(arcface_logits(cos, targets, scale=16.0, margin=0.0), targets)
    with_margin = F.cross_entropy(arcface_logits(cos, targets, scale=16.0, margin=0.5), targets)
    assert with_margin.item() > plain.item()


@pytest.mark.parametrize("scale, margin", [(0.0, 0.5), (-1.0, 0.5), (float("inf"), 0.5), (64.0, -0.1),
                                           (64.0, math.pi / 2), (64.0, float("nan")), (True, 0.5),
                                           ("64", 0.5)])
def test_bad_scale_or_margin_raise_config_error(scale, margin):
    with pytest.raises(ConfigError):
        arcface_logits(torch.zeros(1, 2), torch.tensor([0]), scale=scale, margin=margin)
    with pytest.raises(ConfigError):
        ArcFaceModel(torch.nn.Identity(), 2, 3, scale=scale, margin=margin)


def test_cosine_head_matches_hand_formula():
    head = CosineHead(2, 3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, -3.0]]))
    cos = head(torch.tensor([[3.0, 4.0], [-1.0, 0.0]]))
    expected = torch.tensor([[0.6, 0.8, -7 / (5 * math.sqrt(2))], [-1.0, 0.0, 1 / math.sqrt(2)]])
    torch.testing.assert_close(cos, expected)


def test_cosine_head_range_and_init():
    torch.manual_seed(0)
    head = CosineHead(64, 200)
    assert head.weight.shape == (200, 64)
    assert head.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert abs(head.weight.mean().item()) < 1e-3
    cos = head(torch.randn(50, 64) * 100)
    assert cos.shape == (50, 200)
    assert bool((cos.abs() <= 1.0).all())
    # Parallel features give cosine 1 (to rounding), antiparallel -1.
    same = head(torch.cat([head.weight[:1] * 5, -head.weight[:1]]).detach())
    assert same[0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert same[1, 0].item() == pytest.approx(-1.0, abs=1e-6)
    with pytest.raises(ConfigError):
        CosineHead(0, 3)


def test_arcface_model_shapes_embed_and_attributes():
    torch.manual_seed(0)
    backbone = create_model("mlp", 8, (3, 4), width=16)  # a Classifier whose head is the embedding layer
    model = ArcFaceModel(backbone, 8, 5, scale=32.0, margin=0.4)
    assert model.num_classes == 5 and model.feature_dim == 8
    assert model.scale == 32.0 and model.margin == 0.4
    x = torch.randn(7, 3, 4)
    cos = model(x)
    assert cos.shape == (7, 5) and bool((cos.abs() <= 1).all())
    feats = model.forward_features(x)
    assert feats.shape == (7, 8)
    torch.testing.assert_close(model.head(feats), cos)
    emb = model.embed(x)
    assert emb.shape == (7, 8) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(7))
    torch.testing.assert_close(emb, F.normalize(feats, dim=1))
    targets = torch.randint(0, 5, (7,))
    torch.testing.assert_close(model.margin_logits(cos, targets), arcface_logits(cos, targets, 32.0, 0.4))
    with pytest.raises(ConfigError):
        ArcFaceModel(backbone, 8, 1)


def _clusters(gen, n_per, centres):
    x = torch.cat([c + 0.15 * torch.randn(n_per, 2, generator=gen) for c in centres])
    y = torch.arange(len(centres)).repeat_interleave(n_per)
    return x, y


def test_short_training_separates_identities():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    x_train, y_train = _clusters(gen, 32, centres)
    x_test, y_test = _clusters(gen, 20, centres)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = ArcFaceModel(create_model("mlp", 8, (2,), width=32), 8, 4, scale=16.0, margin=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def pair_stats():
        with torch.no_grad():
            emb = model.embed(x_test)
        i, j = torch.triu_indices(len(x_test), len(x_test), offset=1)
        pairs = torch.stack([i, j], 1)
        sims = pair_similarities(emb, pairs)
        same = y_test[i] == y_test[j]
        return sims, same

    sims0, same0 = pair_stats()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is fastest and immune to a busy machine
    try:
        for _ in range(200):
            cos = model(x_train)
            loss = F.cross_entropy(model.margin_logits(cos, y_train), y_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    sims, same = pair_stats()
    gap_before = sims0[same0].mean() - sims0[~same0].mean()
    gap = sims[same].mean() - sims[~same].mean()
    assert gap.item() > gap_before.item()
    assert sims[same].mean().item() > 0.8 and sims[~same].mean().item() < 0.2
    # Pairs are not fold-ordered here; shuffle them so every fold mixes same and different pairs.
    perm = torch.randperm(len(sims), generator=gen)
    result = verification_accuracy(sims[perm], same[perm], folds=10)
    assert result.accuracy > 0.9
