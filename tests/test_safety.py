"""Files we read run no code, files we write follow the umask, output paths are checked before work,
and a checkpoint that does not fit the run is one clear line."""

import os
import pickle

import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.engine import Trainer, train
from swiftsampler.engine.checkpoint import (
    CHECKPOINT_NAME,
    CHECKPOINT_VERSION,
    load_checkpoint,
    save_checkpoint,
)
from swiftsampler.errors import ConfigError
from swiftsampler.files import check_output_dir, write_json

TINY = ["--dataset", "synthetic", "--model", "mlp", "--width", "16", "--epochs", "2",
        "--progress", "off"]


def tiny_config(**changes):
    return RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=2, **changes)


class _Marker:
    """A pickle that, when loaded by an unsafe reader, creates a marker file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path, capsys, writer):
    marker = tmp_path / "marker"
    payload = {"version": CHECKPOINT_VERSION, "config": {}, "state": {"evil": _Marker(marker)}}
    out = tmp_path / "run"
    out.mkdir()
    with open(out / CHECKPOINT_NAME, "wb") as fh:
        (torch.save if writer == "torch.save" else pickle.dump)(payload, fh)
    assert main(["train", *TINY, "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is refused as unsafe or corrupt" in err
    assert not marker.exists()


def test_a_checkpoint_missing_a_part_or_of_the_wrong_shape_is_one_line(tmp_path):
    cfg = tiny_config(checkpoint_every=1)
    train(cfg, out_dir=tmp_path)
    saved = load_checkpoint(tmp_path / CHECKPOINT_NAME)

    def resume_with(checkpoint):
        save_checkpoint(tmp_path / CHECKPOINT_NAME, checkpoint)
        Trainer(cfg, out_dir=tmp_path).resume()

    no_model = {**saved["state"]}
    del no_model["model"]
    with pytest.raises(ConfigError, match="does not fit this run .*KeyError: 'model'"):
        resume_with({"config": saved["config"], "state": no_model})
    wrong_shapes = {**saved["state"], "model": {k: v[:1] for k, v in saved["state"]["model"].items()}}
    with pytest.raises(ConfigError, match="does not fit this run .*size mismatch"):
        resume_with({"config": saved["config"], "state": wrong_shapes})
    with pytest.raises(ConfigError, match="has no 'config' table"):
        resume_with({"config": [1, 2], "state": saved["state"]})
    with pytest.raises(ConfigError, match="not a swiftsampler checkpoint"):
        torch.save([1, 2], tmp_path / CHECKPOINT_NAME)
        Trainer(cfg, out_dir=tmp_path).resume()


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        result = write_json(tmp_path / "a" / "result.json", {"x": 1})
        checkpoint = save_checkpoint(tmp_path / "a" / "checkpoint.pt", {"config": {}, "state": {}})
    finally:
        os.umask(old)
    for path in (result, checkpoint):
        assert path.stat().st_mode & 0o777 == 0o640, path
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["checkpoint.pt", "result.json"]


def test_a_run_writes_its_results_readable_by_the_group(tmp_path):
    old = os.umask(0o002)
    try:
        assert main(["train", *TINY, "--checkpoint-every", "1", "--out", str(tmp_path / "r")]) == 0
    finally:
        os.umask(old)
    for name in ("result.json", CHECKPOINT_NAME):
        assert (tmp_path / "r" / name).stat().st_mode & 0o777 == 0o664


@pytest.mark.parametrize("command", ["train", "search", "compare"])
def test_an_output_path_that_is_a_file_is_refused_before_the_data_is_read(tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    # The data directory does not exist: reaching the data would give another error.
    data = ["--dataset", "cifar10", "--data-dir", str(tmp_path / "missing"), "--progress", "off"]
    for out, says in ((blocker, "is a file"), (blocker / "sub", "lies under")):
        assert main([command, *data, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and "--out" in err, err


def test_report_needs_a_directory_with_a_results_store(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "holds no results.db" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc")
def test_an_output_directory_that_cannot_be_created_is_one_line():
    with pytest.raises(ConfigError, match="--out: cannot write to /proc/self/swiftsampler"):
        check_output_dir("/proc/self/swiftsampler/run")


def test_a_failed_train_leaves_no_older_result_looking_current(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert (out / "result.json").exists()
    assert main(["train", *TINY, "--lr", "900", "--out", str(out)]) == 2  # diverges: NaN loss
    assert "training loss became nan" in capsys.readouterr().err
    assert not (out / "result.json").exists()


def test_a_model_too_big_for_memory_is_refused_before_allocation(tmp_path, capsys):
    assert main(["train", *TINY, "--width", "100000000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--width 100000000" in err and "GiB" in err
