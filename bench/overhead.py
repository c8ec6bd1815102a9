"""What the library costs on top of a hand-written PyTorch loop: the engine and the drop-in API against a
bare loop of the same model, data, optimiser and schedule, and every epoch-level sampler against uniform.

    python bench/overhead.py                          # cnn1d / MNIST-1D and cnn2d / Fashion-MNIST, 5 repeats
    python bench/overhead.py --models cnn1d --repeats 3 --epochs 2
    python bench/overhead.py --doc                    # also the table in docs/performance.md

Every arm of a model trains the same model for the same number of samples, in one process,
and the arms alternate (repeat r runs them in a rotated order), so slow phases of a shared machine hit
all of them alike; the table gives the median of the repeats and the ratio of medians.

* **bare loop**: ``torch.randperm`` batches of the in-memory training tensors, ``model(x)``,
  ``F.cross_entropy(..., reduction="none").mean()``, ``zero_grad / backward / step`` with the run's
  optimiser, the learning rate set each step from the linear-to-zero schedule.
* **engine**: ``Trainer(cfg).train()`` with ``--sampler uniform``; its ``train_s`` (the training loop,
  evaluation excluded).
* **drop-in**: the bare loop with ``SamplingSession("uniform", ...)``: batches from
  ``session.batch_sampler`` and the loss from ``session.loss`` (which records the statistics).
* with ``--fast-path``: the engine's uniform run with ``--precision bf16``, ``--channels-last`` and
  ``--compile`` against its fp32 run (the compile arm's warm-up run pays the compilation).
* **samplers** (``rs2``, ``p-sgd``, ``c-sgd``, ``infobatch``, ``swift``): the engine with that sampler;
  compared per backward sample with the engine's uniform run, and with their scoring passes counted
  (samples forwarded without a backward pass, per backward sample).

Fashion-MNIST comes from ``--fashion-dir`` (the Debian package's files by default); without it the
cnn2d arms use random 28 x 28 images of the same shape. Writes ``bench/results/overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from swiftsampler.config import RunConfig
from swiftsampler.data import PreparedData, prepare_data
from swiftsampler.engine import Trainer
from swiftsampler.files import write_json
from swiftsampler.integration import SamplingSession
from swiftsampler.optimizers import build_optimizer
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.schedules import LRSchedule
from swiftsampler.tasks import create_task

ROOT = Path(__file__).resolve().parents[1]
FASHION = Path("/usr/share/datasets/fashion-mnist")
#: The epoch-level samplers the issue holds to 1.05x uniform, with the parameters they need here.
SAMPLERS: dict[str, dict[str, Any]] = {
    "rs2": {}, "p-sgd": {}, "c-sgd": {}, "infobatch": {},
    "swift": {"params": [1.0, 0.8, 0.6, 0.4, 0.2, 1.0, 0.8, 0.6, 0.4, 0.2]},
}
#: The fast-path settings ``--fast-path`` times against the engine's fp32 uniform run.
FAST_PATH: dict[str, dict[str, Any]] = {
    "bf16": {"precision": "bf16"}, "channels-last": {"channels_last": True}, "compile": {"compile": True},
}
#: (model, dataset settings) of the two reference models.
SETTINGS = {
    "cnn1d": {"dataset": "mnist1d"},
    "cnn2d": {"dataset": "fashion-mnist", "shots": 400, "val_ratio": 0.02},
}


def config(model: str, epochs: int, threads: int, sampler: str = "uniform",
           params: dict[str, Any] | None = None, **fast: Any) -> RunConfig:
    data = {k: v for k, v in SETTINGS[model].items()}
    return RunConfig().replace(model=model, epochs=epochs, threads=threads, device="cpu",
                               sampler=sampler, sampler_params=params or {}, **data, **fast)


def load(cfg: RunConfig, fashion_dir: Path | None) -> PreparedData:
    if cfg.data.dataset == "fashion-mnist":
        if fashion_dir is None:
            return random_images(cfg)
        cfg = cfg.replace(data_dir=str(fashion_dir))
    return prepare_data(cfg.data, cfg.data_seed)


def random_images(cfg: RunConfig) -> PreparedData:
    """Fashion-MNIST-shaped random data (28 x 28, 10 classes) for machines without the files."""
    g = torch.Generator().manual_seed(0)
    n_train, n_test = 10 * cfg.data.shots, 1000

    def images(n: int) -> torch.Tensor:
        return torch.rand(n, 1, 28, 28, generator=g)

    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, 10, (n,), generator=g)

    train_y = labels(n_train)
    return PreparedData(images(n_train), train_y, train_y.clone(), torch.zeros(n_train, dtype=torch.bool),
                        torch.arange(n_train), images(100), labels(100), images(n_test), labels(n_test),
                        10, (1, 28, 28), "random-28x28", "image")


def fresh_model(cfg: RunConfig, data: PreparedData) -> torch.nn.Module:
    """The model every arm starts from (the engine's initialisation for ``cfg.seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return create_task(data.task, {}).build_model(cfg.model.model, data, cfg.model.width)


def bare_loop(cfg: RunConfig, data: PreparedData, session: SamplingSession | None = None) -> float:
    """Seconds to train ``cfg.budget.epochs`` epochs by hand (through ``session`` when given)."""
    model = fresh_model(cfg, data)
    optimizer = build_optimizer(model, cfg.optim)
    schedule = LRSchedule(cfg.optim.lr, cfg.optim.schedule)
    x, y = data.train_x, data.train_y
    n, batch_size, epochs = y.shape[0], cfg.optim.batch_size, cfg.budget.epochs
    generator = torch.Generator().manual_seed(0)
    total, step = epochs * -(-n // batch_size), 0
    start = time.perf_counter()
    for _ in range(epochs):
        if session is None:
            batches = torch.randperm(n, generator=generator).split(batch_size)
        else:
            batches = (torch.as_tensor(b) for b in session.batch_sampler)
        for idx in batches:
            lr = schedule(session.progress if session is not None else step / total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits = model(x[idx])
            losses = F.cross_entropy(logits, y[idx], reduction="none")
            loss = losses.mean() if session is None else session.loss(idx, losses, logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return time.perf_counter() - start


def engine_run(cfg: RunConfig, data: PreparedData) -> dict[str, float]:
    trainer = Trainer(cfg, data=data).train()
    meter = trainer.core.meter
    return {"s": trainer.train_s, "backward": meter.backward_samples,
            "forward_only": meter.forward_samples - meter.backward_samples}


def measure(model: str, args: argparse.Namespace) -> dict[str, Any]:
    base = config(model, args.epochs, args.threads)
    data = load(base, args.fashion_dir)
    n = int(data.train_y.shape[0])

    def dropin() -> float:
        session = SamplingSession("uniform", num_samples=n, epochs=args.epochs,
                                  batch_size=base.optim.batch_size, seed=0)
        return bare_loop(base, data, session)

    arms: dict[str, Any] = {"bare loop": lambda: {"s": bare_loop(base, data)},
                            "drop-in": lambda: {"s": dropin()},
                            "uniform": lambda: engine_run(base, data)}
    for name, params in SAMPLERS.items():
        cfg = config(model, args.epochs, args.threads, name, params)
        arms[name] = lambda cfg=cfg: engine_run(cfg, data)
    for name, fast in FAST_PATH.items() if args.fast_path else ():
        cfg = config(model, args.epochs, args.threads, **fast)
        arms[name] = lambda cfg=cfg: engine_run(cfg, data)
    names = list(arms)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    torch.set_num_threads(args.threads)
    for name in names:  # untimed warm-up of every arm (allocator, first-call costs)
        arms[name]()
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            runs[name].append(arms[name]())
            print(f"{model} repeat {r + 1}/{args.repeats}: {name} {runs[name][-1]['s']:.2f} s",
                  file=sys.stderr, flush=True)
    median = {name: statistics.median(run["s"] for run in runs[name]) for name in names}
    per_backward = {name: median[name] / runs[name][0]["backward"]
                    for name in names if "backward" in runs[name][0]}
    return {"num_train": n, "dataset": data.name, "runs": runs, "median_s": median,
            "engine_vs_bare": median["uniform"] / median["bare loop"],
            "dropin_vs_bare": median["drop-in"] / median["bare loop"],
            "sampler_vs_uniform": {name: per_backward[name] / per_backward["uniform"]
                                   for name in SAMPLERS},
            "forward_only_per_backward": {name: runs[name][0]["forward_only"] / runs[name][0]["backward"]
                                          for name in SAMPLERS},
            "fast_path_vs_fp32": {name: median[name] / median["uniform"]
                                  for name in FAST_PATH if name in median}}


def table(results: dict[str, Any]) -> str:
    rows = []
    for model, r in results["models"].items():
        rows.append([model, "engine (uniform) vs bare loop", f"{r['median_s']['uniform']:.2f}",
                     f"{r['median_s']['bare loop']:.2f}", f"{r['engine_vs_bare']:.3f}", "-"])
        rows.append([model, "drop-in (uniform) vs bare loop", f"{r['median_s']['drop-in']:.2f}",
                     f"{r['median_s']['bare loop']:.2f}", f"{r['dropin_vs_bare']:.3f}", "-"])
        for name, ratio in r["sampler_vs_uniform"].items():
            rows.append([model, f"{name} vs uniform (per backward sample)",
                         f"{r['median_s'][name]:.2f}", f"{r['median_s']['uniform']:.2f}",
                         f"{ratio:.3f}", f"{r['forward_only_per_backward'][name]:.2f}"])
        for name, ratio in r["fast_path_vs_fp32"].items():
            rows.append([model, f"engine --{name if name != 'bf16' else 'precision bf16'} vs fp32",
                         f"{r['median_s'][name]:.2f}", f"{r['median_s']['uniform']:.2f}",
                         f"{ratio:.3f}", "-"])
    return format_table(["model", "comparison", "median s", "baseline s", "ratio",
                         "scored / trained"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="cnn1d,cnn2d", help="of: " + ", ".join(SETTINGS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs every arm trains (default: 3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per arm (default: 5)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default: 1)")
    parser.add_argument("--fashion-dir", type=Path, default=FASHION if FASHION.is_dir() else None,
                        help="Fashion-MNIST's IDX files (default: the Debian package's, when there)")
    parser.add_argument("--fast-path", action="store_true",
                        help="also time --precision bf16, --channels-last and --compile against fp32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/overhead.json")
    parser.add_argument("--doc", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    models = args.models.split(",")
    unknown = [m for m in models if m not in SETTINGS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(SETTINGS)}")
    settings = {"epochs": args.epochs, "repeats": args.repeats, "threads": args.threads}
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {}
    # the other models' rows are kept when they were measured with the same settings
    kept = (earlier.get("models", {}) if all(earlier.get(k) == v for k, v in settings.items())
            else {})
    results = {
        **settings,
        "models": {**kept, **{model: measure(model, args) for model in models}},
        "environment": {"cpus": os.cpu_count(), "torch": torch.__version__,
                        "python": platform.python_version(), "platform": platform.platform()},
    }
    write_json(args.out, results)
    text = table(results)
    print(text)
    if args.doc:
        replace_marked_block(ROOT / "docs/performance.md", "overhead", text,
                             "python bench/overhead.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
