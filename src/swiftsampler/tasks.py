"""Tasks: what a model's outputs mean, the per-sample loss samplers see, and how a run is scored.

Every task trains with a cross-entropy on some logits, so one engine serves all of them; a task only
says which logits, how one sample's loss is reduced, and how the held-out splits are scored:

=====================  =====================================  =================================
task                   per-sample loss ``l_i``                 reported
=====================  =====================================  =================================
``classification``     ``CE(z_i, y_i)``                        accuracy
``language-model``     ``(1/T) sum_t CE(z_it, y_it)``          perplexity ``exp(mean token CE)``
                       (one sequence of T tokens is a sample)  and next-token accuracy
``verification``       ``CE(arcface(cos_i, y_i), y_i)``        verification accuracy on pairs
                       (Deng et al., CVPR 2019)                (LFW protocol, 10 folds)
=====================  =====================================  =================================

A dataset names its task in its registry metadata (``task=...``; default ``classification``). The
per-sample statistics (:class:`~swiftsampler.stats.SampleStats`) are computed from
:meth:`Task.logits`: the logits for classification, every position's logits for language modelling
(features are then means over positions), and ``s * cos`` for verification (the margin is part of the
loss only, so the features do not depend on the label twice).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .augment import Mixed
from .data.loader import Batch
from .data.prepare import PreparedData
from .errors import ConfigError
from .models import MODELS, create_model
from .registry import Registry

Reduce = Callable[[Tensor], Tensor]

__all__ = ["TASKS", "Evaluation", "Task", "create_task", "token_cross_entropy"]


def token_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-sample cross-entropy, averaged over any positions: (B, C), (B,) -> (B,) or
    (B, T, C), (B, T) -> (B,) with ``l_b = (1/T) sum_t -log softmax(z_bt)_{y_bt}``. Computed in float32."""
    if logits.dim() == 2:  # one fused op (the same log-softmax and pick, bit for bit)
        return F.cross_entropy(logits.float(), targets, reduction="none")
    log_p = logits.float().log_softmax(dim=-1)
    nll = -log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return nll.flatten(1).mean(dim=1)


@dataclass(frozen=True)
class Evaluation:
    """Scores of one held-out split: mean loss, the task's accuracy, and task-specific extras."""

    loss: float
    acc: float
    extra: dict[str, Any] = field(default_factory=dict)


TASKS: Registry[Task] = Registry("task")


class Task:
    """Classification: ``l_i = CE(z_i, y_i)``; scored by accuracy. The base of the other tasks."""

    name: ClassVar[str] = "classification"
    #: whether :meth:`test` can score a data-parallel rank's shard of the test split (``reduce``)
    shardable_test: ClassVar[bool] = True
    #: the validation metric that tells models apart (what a sampler search optimises by default):
    #: ``val_acc`` (maximised) or ``val_loss`` (minimised)
    model_selection: ClassVar[str] = "val_acc"

    def build_model(self, model: str, data: PreparedData, width: int | None) -> nn.Module:
        """The network for ``data`` (``num_classes`` outputs for inputs of ``input_shape``); token
        sequences need a token model and token models need token sequences."""
        check_token_model(model, data)
        return create_model(model, data.num_classes, data.input_shape, width=width)

    def logits(self, outputs: Tensor) -> Tensor:
        """Logits for predictions and per-sample statistics."""
        return outputs

    def losses(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Per-sample training losses (B,)."""
        return token_cross_entropy(self.logits(outputs), targets)

    def part_losses(self, outputs: Tensor, targets: Tensor, mixed: Mixed) -> Tensor:
        """``l(output_i, y[sources[i, k]])`` for every part of every (possibly mixed) output: (B, K)."""
        if not mixed.mixes:
            return self.losses(outputs, targets).unsqueeze(1)
        sources = mixed.sources
        return torch.stack([self.losses(outputs, targets[sources[:, k]])
                            for k in range(sources.shape[1])], dim=1)

    def correct(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Fraction of each sample's predictions that are right (B,) float (0/1 for classes)."""
        hits = (self.logits(outputs).argmax(dim=-1) == targets).float()
        return hits if hits.dim() == 1 else hits.flatten(1).mean(dim=1)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, batches: Iterable[Batch],
                 reduce: Reduce | None = None) -> Evaluation:
        """Mean loss and accuracy over ``batches`` in eval mode; one host sync at the end.

        ``Evaluation(nan, nan)`` for an empty split. ``reduce`` sums the (loss sum, correct,
        count) of this process's ``batches`` with the other data-parallel ranks' (each scoring a
        shard of the split; :func:`swiftsampler.distributed.all_reduce_sum`)."""
        was_training = model.training
        model.eval()
        loss_sum = acc_sum = None
        n = 0
        for batch in batches:
            outputs = model(batch.inputs)
            loss = self.losses(outputs, batch.targets).sum()
            acc = self.correct(outputs, batch.targets).sum()
            loss_sum = loss if loss_sum is None else loss_sum + loss
            acc_sum = acc if acc_sum is None else acc_sum + acc
            n += batch.indices.shape[0]
        model.train(was_training)
        if reduce is not None:
            zero = torch.zeros((), dtype=torch.float64, device=next(model.parameters()).device)
            totals = reduce(torch.stack([zero + (0 if loss_sum is None else loss_sum),
                                         zero + (0 if acc_sum is None else acc_sum), zero + n]))
            loss_sum, acc_sum, n = totals[0], totals[1], int(totals[2].item())  # sync: logging
            if n == 0:
                return self.scored(math.nan, math.nan)
        if loss_sum is None or acc_sum is None:
            return self.scored(math.nan, math.nan)
        return self.scored(loss_sum.item() / n, acc_sum.item() / n)  # sync: logging point

    def scored(self, loss: float, acc: float) -> Evaluation:
        """The :class:`Evaluation` of a split with mean ``loss`` and accuracy ``acc``."""
        return Evaluation(loss, acc)

    def test(self, model: nn.Module, data: PreparedData, batches: Iterable[Batch],
             reduce: Reduce | None = None) -> Evaluation:
        """Score the test split (``batches`` cover it in order, or this rank's shard of it with
        ``reduce``; see :meth:`evaluate`)."""
        return self.evaluate(model, batches, reduce)


TASKS.register("classification")(Task)


@TASKS.register("language-model")
class LanguageModelTask(Task):
    """Language modelling: a sequence of T tokens is a sample, ``l_i = (1/T) sum_t CE``; scored by
    perplexity ``exp(mean token CE)`` (and next-token accuracy)."""

    name = "language-model"
    model_selection = "val_loss"

    def scored(self, loss: float, acc: float) -> Evaluation:
        if math.isnan(loss):
            ppl = math.nan
        else:
            ppl = math.exp(loss) if loss < 700 else math.inf  # exp overflows a float past ~709
        return Evaluation(loss, acc, {"ppl": ppl})


@TASKS.register("verification")
class VerificationTask(Task):
    """Face verification: an ArcFace head over training identities; the per-sample loss is the
    additive-angular-margin cross-entropy; scored by verification accuracy on test pairs.

    The validation split holds images of the training identities and is scored as identity
    classification (accuracy of ``argmax cos``), which is what a sampler search can use; the test
    split is the pairs list, scored with the LFW protocol
    (:func:`~swiftsampler.verification.verification_accuracy`).

    Args:
        embedding_dim: size D of the embedding (the backbone's output).
        scale: ArcFace scale ``s``.
        margin: ArcFace additive angular margin ``m`` (radians).
        folds: folds of the threshold cross-validation (at most the number of pairs).
    """

    name = "verification"
    shardable_test = False

    def __init__(self, *, embedding_dim: int = 128, scale: float = 32.0, margin: float = 0.5,
                 folds: int = 10) -> None:
        from .models.arcface import check_arcface_params

        for name, value in (("embedding_dim", embedding_dim), ("folds", folds)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"--task-param {name}: must be a positive integer, got {value!r}")
        self.scale, self.margin = check_arcface_params(scale, margin)
        self.embedding_dim, self.folds = embedding_dim, folds

    def build_model(self, model: str, data: PreparedData, width: int | None) -> nn.Module:
        from .models.arcface import ArcFaceModel

        check_token_model(model, data)
        if self.embedding_dim < 2:
            raise ConfigError(f"--task-param embedding_dim: must be >= 2, got {self.embedding_dim}")
        backbone = create_model(model, self.embedding_dim, data.input_shape, width=width)
        return ArcFaceModel(backbone, self.embedding_dim, data.num_classes, scale=self.scale,
                            margin=self.margin)

    def logits(self, outputs: Tensor) -> Tensor:
        return self.scale * outputs.float()

    def losses(self, outputs: Tensor, targets: Tensor) -> Tensor:
        from .models.arcface import arcface_logits

        return token_cross_entropy(arcface_logits(outputs, targets, self.scale, self.margin),
                                   targets)

    @torch.no_grad()
    def test(self, model: nn.Module, data: PreparedData, batches: Iterable[Batch],
             reduce: Reduce | None = None) -> Evaluation:
        """Verification accuracy over the pairs: needs every test embedding, so the whole test
        split (``shardable_test`` is False: ``reduce`` is not used)."""
        from .verification import pair_similarities, verification_accuracy

        assert data.test_pairs is not None, "a verification dataset gives test_pairs"
        was_training = model.training
        model.eval()
        embeddings = torch.cat([model.embed(batch.inputs) for batch in batches])
        model.train(was_training)
        pairs = data.test_pairs.to(embeddings.device)
        sims = pair_similarities(embeddings, pairs[:, :2])
        folds = min(self.folds, pairs.shape[0])
        result = verification_accuracy(sims.cpu(), pairs[:, 2].cpu(), folds=folds)
        return Evaluation(math.nan, result.accuracy, {
            "verification": {"accuracy": result.accuracy, "std": result.std, "folds": result.folds,
                             "thresholds": list(result.thresholds),
                             "pairs": int(pairs.shape[0])}})


def check_token_model(model: str, data: PreparedData) -> None:
    """ConfigError unless ``model`` reads tokens exactly when ``data`` is token sequences."""
    reads_tokens = MODELS.get(model).meta.get("inputs") == "tokens"
    if reads_tokens != (data.kind == "tokens"):
        token_models = ", ".join(e.name for e in MODELS if e.meta.get("inputs") == "tokens")
        raise ConfigError(
            f"model {model!r} cannot model token sequences; use {token_models}" if not reads_tokens
            else f"model {model!r} reads token sequences; dataset {data.name!r} has {data.kind} inputs")


def create_task(name: str, params: dict[str, Any] | None = None) -> Task:
    """The registered task ``name`` with its keyword parameters (checked)."""
    return TASKS.create(name, **(params or {}))
