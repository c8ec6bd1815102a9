"""The model registry, input-shape validation and the common :class:`Classifier` base class.

Every model is a :class:`Classifier`: ``forward_features(x)`` maps a batch to penultimate features of
shape ``(B, D)`` and ``head`` is the final :class:`torch.nn.Linear`, so that
``model(x) == model.head(model.forward_features(x))``. Samplers use the features (and the head) for
cheap per-sample gradient-norm proxies.

Factories are registered with ``@MODELS.register(name, inputs=KIND, width=DEFAULT)`` where ``KIND`` is
``"signal"`` (inputs of shape ``(C, L)``), ``"image"`` (``(C, H, W)``) or ``"any"`` (any shape, flattened);
``min_size`` optionally gives the smallest length / height / width the model accepts. A factory has the
signature ``(num_classes, input_shape, *, width=None)``; :func:`create_model` validates the arguments
against this metadata before calling it, so factories receive well-formed values.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry

MODELS: Registry[nn.Module] = Registry[nn.Module]("model", internal={"width": "set by --width"})

INPUT_KINDS: dict[str, tuple[int | None, str]] = {
    # kind -> (number of dimensions per sample, or None for any number; layout shown in errors)
    "signal": (2, "(C, L)"),
    "image": (3, "(C, H, W)"),
    "any": (None, "(...)"),
    "tokens": (1, "(T,)"),
}


class Classifier(nn.Module):
    """Base class: ``forward(x) = head(forward_features(x))``; subclasses set ``head`` and features."""

    head: nn.Linear

    def __init__(self, num_classes: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)

    @property
    def feature_dim(self) -> int:
        """Size ``D`` of the penultimate features returned by :meth:`forward_features`."""
        return self.head.in_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Penultimate features of shape ``(B, D)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape ``(B, num_classes)``."""
        return self.head(self.forward_features(x))


def resolve_width(width: int | None, default: int) -> int:
    """``width`` or the model's ``default`` when it is None."""
    return default if width is None else width


def _as_shape(name: str, input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(operator.index(d) for d in input_shape)
    except TypeError:
        raise ConfigError(
            f"model {name!r}: input_shape must be a tuple of integers, got {input_shape!r}"
        ) from None
    return shape


def create_model(
    name: str, num_classes: int, input_shape: tuple[int, ...], *, width: int | None = None
) -> nn.Module:
    """Build model ``name`` for ``num_classes`` classes and per-sample inputs of ``input_shape``.

    ``width`` is the model's base width (channels or hidden units); None means the model's default.
    Raises :class:`~swiftsampler.errors.ConfigError` (one line, naming the model) for an unknown name,
    an input shape the model cannot take, ``num_classes < 2`` or a non-positive width. Parameters are
    initialised from the global torch RNG: seed it (under ``torch.random.fork_rng``) for reproducibility.
    """
    entry = MODELS.get(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError(f"model {name!r} needs num_classes >= 2, got {num_classes!r}")
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width <= 0):
        raise ConfigError(f"model {name!r} needs a positive integer width, got {width!r}")
    shape = _as_shape(name, input_shape)
    kind = entry.meta.get("inputs", "any")
    ndim, layout = INPUT_KINDS[kind]
    if ndim is not None and len(shape) != ndim:
        raise ConfigError(
            f"model {name!r} needs {kind} inputs of shape {layout}; this dataset gives {shape}"
        )
    if not shape or min(shape) <= 0:
        raise ConfigError(
            f"model {name!r} needs a non-empty input shape of positive sizes; got {shape}"
        )
    min_size = entry.meta.get("min_size")
    if min_size is not None and min(shape[1:]) < min_size:
        what = "length" if kind == "signal" else "height and width"
        raise ConfigError(
            f"model {name!r} needs inputs with {what} >= {min_size}; this dataset gives {shape}"
        )
    return entry.factory(num_classes, shape, width=width)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()
