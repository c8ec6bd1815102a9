"""Batched augmentations: the protocol, mixed batches, composition, and the registry.

An augmentation transforms a whole batch at once, on the batch's device, drawing every random number
from a ``torch.Generator`` (a CPU generator: per-sample parameters are drawn on the host and moved to
the device, so a seed gives the same augmentation on CPU and GPU and no host sync is needed).

Mixing augmentations (mixup, cutmix, RICAP) build each output sample from several input samples. The
result is a :class:`Mixed` batch: ``sources[i, k]`` is the position (in the original batch) of the
k-th sample mixed into output ``i`` and ``weights[i, k]`` its share (rows sum to 1: the mixing weight for
mixup, the area for cutmix and RICAP). The rule used everywhere else follows from it:

* the loss of output ``i`` is ``sum_k weights[i, k] * CE(logits_i, y[sources[i, k]])``;
* each source index is credited with its share: the per-sample statistics of sample ``j`` record the
  loss of *its own label* on the mixed input, weighted by its share (:meth:`SampleStats.record`'s
  ``credit``). This works with every sampler.

Augmentations compose left to right (``standard,ricap``): sources and weights of successive mixing
steps multiply out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import Registry

KINDS = ("image", "signal", "vector")


@dataclass(frozen=True)
class AugmentContext:
    """What an augmentation may know about the data it will see.

    Attributes:
        kind: "image" (B, C, H, W), "signal" (B, C, L) or "vector" (B, D).
        low, high: (C,) per-channel minimum and maximum of the training inputs, to map standardised
            values to [0, 1] for colour operations and back.
    """

    kind: str
    low: Tensor | None = None
    high: Tensor | None = None

    @staticmethod
    def from_inputs(kind: str, inputs: Tensor) -> AugmentContext:
        """Per-channel range of ``inputs`` (N, C, ...) (vectors: one channel)."""
        if kind == "vector":
            return AugmentContext(kind, inputs.min().reshape(1).cpu(), inputs.max().reshape(1).cpu())
        flat = inputs.transpose(0, 1).reshape(inputs.shape[1], -1)
        return AugmentContext(kind, flat.min(dim=1).values.cpu(), flat.max(dim=1).values.cpu())


@dataclass(frozen=True)
class Mixed:
    """A (possibly) mixed batch.

    Attributes:
        inputs: (B, ...) augmented inputs.
        sources: (B, K) int64 positions in the original batch of the samples mixed into each output.
        weights: (B, K) float shares; every row sums to 1.

    With one source an output is its own sample (K = 1: sources ``arange(B)``, shares 1, as
    :meth:`identity` makes for every augmentation that does not mix).
    """

    inputs: Tensor
    sources: Tensor
    weights: Tensor

    @property
    def mixes(self) -> bool:
        """Whether outputs mix samples (K > 1)."""
        return self.sources.shape[1] > 1

    @staticmethod
    def identity(inputs: Tensor) -> Mixed:
        b = inputs.shape[0]
        return Mixed(inputs, torch.arange(b, device=inputs.device).unsqueeze(1),
                     torch.ones(b, 1, device=inputs.device))


class Augmentation:
    """Base class: ``__call__(x, generator) -> Mixed``.

    Subclasses list the data ``kinds`` they support and implement :meth:`apply`; non-mixing ones
    return ``Mixed.identity(new_inputs)``. Constructors take the :class:`AugmentContext` first, then
    keyword-only parameters, validated eagerly (ValueError naming the parameter).
    """

    kinds: ClassVar[tuple[str, ...]] = KINDS

    def __init__(self, context: AugmentContext) -> None:
        if context.kind not in self.kinds:
            raise ValueError(f"supports {'/'.join(self.kinds)} data, not {context.kind} data")
        self.context = context

    def apply(self, x: Tensor, generator: torch.Generator) -> Mixed:
        raise NotImplementedError

    def __call__(self, x: Tensor, generator: torch.Generator) -> Mixed:
        return self.apply(x, generator)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if k != "context" and not k.startswith("_")}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


class Compose:
    """Apply augmentations left to right, combining their mixing."""

    def __init__(self, steps: Sequence[Augmentation]) -> None:
        self.steps = list(steps)

    def __call__(self, x: Tensor, generator: torch.Generator) -> Mixed:
        mixed = Mixed.identity(x)
        for step in self.steps:
            out = step(mixed.inputs, generator)
            # Output i takes out.weights[i, k] of intermediate sample out.sources[i, k], which itself
            # is mixed.weights[s, j] of original sample mixed.sources[s, j].
            sources = mixed.sources[out.sources]  # (B, K2, K1)
            weights = out.weights.unsqueeze(2) * mixed.weights[out.sources]
            mixed = Mixed(out.inputs, sources.flatten(1), weights.flatten(1))
        return mixed

    def __bool__(self) -> bool:
        return bool(self.steps)

    def __repr__(self) -> str:
        return f"Compose({self.steps!r})"


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")


def rand(shape: Sequence[int] | int, generator: torch.Generator, device: torch.device | str,
         low: float = 0.0, high: float = 1.0) -> Tensor:
    """Uniform ``[low, high)`` numbers drawn on the host generator, moved to ``device``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    u = torch.rand(shape, generator=generator)
    return (low + (high - low) * u).to(device, non_blocking=True)


def randint(low: int, high: int, shape: Sequence[int] | int, generator: torch.Generator,
            device: torch.device | str) -> Tensor:
    """Integers in ``[low, high)`` drawn on the host generator, moved to ``device``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return torch.randint(low, high, shape, generator=generator).to(device, non_blocking=True)


def create_augmentation(names: Sequence[str], context: AugmentContext,
                        params: dict[str, Any] | None = None) -> Compose:
    """``Compose`` of the named augmentations (``"none"`` is skipped).

    ``params`` maps ``"name.param"`` to a value, e.g. ``{"mixup.alpha": 1.0}``. Unknown names,
    parameters and unsupported data kinds raise :class:`ConfigError`.
    """
    params = dict(params or {})
    per_name: dict[str, dict[str, Any]] = {}
    for key, value in params.items():
        name, sep, param = key.partition(".")
        if not sep:
            raise ConfigError(f"--augment-param {key!r}: expected NAME.PARAM=VALUE")
        if name not in names:
            raise ConfigError(f"--augment-param {key!r}: augmentation {name!r} is not in --augment")
        per_name.setdefault(name, {})[param] = value
    steps = []
    for name in names:
        if name == "none":
            continue
        try:
            steps.append(AUGMENTATIONS.create(name, context, **per_name.get(name, {})))
        except ConfigError:
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"augmentation {name!r}: {exc}") from None
    return Compose(steps)


def list_augmentations() -> list[str]:
    return AUGMENTATIONS.names()
