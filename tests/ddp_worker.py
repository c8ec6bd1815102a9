"""One rank of the data-parallel tests (tests/test_distributed.py starts it under
``torchrun --nproc_per_node 2``); each rank saves what it saw to ``OUT/rank<r>.pt``.

* :func:`core_epochs`: a :class:`SamplingCore` over 96 samples whose logits are a fixed function of
  the index, three epochs of p-SGD (its plans follow the statistics): the plans and statistics.
  The test runs the same function in one process and compares.
* a :class:`Trainer` on the synthetic dataset, run through once, and run again stopped half-way
  and resumed from the checkpoint: its statistics, weights and result on every rank.
* a :class:`Trainer` whose sampler wants a scoring pass every epoch, under mixup.
* :func:`select_epochs`: batch-then-sample cores (ordered SGD, UIS with repeats and weights,
  selective backprop) fed the same table, the table's rows as (dict) inputs: the batches each rank trains.
* a :class:`Trainer` with selective backprop (:func:`selective_config`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from swiftsampler.budget import Budget
from swiftsampler.config import RunConfig
from swiftsampler.data.loader import Batch
from swiftsampler.distributed import SINGLE, DistributedContext, context_from_environment, leave
from swiftsampler.engine import Trainer
from swiftsampler.samplers import create_sampler
from swiftsampler.sampling import SamplingCore

N, CLASSES, BATCH = 96, 5, 8


def core_epochs(context: DistributedContext = SINGLE) -> dict:
    """Three p-SGD epochs of a core fed a fixed table of logits (batch 8 in all)."""
    table = torch.randn(N, CLASSES, generator=torch.Generator().manual_seed(0))
    targets = torch.arange(N) % CLASSES
    budget = Budget(1.0, 3, N)
    core = SamplingCore(create_sampler("p-sgd", N, budget=1.0), budget, batch_size=BATCH, seed=3,
                        context=context)
    plans, stats = [], []
    while not core.exhausted:
        plan = core.plan_epoch()
        for batch in plan.indices.split(core.local_batch_size):
            losses = F.cross_entropy(table[batch], targets[batch], reduction="none")
            core.record(batch, table[batch], targets[batch], losses)
            core.charge_step(batch.shape[0])
        plans.append(plan.indices)
        stats.append(core.stats.state_dict())
    return {"plans": plans, "stats": stats, "meter": core.meter.state_dict()}


#: The batch-then-sample samplers of :func:`select_epochs` and their parameters: ordered SGD and
#: UIS keep a fixed number of each candidate batch (every training batch is full), selective backprop
#: a random number (a plan's last batch is cut to a multiple of the ranks).
SELECTORS = {"ordered-sgd": {"keep": 0.5}, "uis": {"tau_th": 0.0}, "selective-backprop": {}}


def select_epochs(name: str, context: DistributedContext = SINGLE) -> dict:
    """A batch-then-sample core over the same table until half the budget of 3 epochs is spent:
    every batch it gives this rank to train (indices, inputs, weights), its statistics and meter."""
    table = torch.randn(N, CLASSES, generator=torch.Generator().manual_seed(0))
    targets = torch.arange(N) % CLASSES
    budget = Budget(0.5, 3, N)
    core = SamplingCore(create_sampler(name, N, budget=0.5, **SELECTORS[name]), budget,
                        batch_size=BATCH, seed=3, context=context)
    trained = []
    while not core.exhausted:
        plan = core.plan_epoch()
        for cand in plan.indices.split(core.candidate_batch_size()):
            if core.exhausted:
                break
            losses = F.cross_entropy(table[cand], targets[cand], reduction="none")
            inputs = {"rows": table[cand], "index": cand.double()}
            for batch in core.select(Batch(cand, inputs, targets[cand]), losses, table[cand]):
                trained.append({"indices": batch.indices, "rows": batch.inputs["rows"],
                                "index": batch.inputs["index"], "targets": batch.targets,
                                "weights": batch.weights})
                core.charge_step(batch.indices.shape[0])
    return {"trained": trained, "stats": core.stats.state_dict(), "meter": core.meter.state_dict()}


def selective_config() -> RunConfig:
    return run_config().replace(sampler="selective-backprop", budget=0.3, epochs=6,
                                checkpoint_every=0)


def run_config() -> RunConfig:
    return RunConfig().replace(dataset="synthetic", model="mlp", width=32, epochs=4, batch_size=32,
                               lr=0.05, budget=0.5, sampler="p-sgd", noise=0.2, checkpoint_every=1)


def _plain(result: dict) -> dict:
    """A result as JSON would keep it (loadable with ``weights_only=True``)."""
    return json.loads(json.dumps(result, default=str))


def trainer_runs(context: DistributedContext, out: Path) -> dict:
    cfg = run_config()
    full = Trainer(cfg, context=context)
    result = full.train().result()
    stopped = Trainer(cfg, out_dir=out / "run", context=context)
    stopped.train(until=0.5)
    resumed = Trainer(cfg, out_dir=out / "run", context=context)
    resumed.resume()
    whole = full.task.evaluate(full.model, full.loaders.all_batches("test", 64))  # one process's
    return {"result": _plain(result), "whole_test": [whole.acc, whole.loss],
            "stats": full.core.stats.state_dict(),
            "weights": [p.detach().clone() for p in full.model.parameters()],
            "resumed": _plain(resumed.train().result()), "stopped_epochs": len(stopped.history)}


def mixed_config() -> RunConfig:
    """Online batch selection with a scoring pass every epoch, under mixup (credit by share)."""
    return run_config().replace(sampler="online-batch-selection", augment=("mixup",),
                                sampler_params={"rescore_every": 1}, checkpoint_every=0)


def mixed_run(context: DistributedContext) -> dict:
    trainer = Trainer(mixed_config(), context=context)
    return {"result": _plain(trainer.train().result()), "stats": trainer.core.stats.state_dict()}


def main() -> None:
    out = Path(sys.argv[1])
    context = context_from_environment(torch.device("cpu"))
    try:
        seen = {"core": core_epochs(context), **trainer_runs(context, out),
                "mixed": mixed_run(context),
                "select": {name: select_epochs(name, context) for name in SELECTORS},
                "selective": _plain(Trainer(selective_config(), context=context).train().result())}
        torch.save(seen, out / f"rank{context.rank}.pt")
    finally:
        leave(context)


if __name__ == "__main__":
    main()
