"""Face-verification accuracy: is a pair of images the same identity?

A pair ``(a, b)`` of L2-normalised embeddings gets the cosine similarity ``sim = <e_a, e_b>``, and is
predicted "same" when ``sim > t`` for a threshold ``t``. The accuracy of the rule on ``P`` pairs with
ground truth ``same_i`` is

    acc(t) = (1 / P) * sum_i [ (sim_i > t) == same_i ].

The reported number follows the protocol of Labeled Faces in the Wild (Huang, Ramesh, Berg &
Learned-Miller, "Labeled Faces in the Wild: A Database for Studying Face Recognition in Unconstrained
Environments", UMass Amherst TR 07-49, 2007): the pairs are split into 10 folds; for each fold the
threshold is the one maximising ``acc`` on the other nine folds and the accuracy ``p_k`` is measured on
the held-out fold; the result is the mean ``mu = (1 / K) sum_k p_k``, reported with
``sigma = sqrt(sum_k (p_k - mu)^2 / (K - 1))`` and the standard error ``sigma / sqrt(K)``.
Pure torch / numpy; everything runs on the host in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from .errors import ConfigError

__all__ = ["VerificationResult", "best_threshold", "pair_similarities", "verification_accuracy"]

ArrayLike = Tensor | np.ndarray | Sequence[float]


def pair_similarities(embeddings: Tensor, pairs: Tensor) -> Tensor:
    """Cosine similarity of each pair: ``sim_p = <e_{a_p}, e_{b_p}>``.

    embeddings (N, D), pairs (P, 2) int64 indices into the embeddings -> (P,) float32, on the embeddings'
    device. The embeddings are meant to be L2-normalised already (as :meth:`ArcFaceModel.embed
    <swiftsampler.models.arcface.ArcFaceModel.embed>` returns them); they are normalised again here, a
    no-op for unit vectors, so that the result is a cosine whatever their norms.
    """
    if embeddings.dim() != 2:
        raise ValueError(f"pair_similarities needs embeddings (N, D), got {tuple(embeddings.shape)}")
    if pairs.dim() != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pair_similarities needs pairs (P, 2), got {tuple(pairs.shape)}")
    pairs = pairs.long().to(embeddings.device)
    e = F.normalize(embeddings.float(), dim=1)
    return (e[pairs[:, 0]] * e[pairs[:, 1]]).sum(dim=1)


def _as_arrays(similarities: ArrayLike, same: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Similarities as float64 and labels as bool numpy arrays of equal length ``P >= 1``."""
    if isinstance(similarities, Tensor):
        similarities = similarities.detach().cpu().double().numpy()
    if isinstance(same, Tensor):
        same = same.detach().cpu().numpy()
    sims = np.asarray(similarities, dtype=np.float64)
    labels = np.asarray(same)
    if sims.ndim != 1 or labels.shape != sims.shape:
        raise ValueError(
            f"need similarities (P,) and same (P,) of equal length, got {sims.shape} and {labels.shape}"
        )
    if sims.size == 0:
        raise ValueError("need at least one pair")
    if not np.isfinite(sims).all():
        raise ValueError("similarities must be finite")
    if labels.dtype != np.bool_:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("same must be boolean or 0/1")
        labels = labels.astype(np.bool_)
    return sims, labels


def _best_threshold(sims: np.ndarray, same: np.ndarray) -> float:
    """:func:`best_threshold` on validated float64 / bool arrays."""
    order = np.argsort(sims, kind="stable")
    values, inverse = np.unique(sims[order], return_inverse=True)
    k = values.size
    pos = np.bincount(inverse, weights=same[order], minlength=k)  # same pairs per unique value
    neg = np.bincount(inverse, minlength=k) - pos  # different pairs per unique value
    # Candidate i (0..k) predicts "same" for values[i:]; correct = same at or above + different below.
    pos_below = np.concatenate(([0.0], np.cumsum(pos)))
    neg_below = np.concatenate(([0.0], np.cumsum(neg)))
    correct = (pos_below[-1] - pos_below) + neg_below
    i = int(np.argmax(correct))  # first maximum = smallest threshold
    if i == 0:
        return float(values[0] - 1.0)
    if i == k:
        return float(values[-1] + 1.0)
    return float((values[i - 1] + values[i]) / 2.0)


def best_threshold(similarities: ArrayLike, same: ArrayLike) -> float:
    """The threshold ``t`` maximising the accuracy of ``same_pred = sim > t`` on the given pairs.

    similarities (P,), same (P,) bool or 0/1. With ``u_1 < ... < u_k`` the sorted unique similarities, the
    candidates are the midpoints ``(u_i + u_{i+1}) / 2`` and the two ends ``u_1 - 1`` (every given pair
    predicted same) and ``u_k + 1`` (every pair predicted different); between consecutive candidates
    the predictions on the given pairs do not change, so one of them is optimal. Accuracy at every
    candidate comes from cumulative sums over the sorted pairs: O(P log P). Ties are resolved by
    choosing the smallest threshold among the best. Computed in float64.
    """
    sims, labels = _as_arrays(similarities, same)
    return _best_threshold(sims, labels)


@dataclass(frozen=True)
class VerificationResult:
    """Result of :func:`verification_accuracy`.

    Attributes:
        accuracy: mean held-out accuracy over the folds, ``mu = (1 / K) sum_k p_k``.
        std: ``sigma = sqrt(sum_k (p_k - mu)^2 / (K - 1))`` over the folds (as in LFW); 0 for one fold.
        thresholds: the threshold chosen for each fold (on the other folds).
        folds: the number of folds ``K``.
        fold_accuracies: the held-out accuracy ``p_k`` of each fold.
    """

    accuracy: float
    std: float
    thresholds: list[float]
    folds: int
    fold_accuracies: list[float]

    @property
    def stderr(self) -> float:
        """Standard error of the mean accuracy, ``sigma / sqrt(K)`` (the number LFW asks to report)."""
        return self.std / math.sqrt(self.folds)


def verification_accuracy(similarities: ArrayLike, same: ArrayLike, folds: int = 10) -> VerificationResult:
    """K-fold verification accuracy (LFW protocol, Huang et al. 2007).

    similarities (P,), same (P,) bool or 0/1. The ``P`` pairs are split, in their given order, into
    ``folds`` contiguous folds (LFW lists its pairs fold by fold); when ``P`` is not divisible by
    ``folds`` the sizes are those of ``numpy.array_split`` (the first ``P mod K`` folds get one more
    pair). For each fold ``k`` the threshold ``t_k`` is :func:`best_threshold` on the other folds and
    ``p_k = acc(t_k)`` on fold ``k``; the result holds ``mu``, ``sigma`` (see
    :class:`VerificationResult`) and the thresholds.

    ``folds=1`` chooses the threshold on all pairs and measures it on the same pairs: an optimistic
    (training-set) accuracy, the best any single threshold achieves. Raises
    :class:`~swiftsampler.errors.ConfigError` unless ``1 <= folds <= P``.
    """
    sims, labels = _as_arrays(similarities, same)
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= sims.size:
        raise ConfigError(f"verification needs 1 <= folds <= number of pairs ({sims.size}), got {folds!r}")
    if folds == 1:
        t = _best_threshold(sims, labels)
        acc = float(((sims > t) == labels).mean())
        return VerificationResult(acc, 0.0, [t], 1, [acc])
    thresholds: list[float] = []
    accuracies: list[float] = []
    for test in np.array_split(np.arange(sims.size), folds):
        train = np.ones(sims.size, dtype=np.bool_)
        train[test] = False
        t = _best_threshold(sims[train], labels[train])
        thresholds.append(t)
        accuracies.append(float(((sims[test] > t) == labels[test]).mean()))
    acc = np.asarray(accuracies)
    return VerificationResult(float(acc.mean()), float(acc.std(ddof=1)), thresholds, folds, accuracies)
