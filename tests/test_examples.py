"""The runnable examples (examples/*.py) run, and print what they promise."""

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from swiftsampler.engine.threads import intra_op_threads

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, capsys):
    with intra_op_threads(1):
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return capsys.readouterr().out


def numbers(text):
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*\.?\d*", text)]


def test_every_example_is_tested():
    tested = {"own_loop_psgd.py", "own_loop_ddp.py", "own_loop_selective_backprop.py",
              "own_loop_infobatch_scheduler.py", "search_own_model.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_own_loop_with_psgd(capsys):
    out = run_example("own_loop_psgd.py", capsys)
    accuracy, backward, share, steps = numbers(out)
    assert accuracy > 0.9 and backward == 9000 and share == 30


def test_own_loop_under_torchrun_matches_one_process(capsys):
    """Two gloo ranks: the same budget, steps and accuracy as own_loop_psgd.py in one process."""
    root = EXAMPLES.parent
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "src"), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(EXAMPLES / "own_loop_ddp.py")],
                          env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy, backward, ranks, steps = numbers(done.stdout)
    assert accuracy > 0.9 and backward == 9000 and ranks == 2
    assert done.stdout.strip().endswith("statistics the same on every rank: True")
    alone = numbers(run_example("own_loop_psgd.py", capsys))
    assert steps == alone[3] and accuracy == pytest.approx(alone[0], abs=0.02)


def test_own_loop_with_selective_backprop_saves_backward_passes(capsys):
    out = run_example("own_loop_selective_backprop.py", capsys)
    accuracy, back_propagated, charged, forwarded, steps, uniform_steps = numbers(out)
    assert back_propagated == charged and forwarded > 3 * charged
    assert accuracy > 0.9 and uniform_steps <= steps <= 1.1 * uniform_steps


def test_own_loop_with_infobatch_has_true_epoch_lengths(capsys):
    out = run_example("own_loop_infobatch_scheduler.py", capsys)
    pairs = re.findall(r"\((\d+), (\d+)\)", out)
    assert len(pairs) == 8 and all(a == b for a, b in pairs)
    assert len({a for a, _ in pairs}) > 1  # pruned epochs are shorter
    assert numbers(out)[0] > 0.9


@pytest.mark.slow
def test_search_for_your_own_model(capsys):
    out = run_example("search_own_model.py", capsys)
    uniform, best = numbers(out)[:2]
    assert best >= uniform and "card parameters" in out
