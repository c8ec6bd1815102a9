"""How the engine runs its model: mixed precision, ``torch.compile`` and the channels-last layout.

* ``--precision bf16|fp16`` runs forward passes under :func:`torch.autocast` with that dtype (on the CPU
  too, where bf16 autocast is real); the outputs are cast back to float32, so per-sample losses, the
  sampler's statistics and the weighted objective are always float32. fp16 adds a gradient scaler
  (:class:`torch.amp.GradScaler`): the loss is multiplied by a scale before ``backward`` and the step is
  skipped when a gradient overflows (the step is still charged to the budget: it was computed).
* ``--compile`` runs the model through :func:`torch.compile`; the uncompiled module keeps the
  parameters, so checkpoints and cards do not depend on the flag.
* ``--channels-last`` stores 2-D convolutional models and their (N, C, H, W) inputs channels-last
  (``torch.channels_last``), the layout tensor cores and oneDNN prefer; other inputs are left alone.

The same settings apply to training steps, scoring passes and evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["PRECISIONS", "FastModel"]

#: ``--precision`` name -> autocast dtype (``None``: no autocast).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class FastModel(nn.Module):
    """``model`` run with a precision, possibly compiled, possibly channels-last.

    Calling it (and :meth:`embed`) gives float32 outputs; :meth:`step` does ``backward`` and the
    optimiser step through the gradient scaler when there is one. ``self.model`` is the plain module
    (what is saved and loaded).
    """

    def __init__(self, model: nn.Module, device: torch.device, *, precision: str = "fp32",
                 compile: bool = False, channels_last: bool = False) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.dtype = PRECISIONS[precision]
        self.device_type = device.type
        self.channels_last = channels_last
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._run: Callable[[Tensor], Tensor] = torch.compile(model) if compile else model
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def autocast(self) -> AbstractContextManager[Any]:
        """The precision's autocast context (nothing for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def _layout(self, inputs: Tensor) -> Tensor:
        if self.channels_last and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def forward(self, inputs: Tensor) -> Tensor:
        with self.autocast():
            outputs = self._run(self._layout(inputs))
        return outputs.float()

    def embed(self, inputs: Tensor) -> Tensor:
        """The model's embedding (verification models), under the same precision."""
        with self.autocast():
            outputs = self.model.embed(self._layout(inputs))
        return outputs.float()

    def step(self, objective: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``objective.backward()`` and ``optimizer.step()``, scaled under fp16."""
        if self.scaler is None:
            objective.backward()
            optimizer.step()
            return
        self.scaler.scale(objective).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def scaler_state(self) -> dict[str, Any] | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_scaler_state(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state is not None:
            self.scaler.load_state_dict(state)
