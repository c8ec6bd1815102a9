"""Per-sample statistics: formulas against hand-computed values, scatter semantics, state."""

import math

import torch

from swiftsampler.stats import (
    SampleStats,
    grad_norm_proxy,
    probability_margin,
    renormed_entropy,
    true_class_prob,
)


def test_true_class_prob_and_grad_norm_match_hand_computation():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = [1/4, 3/4]
    targets = torch.tensor([0])
    assert true_class_prob(logits, targets).item() == torch.tensor(0.25).item()
    # softmax - onehot = [-3/4, 3/4] -> norm 3/4 * sqrt(2)
    assert abs(grad_norm_proxy(logits, targets).item() - 0.75 * math.sqrt(2)) < 1e-6


def test_renormed_entropy_hand_values():
    # Label 0; the other three classes have probabilities in ratio 1:1:2 -> q = [1/4, 1/4, 1/2].
    logits = torch.log(torch.tensor([[5.0, 1.0, 1.0, 2.0]]))
    expected = -(0.25 * math.log(0.25) * 2 + 0.5 * math.log(0.5)) / math.log(3)
    assert abs(renormed_entropy(logits, torch.tensor([0])).item() - expected) < 1e-6
    # Mass spread evenly over the other classes -> 1, whatever the labelled class gets.
    even = torch.log(torch.tensor([[0.1, 0.3, 0.3, 0.3]]))
    assert abs(renormed_entropy(even, torch.tensor([0])).item() - 1.0) < 1e-6
    # Confidently wrong (all other mass on one class) -> about 0.
    wrong = torch.tensor([[0.0, 20.0, 0.0, 0.0]])
    assert renormed_entropy(wrong, torch.tensor([0])).item() < 1e-6
    # Two classes: a single other class, defined as 0.
    assert renormed_entropy(torch.tensor([[1.0, 2.0]]), torch.tensor([0])).item() == 0.0


def test_record_sets_last_values_counts_and_running_means():
    stats = SampleStats(5, ema_decay=0.5)
    logits = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])
    stats.record(torch.tensor([1, 3]), logits, torch.tensor([0, 1]), torch.tensor([2.0, 4.0]),
                 step=7)
    assert stats.loss[[1, 3]].tolist() == [2.0, 4.0]
    assert stats.loss[[0, 2, 4]].isnan().all()
    assert stats.seen.tolist() == [0, 1, 0, 1, 0]
    assert stats.last_step.tolist() == [-1, 7, -1, 7, -1]
    assert torch.allclose(stats.p_mean[[1, 3]], torch.tensor([0.5, 0.75]))
    # EMA starts at the first loss, then ema <- 0.5 ema + 0.5 loss.
    stats.record(torch.tensor([1]), logits[:1], torch.tensor([0]), torch.tensor([6.0]), step=8)
    assert stats.loss_ema[1].item() == 0.5 * 2.0 + 0.5 * 6.0
    assert stats.loss_ema[3].item() == 4.0
    assert stats.seen[1].item() == 2
    assert abs(stats.p_var[1].item()) < 1e-7  # p was 0.5 both times


def test_repeated_indices_average_last_values_and_add_counts():
    stats = SampleStats(3)
    logits = torch.zeros(3, 2)
    stats.record(torch.tensor([2, 2, 0]), logits, torch.tensor([0, 0, 1]),
                 torch.tensor([1.0, 3.0, 5.0]), step=0)
    assert stats.loss[2].item() == 2.0
    assert stats.seen[2].item() == 2.0


def test_credit_weights_the_mean_and_the_counts():
    stats = SampleStats(2)
    logits = torch.zeros(2, 2)
    stats.record(torch.tensor([0, 0]), logits, torch.tensor([0, 1]), torch.tensor([1.0, 4.0]),
                 step=0, credit=torch.tensor([0.75, 0.25]))
    assert abs(stats.loss[0].item() - (0.75 * 1.0 + 0.25 * 4.0)) < 1e-6
    assert abs(stats.seen[0].item() - 1.0) < 1e-6


def test_state_round_trip():
    a = SampleStats(4)
    a.record(torch.tensor([0, 3]), torch.randn(2, 3, generator=torch.Generator().manual_seed(0)),
             torch.tensor([1, 2]), torch.tensor([0.5, 1.5]), step=3)
    b = SampleStats(4)
    b.load_state_dict(a.state_dict())
    for name, value in a.state_dict().items():
        assert torch.equal(value.nan_to_num(-9), getattr(b, name).nan_to_num(-9)), name


def test_probability_margin_hand_values():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]]))
    margin = probability_margin(logits, torch.tensor([0, 0]))
    assert torch.allclose(margin, torch.tensor([0.5 - 0.3, 0.1 - 0.6]))
    stats = SampleStats(2)
    stats.record(torch.tensor([0, 1]), logits, torch.tensor([0, 0]), torch.ones(2), step=0)
    assert torch.allclose(stats.margin, margin)


def test_fused_measure_matches_the_feature_functions():
    """:meth:`SampleStats.measure` shares one softmax between the features; it must give what each
    feature function gives, for 2 and 10 classes, confident and uncertain logits, and sequences."""
    g = torch.Generator().manual_seed(0)
    for num_classes in (2, 10):
        scale = torch.tensor([0.1, 3.0, 30.0]).repeat(22)[:64, None]  # uncertain to confident
        logits = torch.randn(64, num_classes, generator=g) * scale
        targets = torch.randint(num_classes, (64,), generator=g)
        losses = torch.rand(64, generator=g)
        got = SampleStats.measure(logits, targets, losses)
        expected = torch.stack([losses, renormed_entropy(logits, targets), grad_norm_proxy(logits, targets),
                                probability_margin(logits, targets), true_class_prob(logits, targets)], 1)
        assert got.shape == (64, 5) and got.dtype == torch.float32
        torch.testing.assert_close(got, expected, atol=2e-6, rtol=1e-5)
    seq_logits = torch.randn(4, 7, 10, generator=g)
    seq_targets = torch.randint(10, (4, 7), generator=g)
    got = SampleStats.measure(seq_logits, seq_targets, torch.zeros(4))
    torch.testing.assert_close(got[:, 1], renormed_entropy(seq_logits, seq_targets))
    torch.testing.assert_close(got[:, 3], probability_margin(seq_logits, seq_targets), atol=2e-6, rtol=1e-5)
