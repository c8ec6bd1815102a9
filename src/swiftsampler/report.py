"""Human-readable summaries of results (the one screen ``swiftsampler train`` prints)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def format_summary(result: dict[str, Any], path: Path | str | None = None) -> str:
    """A one-screen summary of one ``result.json``."""
    cfg, cost, data = result["config"], result["cost"], result["data"]
    ref = cost["reference_backward_samples"]
    lines = [
        f"swiftsampler train: {data['dataset']} / {cfg['model']['model']} / "
        f"{cfg['sampler']['sampler']}, budget {cost['budget']:g} of {cfg['budget']['epochs']} "
        f"epochs, seed {cfg['seed']}",
        f"  data      {data['num_train']} train, {data['num_val']} val, {data['num_test']} test, "
        f"{data['num_classes']} {_CLASSES.get(result.get('task'), 'classes')}, "
        f"input {tuple(data['input_shape'])}",
        f"  cost      {cost['iterations']:,} iterations, {cost['backward_samples']:,} backward "
        f"samples ({100 * cost['backward_samples'] / ref:.1f}% of {ref:,}), "
        f"{cost['forward_samples']:,} forward",
        *([f"  budget    {cost['time_budget_s']:g} s of training loop (wall-clock budget); spent "
           f"{cost['training_loop_s']:.1f} s"] if cost.get("time_budget_s") else []),
        f"  time      {result['wall_s']:.1f} s (training {result['train_s']:.1f} s, "
        f"{result['epochs']} epochs, on {result['environment']['device']})",
    ]
    task = result.get("task", "classification")
    if task == "verification":
        ver = result["verification"]
        lines.append(f"  verify    test {_pct(ver['accuracy'])} +- {_pct(ver['std'])} "
                     f"({ver['folds']}-fold threshold over {ver['pairs']} pairs)")
        lines.append(f"  identity  val {_pct(result['val_acc'])}, train "
                     f"{_pct(result['train_acc'])} (classification of the training identities)")
    else:
        what = "next-token accuracy, " if task == "language-model" else ""
        lines.append(f"  accuracy  test {_pct(result['test_acc'])}, val {_pct(result['val_acc'])}, "
                     f"train {_pct(result['train_acc'])} ({what}last epoch)")
    if task == "language-model":
        unit = data.get("token_unit") or "token"
        lines.append(f"  loss      test {_num(result.get('test_loss'), 4)}, "
                     f"val {_num(result.get('val_loss'), 4)} nats/{unit} (mean cross-entropy "
                     f"per {unit})")
        lines.append(f"  ppl       test {_num(result.get('test_ppl'))}, "
                     f"val {_num(result.get('val_ppl'))} (perplexity: exp of the mean token "
                     f"cross-entropy)")
    if "noise" in result:
        noise = result["noise"]
        lines.append(f"  noise     {100 * noise['rate']:.1f}% {noise['type']} label noise; "
                     f"{100 * noise['sampling_mass_on_noisy']:.1f}% of the samples drawn were "
                     f"mislabelled")
    if path is not None:
        lines.append(f"  result    {path}")
    return "\n".join(lines)


#: What ``num_classes`` counts, per task.
_CLASSES = {"language-model": "tokens in the vocabulary", "verification": "training identities"}


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table (readable as plain text too)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), rule, *map(fmt, cells[1:])])


def replace_marked_block(path: Path | str, marker: str, text: str, command: str) -> None:
    """Put ``text`` between the ``<!-- marker:start -->`` and ``<!-- marker:end -->`` lines of a
    document, with a comment naming the ``command`` that produced it (written atomically)."""
    from .errors import ConfigError
    from .files import write_atomic

    path = Path(path)
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    body = path.read_text()
    if start not in body or end not in body:
        raise ConfigError(f"{path} has no {start} ... {end} markers")
    head, rest = body.split(start, 1)
    _, tail = rest.split(end, 1)
    block = f"{start}\n<!-- produced by: {command} -->\n{text}\n{end}"
    write_atomic(path, lambda fh: fh.write((head + block + tail).encode()))
