"""Verification accuracy: best threshold and the LFW k-fold protocol against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from swiftsampler.errors import ConfigError
from swiftsampler.verification import (
    VerificationResult,
    best_threshold,
    pair_similarities,
    verification_accuracy,
)


def test_pair_similarities_are_cosines():
    emb = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])
    pairs = torch.tensor([[0, 1], [1, 2], [0, 0], [2, 0]])
    torch.testing.assert_close(pair_similarities(emb, pairs), torch.tensor([0.6, -0.8, 1.0, 0.0]))
    # Unnormalised inputs give the same cosines.
    torch.testing.assert_close(pair_similarities(emb * torch.tensor([[2.0], [3.0], [0.5]]), pairs),
                               torch.tensor([0.6, -0.8, 1.0, 0.0]))
    with pytest.raises(ValueError):
        pair_similarities(emb, torch.tensor([0, 1]))


def test_best_threshold_separable():
    sims = torch.tensor([0.9, 0.8, 0.3, 0.2])
    same = torch.tensor([1, 1, 0, 0])
    t = best_threshold(sims, same)
    assert t == pytest.approx(0.55, abs=1e-6)  # midpoint of 0.3 and 0.8
    result = verification_accuracy(sims, same, folds=1)
    assert result.accuracy == 1.0 and result.thresholds == [t] and result.std == 0.0
    # Order of the pairs does not matter; bool labels work as well.
    assert best_threshold(sims.flip(0), same.flip(0).bool()) == t


def test_best_threshold_with_unavoidable_error_and_ties():
    # sims 0.9 same, 0.8 diff, 0.3 same, 0.2 diff. Candidates (sim > t predicts same):
    #   t < 0.2: 2 correct; t = 0.25: 3 (only 0.8 wrong); t = 0.55: 2; t = 0.85: 3 (only 0.3 wrong);
    #   t > 0.9: 2. Tie between 0.25 and 0.85 -> the smaller, 0.25; accuracy 3/4.
    sims, same = [0.9, 0.8, 0.3, 0.2], [True, False, True, False]
    assert best_threshold(sims, same) == pytest.approx(0.25)
    result = verification_accuracy(sims, same, folds=1)
    assert result.accuracy == 0.75 and result.thresholds[0] == pytest.approx(0.25)
    # Duplicate similarities with both labels: nothing separates them; the two ends tie -> lower end.
    assert best_threshold([0.5, 0.5], [1, 0]) == pytest.approx(-0.5)


def test_best_threshold_ends():
    # All pairs the same identity: predict all same -> below the smallest similarity (u_1 - 1).
    assert best_threshold([0.2, 0.7, 0.4], [1, 1, 1]) == pytest.approx(0.2 - 1.0)
    # All different: above the largest (u_k + 1).
    assert best_threshold([0.2, 0.7, 0.4], [0, 0, 0]) == pytest.approx(0.7 + 1.0)


def _brute_force_threshold(sims, same):
    values = np.unique(sims)
    candidates = [values[0] - 1.0, *((values[:-1] + values[1:]) / 2), values[-1] + 1.0]
    accs = [np.mean((sims > t) == same) for t in candidates]
    return candidates[int(np.argmax(accs))]  # first maximum: smallest threshold


def test_best_threshold_matches_brute_force_and_array_split_folds():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 40))
        sims = np.round(rng.uniform(-1, 1, n), 1)  # rounding makes many ties
        same = rng.random(n) < 0.5
        assert best_threshold(sims, same) == pytest.approx(_brute_force_threshold(sims, same))
    # k-fold with P not divisible by folds: numpy.array_split sizes (4, 3, 3 for P = 10, K = 3).
    sims = np.round(rng.uniform(-1, 1, 10), 1)
    same = rng.random(10) < 0.5
    expected_accs, expected_ts = [], []
    for test in np.array_split(np.arange(10), 3):
        train = np.setdiff1d(np.arange(10), test)
        t = _brute_force_threshold(sims[train], same[train])
        expected_ts.append(t)
        expected_accs.append(np.mean((sims[test] > t) == same[test]))
    result = verification_accuracy(torch.tensor(sims), torch.tensor(same), folds=3)
    assert result.thresholds == pytest.approx(expected_ts)
    assert result.fold_accuracies == pytest.approx(expected_accs)
    assert result.accuracy == pytest.approx(np.mean(expected_accs))


def test_k_fold_hand_example():
    # 4 folds of 2 pairs: (similarity, same).
    #   fold 0: (0.9, 1), (0.1, 0)   fold 1: (0.8, 1), (0.2, 0)
    #   fold 2: (0.7, 1), (0.3, 0)   fold 3: (0.35, 1), (0.6, 0)   <- fold 3 is inverted
    sims = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.35, 0.6]
    same = [1, 0, 1, 0, 1, 0, 1, 0]
    result = verification_accuracy(sims, same, folds=4)
    # Fold 0 held out: train sorted 0.2d 0.3d 0.35s 0.6d 0.7s 0.8s; 5/6 correct at t = 0.325 and at
    #   t = 0.65 -> 0.325 (smallest). Test: 0.9 > t same ok, 0.1 diff ok -> 1.
    # Fold 1: train 0.1d 0.3d 0.35s 0.6d 0.7s 0.9s -> t = 0.325; test 0.8 ok, 0.2 ok -> 1.
    # Fold 2: train 0.1d 0.2d 0.35s 0.6d 0.8s 0.9s -> t = (0.2 + 0.35) / 2 = 0.275;
    #   test 0.7 ok, 0.3 > 0.275 predicted same but different -> 1/2.
    # Fold 3: train 0.1d 0.2d 0.3d 0.7s 0.8s 0.9s separable -> t = 0.5; test 0.35 and 0.6 both wrong -> 0.
    assert result.thresholds == pytest.approx([0.325, 0.325, 0.275, 0.5])
    assert result.fold_accuracies == [1.0, 1.0, 0.5, 0.0]
    mean = (1 + 1 + 0.5 + 0) / 4
    assert result.accuracy == pytest.approx(0.625)
    sigma = math.sqrt(sum((p - mean) ** 2 for p in (1, 1, 0.5, 0)) / 3)
    assert result.std == pytest.approx(sigma)
    assert result.stderr == pytest.approx(sigma / 2)
    assert result.folds == 4
    assert isinstance(result, VerificationResult)
    with pytest.raises(AttributeError):
        result.accuracy = 1.0  # frozen


def test_folds_one_is_optimistic_training_accuracy():
    sims = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.35, 0.6]
    same = [1, 0, 1, 0, 1, 0, 1, 0]
    result = verification_accuracy(sims, same, folds=1)
    # Best single threshold on all 8: t = 0.325 (0.6 wrong) or 0.65 (0.35 wrong) -> 7/8 at 0.325.
    assert result.accuracy == pytest.approx(7 / 8)
    assert result.thresholds == pytest.approx([0.325])
    assert result.accuracy >= verification_accuracy(sims, same, folds=4).accuracy


@pytest.mark.parametrize("folds", [0, -1, 9, 2.0, True])
def test_bad_folds_raise_config_error(folds):
    with pytest.raises(ConfigError):
        verification_accuracy([0.1] * 8, [0, 1] * 4, folds=folds)


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError):
        best_threshold([0.1, 0.2], [1])
    with pytest.raises(ValueError):
        best_threshold([], [])
    with pytest.raises(ValueError):
        best_threshold([0.1, float("nan")], [1, 0])
    with pytest.raises(ValueError):
        best_threshold([0.1, 0.2], [1, 2])


def test_random_similarities_give_chance_accuracy():
    gen = torch.Generator().manual_seed(0)
    sims = torch.rand(4000, generator=gen) * 2 - 1
    same = torch.rand(4000, generator=gen) < 0.5
    result = verification_accuracy(sims, same)
    assert result.folds == 10 and len(result.thresholds) == 10
    assert abs(result.accuracy - 0.5) < 0.04
