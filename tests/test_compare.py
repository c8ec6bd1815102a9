"""The comparison runner: grid expansion, the results store, resume, failures, the CLI end to end."""

import json
import sqlite3

import pytest

from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.errors import ConfigError
from swiftsampler.experiments import GridSpec, ResultStore, run_comparison
from swiftsampler.experiments import runner as runner_module

BASE = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=2, batch_size=32)


def small_grid(**changes):
    settings = dict(samplers=("uniform", "p-sgd"), budgets=(0.5, 1.0), models=("mlp",),
                    seeds=(0, 1), base=BASE)
    return GridSpec(**{**settings, **changes})


def test_grid_expands_every_combination_with_validated_configs():
    grid = small_grid(augments=("none", "mixup"), noises=(0.0, 0.2))
    runs = grid.runs()
    assert len(runs) == 2 * 2 * 2 * 2 * 2
    assert len({key for key, _, _ in runs}) == len(runs)
    key, spec, cfg = next(r for r in runs if r[1]["augment"] == "mixup" and r[1]["noise"] == 0.2)
    assert cfg.augment.augment == ["mixup"] and cfg.data.noise == 0.2 and cfg.seed == spec["seed"]
    with pytest.raises(ConfigError, match="--budget"):
        small_grid(budgets=(0.5, 2.0)).runs()
    with pytest.raises(ConfigError, match="--seeds: repeated"):
        small_grid(seeds=(0, 0))


def count_calls(monkeypatch):
    calls = []
    real = runner_module.train_one

    def counting(config):
        calls.append(config["sampler"]["sampler"])
        return real(config)

    monkeypatch.setattr(runner_module, "train_one", counting)
    return calls


def test_rerun_skips_done_runs_and_retries_failed_and_interrupted_ones(tmp_path, monkeypatch):
    grid = small_grid()
    calls = count_calls(monkeypatch)
    assert run_comparison(grid, tmp_path) == {"done": 8}
    assert len(calls) == 8
    run_comparison(grid, tmp_path)
    assert len(calls) == 8  # nothing left to do
    db = sqlite3.connect(tmp_path / "results.db")
    keys = [k for (k,) in db.execute("SELECT key FROM runs ORDER BY key")]
    db.execute("UPDATE runs SET status = 'failed', result = NULL WHERE key = ?", (keys[0],))
    db.execute("UPDATE runs SET status = 'running', result = NULL WHERE key = ?", (keys[1],))
    db.commit()
    db.close()
    assert run_comparison(grid, tmp_path) == {"done": 8}
    assert len(calls) == 10


def test_a_failing_run_is_recorded_and_the_others_go_on(tmp_path, monkeypatch):
    real = runner_module.train_one

    def flaky(config):
        if config["sampler"]["sampler"] == "p-sgd" and config["seed"] == 1:
            return "failed", "boom"
        return real(config)

    monkeypatch.setattr(runner_module, "train_one", flaky)
    counts = run_comparison(small_grid(), tmp_path)
    assert counts == {"done": 6, "failed": 2}
    store = ResultStore(tmp_path / "results.db")
    errors = [e for (e,) in store.db.execute("SELECT error FROM runs WHERE status = 'failed'")]
    assert errors == ["boom", "boom"]


def test_store_refuses_other_fixed_settings(tmp_path):
    run_comparison(small_grid(samplers=("uniform",), seeds=(0,)), tmp_path)
    with pytest.raises(ConfigError, match="other settings .*epochs"):
        run_comparison(small_grid(samplers=("uniform",), seeds=(0,),
                                  base=BASE.replace(epochs=3)), tmp_path)


def test_compare_cli_in_worker_processes_writes_the_report(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--samplers", "uniform,selective-backprop", "--budgets", "0.5,1.0",
                 "--seeds", "0,1", "--models", "mlp", "--dataset", "synthetic", "--epochs", "2",
                 "--batch-size", "32", "--jobs", "2", "--progress", "off", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "8 runs" in text and "report.md" in text
    db = sqlite3.connect(out / "results.db")
    rows = db.execute("SELECT status, result FROM runs").fetchall()
    assert len(rows) == 8 and {s for s, _ in rows} == {"done"}
    assert all(0 <= json.loads(r)["test_acc"] <= 1 for _, r in rows)
    report = (out / "report.md").read_text()
    assert "selective-backprop" in report and "**" in report
    assert (out / "report.csv").exists()
    assert main(["report", str(out)]) == 0


def test_compare_config_file_with_a_grid_table(tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('[grid]\nsamplers = ["uniform"]\nbudgets = [0.5]\nseeds = [0]\n'
                      'models = ["mlp"]\n[data]\ndataset = "synthetic"\n[budget]\nepochs = 2\n')
    out = tmp_path / "cmp"
    assert main(["compare", "--config", str(config), "--progress", "off", "--out", str(out)]) == 0
    db = sqlite3.connect(out / "results.db")
    (spec,) = [json.loads(s) for (s,) in db.execute("SELECT spec FROM runs")]
    assert spec["sampler"] == "uniform" and spec["budget"] == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid]\nsampler = [\"uniform\"]\n")
    assert main(["compare", "--config", str(bad), "--out", str(tmp_path / "x")]) == 2


def test_compare_with_a_given_card_trains_it_in_the_swift_cells_without_a_search(tmp_path, capsys):
    from swiftsampler.samplers import SamplerCard, SamplerFamily

    family = SamplerFamily(features=("loss",), n_knots=2)
    card = SamplerCard.create(family, [0.2, 1.0], transform="cdf").save(tmp_path / "card.json")
    out = tmp_path / "cmp"
    assert main(["compare", "--samplers", "uniform,swift", "--seeds", "0", "--models", "mlp",
                 "--dataset", "synthetic", "--epochs", "2", "--batch-size", "32", "--progress", "off",
                 "--sampler-card", str(card), "--out", str(out)]) == 0
    db = sqlite3.connect(out / "results.db")
    configs = {json.loads(s)["sampler"]: json.loads(c)
               for s, c in db.execute("SELECT spec, config FROM runs WHERE status = 'done'")}
    assert configs["swift"]["sampler"]["sampler_card"] == str(card.resolve())
    assert configs["uniform"]["sampler"]["sampler_card"] is None
    assert not (out / "cards").exists()  # nothing searched
    capsys.readouterr()
    (tmp_path / "broken.json").write_text("{")
    assert main(["compare", "--samplers", "swift", "--sampler-card", str(tmp_path / "broken.json"),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not valid JSON" in err[0]
    assert not (tmp_path / "x").exists()  # refused before anything was made
