"""The README's Python examples run as written."""

import re
from pathlib import Path

from swiftsampler.config import RunConfig
from swiftsampler.engine import train

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_custom_sampler_example_registers_and_trains():
    block = next(b for b in python_blocks() if "SAMPLERS.register" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=3,
                              batch_size=32, budget=0.5, sampler="hardest-first")
    result = train(cfg)
    assert result["cost"]["backward_samples"] == 3 * round(0.5 * result["data"]["num_train"])
    assert result["test_acc"] > 0.8


def test_readme_engine_example_runs(capsys):
    block = next(b for b in python_blocks() if "result = train(cfg)" in b)
    exec(compile(block, "README.md", "exec"), {})
    acc, backward = capsys.readouterr().out.split()
    assert float(acc) > 0.95 and int(backward) == 20 * 5400


def test_readme_own_loop_example_runs(capsys):
    block = next(b for b in python_blocks() if "SamplingSession(" in b)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out
    accuracy = float(out.split()[2])
    assert accuracy > 0.8 and "backward samples" in out
