"""Synthetic label noise, with the mask of corrupted samples kept.

Two standard models (see e.g. Patrini et al., "Making deep neural networks robust to label noise: a
loss correction approach", CVPR 2017):

* **symmetric** (uniform) noise: a fraction ``rate`` of all samples gets a label drawn uniformly
  from the *other* ``C - 1`` classes. Every selected label therefore changes; ``rate`` is the exact
  corrupted fraction (up to rounding) and the noise transition matrix is
  ``T[i, j] = rate / (C - 1)`` for ``j != i``.
* **asymmetric** (class-dependent) noise: within every class ``c`` that the flip map sends to
  another class, a fraction ``rate`` of its samples is relabelled ``map[c]``; other classes are
  untouched, so the overall corrupted fraction is below ``rate``. Without a map the cyclic flip
  ``c -> (c + 1) mod C`` is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from ..errors import ConfigError
from .split import _check_labels

NOISE_KINDS = ("symmetric", "asymmetric")


def cyclic_map(num_classes: int) -> dict[int, int]:
    """The default asymmetric flip ``c -> (c + 1) mod C``."""
    return {c: (c + 1) % num_classes for c in range(num_classes)}


def inject_label_noise(
    labels: Tensor,
    rate: float,
    kind: str,
    num_classes: int,
    generator: torch.Generator,
    asymmetric_map: Mapping[int, int] | None = None,
) -> tuple[Tensor, Tensor]:
    """Corrupt ``labels``; return ``(noisy, mask)`` where ``mask == (noisy != labels)``.

    ``symmetric``: exactly ``round(rate * N)`` indices, chosen uniformly without replacement, each
    get ``(y + u) mod C`` with ``u`` uniform in ``{1, ..., C - 1}``, i.e. a uniformly random
    different class. ``asymmetric``: for each class ``c`` with ``map[c] != c`` (in increasing order
    of ``c``), exactly ``round(rate * n_c)`` of its samples, chosen uniformly, are relabelled
    ``map[c]``; samples are chosen by their *clean* label, so flips never chain.

    All draws come from ``generator`` (a CPU generator); the input is not modified and the outputs
    are on ``labels.device`` (labels as ``int64``). ``rate == 0`` returns an unchanged copy and an
    all-false mask.
    """
    _check_labels(labels)
    if not (isinstance(rate, (int, float)) and not isinstance(rate, bool)
            and math.isfinite(rate) and 0 <= rate < 1):
        raise ConfigError(f"noise rate must be in [0, 1), got {rate!r}")
    if kind not in NOISE_KINDS:
        raise ConfigError(f"noise type must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    clean = labels.detach().to("cpu", torch.int64)
    if len(clean) and (int(clean.min()) < 0 or int(clean.max()) >= num_classes):
        raise ConfigError(f"labels must lie in [0, {num_classes}) for noise injection")
    noisy = clean.clone()
    if rate > 0:
        if kind == "symmetric":
            _symmetric(clean, noisy, rate, num_classes, generator)
        else:
            flip = cyclic_map(num_classes) if asymmetric_map is None else dict(asymmetric_map)
            _asymmetric(clean, noisy, rate, num_classes, flip, generator)
    mask = noisy != clean
    return noisy.to(labels.device), mask.to(labels.device)


def _symmetric(clean: Tensor, noisy: Tensor, rate: float, num_classes: int,
               generator: torch.Generator) -> None:
    k = round(rate * len(clean))
    if k == 0:
        return
    if num_classes < 2:
        raise ConfigError("symmetric label noise needs at least 2 classes")
    idx = torch.randperm(len(clean), generator=generator)[:k]
    shift = torch.randint(1, num_classes, (k,), generator=generator)
    noisy[idx] = (clean[idx] + shift) % num_classes


def _asymmetric(clean: Tensor, noisy: Tensor, rate: float, num_classes: int,
                flip: dict[int, int], generator: torch.Generator) -> None:
    for src, dst in flip.items():
        if not (0 <= int(src) < num_classes and 0 <= int(dst) < num_classes):
            raise ConfigError(
                f"asymmetric noise map entry {src} -> {dst} is outside [0, {num_classes})"
            )
    for src in sorted(flip):
        dst = flip[src]
        if dst == src:
            continue
        members = torch.nonzero(clean == src, as_tuple=True)[0]
        k = round(rate * len(members))
        if k == 0:
            continue
        chosen = members[torch.randperm(len(members), generator=generator)[:k]]
        noisy[chosen] = dst
