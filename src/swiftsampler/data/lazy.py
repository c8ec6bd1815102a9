"""Inputs that stay on disk and are decoded on demand (image folders too big for memory).

In-memory datasets hold their inputs as one tensor ``(N, *input_shape)`` on the training device. A
file-backed dataset instead holds a :class:`LazyInputs`: it knows how many inputs there are and their
decoded shape, it can be subset with an index tensor exactly like a tensor (``inputs[idx]``, which is
what the validation split and ``--shots`` do) and it decodes one input with :meth:`LazyInputs.load`.
The engine streams such inputs through a standard ``torch.utils.data.DataLoader`` with worker
processes (:class:`~swiftsampler.data.loader.StreamingLoader`); labels always stay in memory, so label
noise and the samplers work unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor


class LazyInputs(ABC):
    """File-backed inputs, decoded one at a time. Subclasses implement the four abstract members.

    ``dtype`` is the dtype :meth:`load` returns; ``shape`` is ``(len(self), *input_shape)`` like a
    tensor's, so code that only looks at shapes cannot tell the difference.
    """

    dtype: torch.dtype = torch.float32

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one decoded input, e.g. ``(3, H, W)``."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def load(self, i: int) -> Tensor:
        """Decode input ``i`` (0 <= i < len) to a tensor of :attr:`input_shape` and :attr:`dtype`.

        Raises :class:`~swiftsampler.errors.DataError` naming the file when it cannot be decoded.
        """

    @abstractmethod
    def subset(self, index: Sequence[int]) -> LazyInputs:
        """The inputs at positions ``index`` (in that order) as a new :class:`LazyInputs`."""

    def value_range(self) -> tuple[Tensor, Tensor]:
        """Per-channel ``(min, max)`` a decoded input can take (for augmentations); default: the
        range over the first up-to-64 inputs."""
        sample = torch.stack([self.load(i) for i in range(min(len(self), 64))])
        flat = sample.transpose(0, 1).reshape(sample.shape[1], -1)
        return flat.min(dim=1).values, flat.max(dim=1).values

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.input_shape)

    def __getitem__(self, index: Tensor | Sequence[int]) -> LazyInputs:
        if isinstance(index, Tensor):
            index = index.tolist()
        return self.subset(list(index))

    def materialize(self) -> Tensor:
        """Every input decoded and stacked into one tensor (small sets, tests)."""
        if len(self) == 0:
            return torch.empty((0, *self.input_shape), dtype=self.dtype)
        return torch.stack([self.load(i) for i in range(len(self))])


def num_inputs(inputs: Tensor | LazyInputs) -> int:
    """``N`` of a tensor or lazy inputs."""
    return int(inputs.shape[0])
