"""What runs tell the outside world: metrics.csv, one line per epoch / trial / run off a terminal,
TensorBoard event files that TensorBoard's own reader loads, and results as a pandas DataFrame."""

import csv
import sqlite3

import pytest

import swiftsampler
from swiftsampler.cli import main

TINY = ["--dataset", "synthetic", "--model", "mlp", "--width", "16", "--epochs", "3"]


def scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = folder.glob("events.out.tfevents.*")
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def test_train_off_a_terminal_prints_one_line_per_epoch_and_writes_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--log", "tensorboard"]) == 0
    err = capsys.readouterr().err.splitlines()  # pytest's stderr is not a terminal
    assert [line.split(",")[0] for line in err] == [f"swiftsampler train: epoch {e}" for e in (1, 2, 3)]
    assert "100% of the budget" in err[-1] and "val acc" in err[-1] and "left" in err[-1]
    with open(out / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"progress", "lr", "train_loss", "val_acc", "backward_samples"} <= set(rows[0])
    logged = scalars(out / "tensorboard", "val_acc")
    assert [round(v, 5) for _, v in logged] == [round(float(r["val_acc"]), 5) for r in rows]
    assert [s for s, _ in logged] == [int(r["iterations"]) for r in rows]


def test_metrics_csv_holds_every_epoch_after_a_resume(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *TINY, "--epochs", "4", "--checkpoint-every", "1", "--out", str(out),
            "--progress", "off"]
    assert main(args) == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert main([*args, "--resume"]) == 0  # resumes at the end: nothing left to train
    assert (out / "metrics.csv").read_text().splitlines() == rows and len(rows) == 5


def test_search_off_a_terminal_prints_one_line_per_trial(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["search", *TINY, "--n-trials", "3", "--no-plots", "--out", str(out),
                 "--log", "tensorboard"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if ": trial " in line]
    assert [line.split(":")[1].strip() for line in lines] == [f"trial {t} of 3" for t in range(3)]
    assert len(scalars(out / "tensorboard", "val_acc")) == 3


def test_compare_lines_tensorboard_and_load_results(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["compare", *TINY, "--samplers", "uniform,p-sgd", "--seeds", "0", "--out", str(out),
                 "--log", "tensorboard"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if " ended: " in line]
    assert len(lines) == 2 and "run 2 of 2 ended" in lines[-1]
    folders = sorted((out / "runs").iterdir())
    assert len(folders) == 2 and all(len(scalars(f / "tensorboard", "train_loss")) == 3
                                     for f in folders)
    frame = swiftsampler.load_results(out)
    assert list(frame.columns[:10]) == ["key", "status", "dataset", "model", "sampler", "augment",
                                         "budget", "noise", "noise_type", "seed"]
    assert sorted(frame["sampler"]) == ["p-sgd", "uniform"] and set(frame["status"]) == {"done"}
    with sqlite3.connect(out / "results.db") as db:
        stored = dict(db.execute("SELECT key, json_extract(result, '$.test_acc') FROM runs"))
    assert dict(zip(frame["key"], frame["test_acc"])) == pytest.approx(stored)


def test_load_results_of_run_folders(tmp_path, capsys):
    for seed in (0, 1):
        assert main(["train", *TINY, "--seed", str(seed), "--progress", "off",
                     "--out", str(tmp_path / f"seed{seed}")]) == 0
    frame = swiftsampler.load_results(tmp_path)
    assert list(frame["seed"]) == [0, 1] and frame["test_acc"].between(0, 1).all()
    assert swiftsampler.load_results(tmp_path / "seed1")["seed"].tolist() == [1]


def test_wandb_logs_every_epoch_to_an_offline_run(tmp_path, monkeypatch):
    """``--log wandb`` with W&B's own offline mode: one run under DIR/wandb whose summary holds the
    last epoch's values, and whose log file names the history fields."""
    pytest.importorskip("wandb")
    from swiftsampler.logs import WandB

    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--log", "wandb", "--progress", "off"]) == 0
    (log,) = out.glob("wandb/offline-run-*/run-*.wandb")
    written = log.read_bytes()
    assert b"val_acc" in written and b"train_loss" in written
    with open(out / "metrics.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    logger = WandB(tmp_path / "again", step_key="iterations")
    logger({"iterations": 11, "val_acc": 0.5, "train_loss": 1.25, "sampler": "uniform"})
    logger({"iterations": 22, "val_acc": float(last["val_acc"]), "train_loss": 0.75})
    assert logger.run.summary["val_acc"] == pytest.approx(float(last["val_acc"]))
    assert logger.run.summary["train_loss"] == 0.75
    assert "sampler" not in logger.run.summary.keys()  # scalars only
    logger.close()
