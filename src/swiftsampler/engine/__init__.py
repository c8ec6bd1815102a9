"""The training engine: :func:`train` runs one budgeted training job from a :class:`RunConfig`."""

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .result import build_result, usage_summary
from .train import Trainer, check_data_parallel, resolve_device, train

__all__ = ["CHECKPOINT_NAME", "Trainer", "build_result", "check_data_parallel", "load_checkpoint",
           "resolve_device",
           "save_checkpoint", "train", "usage_summary"]
