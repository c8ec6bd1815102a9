"""What ``swiftsampler search`` shows: a summary and the two plots of the paper (Figures 1 and 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..plots import plot_convergence, plot_sampler


def search_plots(runner: Any, outcome: dict[str, Any]) -> list[Path]:
    """``convergence.png`` (best objective vs trial) and ``sampler.png`` (the learned sampler over
    (loss, E^r) at the shared initialisation, next to the density of mislabelled samples)."""
    from ..engine import Trainer
    from ..samplers import SwiftSampler

    out = runner.out
    objective = runner.search.objective_name
    values = [row[objective] for row in outcome["trials"]]
    startup = None if runner.search.search_algo == "random" else runner.search.startup_trials
    paths = [plot_convergence({runner.search.search_algo: values}, out / "convergence.png",
                              uniform=outcome["uniform_value"], startup=startup,
                              objective=objective,
                              title=f"Swift Sampler search ({runner.cfg.data.dataset}, "
                                    f"{runner.cfg.model.model})")]
    trainer = Trainer(runner.cfg, data=runner.data)
    trainer.load_state_dict(runner.shared_init())
    stats = trainer.core.stats
    sampler = SwiftSampler(stats.num_samples, card=str(out / "sampler.json"))
    prob = sampler.probabilities(stats).cpu().numpy()
    noisy = runner.data.train_noisy.cpu().numpy() if bool(runner.data.train_noisy.any()) else None
    seen = stats.seen_mask.cpu().numpy()
    loss = torch.nan_to_num(stats.loss).cpu().numpy()
    entropy = torch.nan_to_num(stats.entropy).cpu().numpy()
    paths.append(plot_sampler(loss[seen], entropy[seen], prob[seen],
                              None if noisy is None else noisy[seen], out / "sampler.png",
                              title="learned sampler at the shared initialisation"))
    return paths


def format_search_summary(runner: Any, outcome: dict[str, Any], plots: list[Path]) -> str:
    card = outcome["card"]
    prov = card.provenance
    cost = prov["cost"]
    lines = [
        f"swiftsampler search: {prov['dataset']} / {prov['model']}, noise {prov['noise']:g}, "
        f"{prov['trials']} trials ({runner.search.search_algo}), "
        f"{card.family_obj().n_params} parameters",
        f"  objective  best {_score(prov['objective'], outcome['best_value'])} (trial "
        f"{prov['best_trial']}, numbered as in trials.csv); uniform sampler "
        f"{_score(prov['objective'], outcome['uniform_value'], name=False)}",
        f"  cost       {outcome['wall_s']:.1f} s (shared initialisation "
        f"{cost['init_wall_s']:.1f} s, trials {cost['trials_wall_s']:.1f} s: building trainers "
        f"{cost['build_s']:.1f} s, validation {cost['eval_s']:.1f} s, proposals "
        f"{cost['propose_s']:.1f} s){_pruned(prov)}",
        f"  full runs  {format_full_runs(cost)}",
        f"  card       {runner.out / 'sampler.json'}",
        f"  trials     {runner.out / 'trials.csv'}",
    ]
    search = runner.search
    if search.search_algo != "random" and prov["trials"] <= search.startup_trials:
        lines.append(f"  note       all {prov['trials']} trials were random start-up trials, so the "
                     f"{search.search_algo.upper()} sampler never ran: give --n-trials more than "
                     f"{search.startup_trials}")
    lines += [f"  plot       {p}" for p in plots]
    lines.append("  next       " + train_command(runner.cfg, runner.out / "sampler.json"))
    return "\n".join(lines)


def format_full_runs(cost: dict[str, Any]) -> str:
    """The search's cost in full-run units, with the run it is measured against."""
    if not cost.get("full_runs"):
        return "- (no uniform run to compare with)"
    return (f"{cost['full_runs']:.2f} x one uniform training run ({cost['full_run_s']:.1f} s, "
            f"{cost['full_run_source']})")


def _pruned(prov: dict[str, Any]) -> str:
    pruned = prov.get("pruned") or 0
    return f"; {pruned} of {prov['trials']} trials pruned" if pruned else ""


def train_command(cfg: Any, card: Path) -> str:
    """The complete ``swiftsampler train`` command that trains with ``card`` in the searched setting
    (every setting that differs from the defaults, then the card)."""
    import shlex

    from ..config import config_flags

    flags = config_flags(cfg, exclude=("sampler", "sampler_params", "sampler_card"))
    return shlex.join(["swiftsampler", "train", *flags, "--sampler", "swift",
                       "--sampler-card", str(card)])


def _score(objective: str, x: float | None, *, name: bool = True) -> str:
    """A search objective's value as people read it: an accuracy in %, a loss in nats."""
    label = {"val_acc": "validation accuracy ", "val_loss": "validation loss "}.get(objective, "")
    if x is None:
        value = "-"
    elif objective == "val_acc":
        value = f"{100 * x:.2f}%"
    else:
        value = f"{x:.4f}" + (" nats/token" if objective == "val_loss" else "")
    return (label if name else "") + value
