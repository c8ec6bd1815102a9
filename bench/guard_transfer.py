"""Cards reused where nobody searched them, with and without the online guard.

    python bench/guard_transfer.py            # 6 reuses x 3 arms x 3 seeds on MNIST-1D, ~15 min on one core
    python bench/guard_transfer.py --doc      # also the table in docs/swift_sampler.md

The cards are the ``swift-noise`` preset's (searched on MNIST-1D with cnn1d at 0%, 20% and 40%
symmetric label noise; copied to ``bench/results/cards/``). Each reuse trains the target setting
(``SMALL_MNIST1D``: 10,000 samples, 15 epochs, budget 1.0) three ways per seed: uniform sampling, the
card with the guard off, and the card with the guard on (its defaults: 2.5% of the budget per
branch, scored by the validation loss, a 0.02-nat margin, a half blend toward uniform sampling where
the check cannot tell). A fourth arm trains the card with the guard off on the budget minus the
guard's window (``card-short[budget=B]``): what a kept card's run is left with after the check,
so the column shows how much of the guarded run's loss is the check's share of the budget.
``--guard-param K=V`` measures other guard settings (the former defaults: ``guard_window=0.1
guard_margin=0.01 guard_score=accuracy guard_blend=0`` until stop 25, ``guard_window=0.05`` until
stop 28). Results go to
``bench/results/guard_transfer.json``, one entry per run, and a re-run skips the runs already there.

"Gain kept" is ``(guarded - uniform) / (card - uniform)`` where the card beats uniform by more than
half a point; elsewhere what counts is how far the guarded run is from uniform.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from swiftsampler.engine import train
from swiftsampler.experiments.presets import SMALL_MNIST1D
from swiftsampler.files import write_json
from swiftsampler.report import format_table, replace_marked_block
from swiftsampler.samplers._swift.sampler import SwiftSampler

ROOT = Path(__file__).resolve().parents[1]
CARDS = ROOT / "bench" / "results" / "cards"
OUT = ROOT / "bench" / "results" / "guard_transfer.json"
#: (card searched at symmetric noise rate, target: model, noise rate, noise kind)
REUSES = (
    (0.4, ("cnn1d", 0.4, "symmetric")),   # at home: the guard should keep the gain
    (0.4, ("mlp", 0.4, "symmetric")),     # another model
    (0.4, ("cnn1d", 0.4, "asymmetric")),  # another kind of noise
    (0.4, ("cnn1d", 0.0, "symmetric")),   # clean data
    (0.0, ("cnn1d", 0.4, "symmetric")),   # a clean-data card under noise
    (0.2, ("cnn1d", 0.4, "symmetric")),   # another rate
)
SEEDS = (0, 1, 2)
#: the guard's default window: the share of the budget its losing branch costs
GUARD_WINDOW = inspect.signature(SwiftSampler).parameters["guard_window"].default
#: the card unguarded on the budget a kept card's guarded run is left with
SHORT = f"card-short[budget={1 - GUARD_WINDOW:g}]"


def card_path(noise: float) -> Path:
    return CARDS / f"mnist1d_cnn1d_noise{noise:g}.json"


def guarded_arm(params: dict[str, Any]) -> str:
    """The arm's name of a guard with these settings (``guarded``: the defaults)."""
    return "guarded" + (f"[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"
                        if params else "")


def run(target: tuple[str, float, str], arm: str, card: float | None, seed: int,
        guard: dict[str, Any] | None = None) -> dict[str, Any]:
    model, noise, kind = target
    cfg = SMALL_MNIST1D.replace(model=model, noise=noise, noise_type=kind, seed=seed, threads=1)
    if arm != "uniform":
        cfg = cfg.replace(sampler="swift", sampler_card=str(card_path(card)),
                          sampler_params=({"guard": False} if arm in ("card", SHORT)
                                          else dict(guard or {})))
    if arm == SHORT:
        cfg = cfg.replace(budget=cfg.budget.budget - GUARD_WINDOW)
    result = train(cfg)
    return {"test_acc": result["test_acc"], "wall_s": result["wall_s"],
            "guard": result.get("guard"),
            "mislabelled_drawn": (result.get("noise") or {}).get("sampling_mass_on_noisy")}


def key(target: tuple[str, float, str], arm: str, card: float | None, seed: int) -> str:
    model, noise, kind = target
    source = "" if card is None else f" card@{card:g}"
    return f"{model} {noise:g} {kind}|{arm}{source}|seed={seed}"


def describe(target: tuple[str, float, str]) -> str:
    model, noise, kind = target
    return f"{model}, {noise:.0%} {kind}" if noise else f"{model}, clean"


def table(runs: dict[str, dict[str, Any]], guarded: str = "guarded") -> str:
    rows = []
    for card, target in REUSES:
        acc = {arm: [runs[key(target, name, None if arm == "uniform" else card, s)]["test_acc"] * 100
                     for s in SEEDS if key(target, name, None if arm == "uniform" else card, s) in runs]
               for arm, name in (("uniform", "uniform"), ("card", "card"), ("guarded", guarded))}
        if any(len(v) < len(SEEDS) for v in acc.values()):
            continue
        mean = {arm: statistics.mean(v) for arm, v in acc.items()}
        fell_back = sum(runs[key(target, guarded, card, s)]["guard"]["decision"] == "uniform"
                        for s in SEEDS)
        gain = mean["card"] - mean["uniform"]
        kept = (f"{(mean['guarded'] - mean['uniform']) / gain:.0%}" if gain > 0.5 else "-")
        short = [runs[k]["test_acc"] * 100 for k in (key(target, SHORT, card, s) for s in SEEDS)
                 if k in runs]
        short_text = (f"{statistics.mean(short) - mean['uniform']:+.2f}" if len(short) == len(SEEDS)
                      else "-")
        rows.append([f"{card:.0%} symmetric", describe(target), f"{mean['uniform']:.2f}",
                     f"{mean['card']:.2f} ({gain:+.2f})",
                     f"{mean['guarded']:.2f} ({mean['guarded'] - mean['uniform']:+.2f})",
                     f"{fell_back}/{len(SEEDS)}", kept, short_text])
    return format_table(["card searched at", "reused on", "uniform %", "card, no guard %",
                         "card, guarded %", "guard fell back", "gain kept",
                         f"card, no guard, {1 - GUARD_WINDOW:.1%} of the budget"], rows)


def variants_table(runs: dict[str, dict[str, Any]]) -> str:
    """Every guard setting measured (the arms ``guarded[...]`` in the results): per reuse, the
    guarded run's mean difference to uniform and how many seeds fell back."""
    arms = sorted({name.split("|")[1].split(" card@")[0] for name in runs
                   if name.split("|")[1].startswith("guarded")}, key=lambda a: (a != "guarded", a))
    rows = []
    for card, target in REUSES:
        uniform = [runs[key(target, "uniform", None, s)]["test_acc"] for s in SEEDS]
        plain = [runs[key(target, "card", card, s)]["test_acc"] for s in SEEDS]
        row = [f"{card:.0%} card on {describe(target)}",
               f"{100 * (statistics.mean(plain) - statistics.mean(uniform)):+.2f}"]
        for arm in arms:
            names = [key(target, arm, card, s) for s in SEEDS]
            if not all(n in runs for n in names):
                row.append("-")
                continue
            diff = 100 * (statistics.mean(runs[n]["test_acc"] for n in names)
                          - statistics.mean(uniform))
            back = sum(runs[n]["guard"]["decision"] == "uniform" for n in names)
            row.append(f"{diff:+.2f} ({back}/{len(SEEDS)})")
        rows.append(row)
    return format_table(["reuse", "card, no guard", *map(_label, arms)], rows)


def _label(arm: str) -> str:
    """A guarded arm's column: its settings, short (``guarded``: the defaults)."""
    if arm == "guarded":
        return "defaults"
    settings = dict(item.split("=") for item in arm[len("guarded["):-1].split(","))
    short = {"guard_window": "window", "guard_score": "score", "guard_margin": "margin",
             "guard_blend": "blend"}
    return ", ".join(f"{short.get(k, k)} {v}" for k, v in settings.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--doc", action="store_true", help="write the table into docs/swift_sampler.md")
    parser.add_argument("--guard-param", action="append", default=[], metavar="K=V",
                        help="a guard setting of the guarded arm (guard_window, guard_margin, "
                             "guard_score); its runs are kept apart from the defaults'")
    args = parser.parse_args()
    guard = {k: _value(v) for k, v in (item.split("=", 1) for item in args.guard_param)}
    guarded = guarded_arm(guard)
    runs: dict[str, dict[str, Any]] = json.loads(OUT.read_text())["runs"] if OUT.exists() else {}
    todo = []
    for card, target in REUSES:
        for seed in SEEDS:
            todo += [(target, "uniform", None, seed), (target, "card", card, seed),
                     (target, guarded, card, seed), (target, SHORT, card, seed)]
    for item in dict.fromkeys(todo):
        name = key(*item)
        if name in runs:
            continue
        runs[name] = run(*item, guard=guard)
        print(f"{name}: {runs[name]['test_acc']:.4f}", file=sys.stderr, flush=True)
        write_json(OUT, {"setting": "SMALL_MNIST1D (mnist1d, 10,000 samples, cnn1d/mlp, 15 epochs, "
                                    "budget 1.0), threads 1", "runs": runs})
    text = table(runs, guarded)
    print(text)
    variants = variants_table(runs)
    print(variants)
    if args.doc and guard:
        parser.error("--doc writes the default guard's table; leave out --guard-param")
    if args.doc:
        replace_marked_block(ROOT / "docs/swift_sampler.md", "guard-transfer", text,
                             "python bench/guard_transfer.py --doc")
        replace_marked_block(ROOT / "docs/swift_sampler.md", "guard-variants", variants,
                             "python bench/guard_transfer.py --guard-param K=V ... (each variant), "
                             "then --doc")
    return 0


def _value(text: str) -> Any:
    """A ``--guard-param`` value: a number where it reads as one."""
    try:
        return float(text)
    except ValueError:
        return text


if __name__ == "__main__":
    sys.exit(main())
