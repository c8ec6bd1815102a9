"""The training engine: :func:`train` runs one budgeted training job from a :class:`RunConfig`."""

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .evaluate import evaluate
from .train import RunState, Trainer, resolve_device, train

__all__ = ["CHECKPOINT_NAME", "RunState", "evaluate", "load_checkpoint", "resolve_device",
           "save_checkpoint", "Trainer", "train"]
