"""The content of ``result.json``: one function of a finished run's pieces."""

from __future__ import annotations

import math
import platform
from typing import Any

import torch

from .. import __version__
from ..config import RunConfig
from ..data import PreparedData
from ..sampling import SamplingCore
from ..stats import SampleStats
from ..tasks import Evaluation

__all__ = ["build_result", "finite_or_none", "usage_summary"]


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN or infinity: a score that is not finite is written as null."""
    return value if math.isfinite(value) else None


def usage_summary(stats: SampleStats) -> dict[str, float]:
    """How the run spread its visits: fraction of samples visited, and the entropy (nats) of the
    visit-count distribution ``H(c) = -sum c_i log c_i`` with ``c = seen / sum(seen)`` (Arazo et al.'s
    measure of variety; its maximum is ``log N``)."""
    seen = stats.seen.double()
    total = seen.sum()
    c = seen / total.clamp_min(1e-12)
    entropy = -(c * c.clamp_min(1e-300).log()).sum()
    return {"visited_fraction": float((seen > 0).double().mean()), "entropy": float(entropy),
            "max_entropy": math.log(stats.num_samples), "visits": float(total)}


def build_result(cfg: RunConfig, core: SamplingCore, data: PreparedData, history: list[dict[str, Any]],
                 test: Evaluation, *, noisy_drawn: int, device: torch.device,
                 times: dict[str, float], trained: int | None = None,
                 weight_on_noisy: float | None = None) -> dict[str, Any]:
    """The content of ``result.json``.

    ``test_acc`` is the task's test accuracy (classification accuracy, next-token accuracy,
    verification accuracy); task extras are added as ``test_<key>`` (e.g. ``test_ppl``) or, for
    dicts, under their own key (e.g. ``verification``). ``times`` holds ``wall_s``, ``train_s``,
    ``data_s`` and ``test_s``. ``noisy_drawn`` of the ``trained`` samples (default: the
    back-propagated count) had a corrupted label; ``weight_on_noisy`` is their share of the loss
    weight (``sum_i w_i noisy_i / sum_i w_i`` over the trained samples; loss-rule samplers).
    """
    last = history[-1] if history else {}
    meter, budget = core.meter, core.budget
    result: dict[str, Any] = {
        "swiftsampler_version": __version__,
        "config": cfg.to_dict(),
        "task": data.task,
        "test_acc": test.acc,
        "test_loss": finite_or_none(test.loss),
        "val_acc": last.get("val_acc"),
        "val_loss": last.get("val_loss"),
        "train_loss": last.get("train_loss"),
        "train_acc": last.get("train_acc"),
        "epochs": core.epoch,
        **{key: times[key] for key in ("wall_s", "train_s", "data_s", "test_s")},
        "cost": {
            **meter.summary(),
            "budget": budget.fraction,
            "samples_per_epoch": budget.samples_per_epoch,
            "reference_backward_samples": budget.epochs * budget.num_train,
        },
        "data": {
            "dataset": data.name, "num_train": int(data.train_y.shape[0]),
            "num_val": int(data.val_y.shape[0]), "num_test": int(data.test_y.shape[0]),
            "num_classes": data.num_classes, "input_shape": list(data.input_shape),
            "streamed": data.streamed, "token_unit": data.token_unit,
        },
        "usage": usage_summary(core.stats),
        "history": history,
        "environment": {
            "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(), "threads": cfg.threads,
        },
    }
    for key, value in test.extra.items():
        if isinstance(value, dict):
            result[key] = value
        else:
            result[f"test_{key}"] = finite_or_none(value)
            result[f"val_{key}"] = last.get(f"val_{key}")
    if cfg.data.noise > 0:
        result["noise"] = {
            "rate": data.noise_rate,
            "type": cfg.data.noise_type,
            "num_noisy": int(data.train_noisy.sum()),
            "sampling_mass_on_noisy": noisy_drawn / max(
                meter.backward_samples if trained is None else trained, 1),
        }
        if weight_on_noisy is not None:
            result["noise"]["loss_weight_on_noisy"] = weight_on_noisy
    return result
