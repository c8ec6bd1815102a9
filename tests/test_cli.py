"""The command line: bad input gives one line and no result; a real run writes result.json."""

import json
import os
import subprocess
import sys

import pytest

from swiftsampler.cli import main
from swiftsampler.config import flag, leaf_fields

FAST = ["--dataset", "synthetic", "--model", "mlp", "--epochs", "2", "--batch-size", "32",
        "--progress", "off"]


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist2d"], "unknown dataset 'mnist2d'"),
    (["--model", "resnet19"], "unknown model 'resnet19'"),
    (["--sampler", "unifrom"], "unknown sampler 'unifrom' (did you mean 'uniform'?)"),
    (["--budget", "0"], "--budget: must be in (0, 1], got 0.0"),
    (["--budget", "1.5"], "--budget: must be in (0, 1], got 1.5"),
    (["--budget", "-0.2"], "--budget: must be in (0, 1]"),
    (["--noise", "1"], "--noise: must be in [0, 1), got 1.0"),
    (["--noise", "-0.1"], "--noise: must be in [0, 1)"),
    (["--noise-type", "pairwise"], "--noise-type: must be symmetric or asymmetric"),
    (["--budget", "abc"], "argument --budget: expected float, got 'abc'"),
    (["--config", "/nonexistent/run.toml"], "does not exist"),
    (["--sampler-param", "beta=2"], "sampler 'uniform' has no parameter 'beta'"),
    (["--model", "resnet18"], "needs image inputs"),
])
def test_bad_input_one_line_nonzero_exit_and_no_result(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) if args[0] == "--budget" and args[1] == "abc" else _no_raise():
        code = main(["train", *FAST, "--out", str(out), *args])
        assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert message in err
    assert not (out / "result.json").exists()


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unreadable_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[budget\nbudget = 0.3\n")
    assert main(["train", *FAST, "--config", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid TOML" in err


def test_help_lists_every_setting_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for _, f in leaf_fields():
        name = flag(f.name)
        assert name in text, name
    assert "(default: mnist1d)" in text and "(default: 1.0)" in text


def test_config_file_then_flags(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('[budget]\nbudget = 0.5\nepochs = 3\n[data]\ndataset = "synthetic"\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--epochs", "2", "--model", "mlp",
                 "--progress", "off", "--out", str(out)]) == 0
    cfg = json.loads((out / "result.json").read_text())["config"]
    assert (cfg["budget"]["budget"], cfg["budget"]["epochs"]) == (0.5, 2)


def test_end_to_end_subprocess_run_writes_the_contract(tmp_path):
    out = tmp_path / "a"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftsampler", "train", *FAST, "--sampler", "uniform",
         "--budget", "0.3", "--noise", "0.2", "--seed", "0", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test" in proc.stdout and str(out / "result.json") in proc.stdout
    result = json.loads((out / "result.json").read_text())
    assert 0 <= result["test_acc"] <= 1 and 0 <= result["val_acc"] <= 1
    assert result["wall_s"] > 0
    assert set(result["cost"]) >= {"iterations", "forward_samples", "backward_samples"}
    assert result["config"]["budget"]["budget"] == 0.3
    assert result["noise"]["rate"] == pytest.approx(0.2, abs=0.01)
    assert 0 <= result["noise"]["sampling_mass_on_noisy"] <= 1
    assert not list(out.glob(".*.tmp"))


def test_mnist1d_end_to_end_reaches_a_real_accuracy(tmp_path):
    """A small MNIST-1D run through the CLI: generated data, cnn1d, budget 0.5, 8 epochs."""
    out = tmp_path / "mnist1d"
    assert main(["train", "--dataset", "mnist1d", "--num-samples", "4000", "--epochs", "8",
                 "--budget", "0.5", "--progress", "off", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["data"]["input_shape"] == [1, 40] and result["data"]["num_classes"] == 10
    assert result["test_acc"] > 0.8  # chance is 0.1; this run gets about 0.87


def test_compare_searches_swift_cells_with_the_search_default_trials():
    """A comparison's swift cells get the search users get from ``swiftsampler search``."""
    import inspect

    from swiftsampler.cli import build_parser
    from swiftsampler.experiments import run_comparison
    from swiftsampler.search import SearchConfig

    parser = build_parser()
    compare = parser.parse_args(["compare", "--preset", "demo", "--out", "x"])
    search = parser.parse_args(["search", "--out", "x"])
    assert compare.search_trials == search.n_trials == SearchConfig().n_trials
    assert inspect.signature(run_comparison).parameters["search_trials"].default == SearchConfig().n_trials
