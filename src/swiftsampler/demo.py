"""``swiftsampler demo``: uniform sampling at budgets 1.0 and 0.3 on the embedded MNIST-1D data."""

from __future__ import annotations

from pathlib import Path

from .config import RunConfig
from .files import write_json
from .report import format_table

DEMO_BUDGETS = (1.0, 0.3)


def run_demo(out: Path, *, progress: bool = False, seed: int = 0) -> list[dict]:
    """Train cnn1d on MNIST-1D with uniform sampling at each demo budget; print a table."""
    from .data import prepare_data
    from .engine import train

    base = RunConfig().replace(dataset="mnist1d", model="cnn1d", sampler="uniform", seed=seed)
    print(f"swiftsampler demo: {base.model.model} on {base.data.dataset}, uniform sampling, "
          f"budgets {', '.join(f'{b:g}' for b in DEMO_BUDGETS)} of {base.budget.epochs} epochs")
    data = prepare_data(base.data, base.data_seed)
    results, rows = [], []
    for budget in DEMO_BUDGETS:
        cfg = base.replace(budget=budget)
        print(f"  training at budget {budget:g} ...", flush=True)
        result = train(cfg, progress=progress, data=data)
        write_json(out / f"uniform_b{budget:g}" / "result.json", result)
        results.append(result)
        cost = result["cost"]
        rows.append([f"{budget:g}", "uniform", f"{100 * result['test_acc']:.2f}",
                     f"{100 * result['val_acc']:.2f}", f"{cost['iterations']:,}",
                     f"{cost['backward_samples']:,}", f"{result['wall_s']:.1f}"])
    table = format_table(["budget", "sampler", "test acc %", "val acc %", "iterations",
                          "backward samples", "wall s"], rows)
    (out).mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", {"runs": [{"budget": r["cost"]["budget"],
                                               "test_acc": r["test_acc"]} for r in results]})
    print()
    print(table)
    print(f"\nresults: {out}/uniform_b*/result.json")
    return results
