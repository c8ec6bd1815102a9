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


def test_readme_own_loop_examples_run(capsys):
    first, second = [b for b in python_blocks()
                     if "SamplingSession(" in b and "init_process_group" not in b]
    namespace = {"__name__": "readme_example"}
    exec(compile(first, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    accuracy = float(out.split()[2])
    assert accuracy > 0.8 and "backward samples" in out
    exec(compile(second, "README.md", "exec"), namespace)  # selective backprop, same model
    words = capsys.readouterr().out.split()  # "B back-propagated of F forwarded"
    back_propagated, forwarded = int(words[0]), int(words[3])
    assert back_propagated == namespace["session"].meter.backward_samples
    assert forwarded > 2 * back_propagated


def test_readme_ddp_loop_is_the_tested_example():
    """The README's DDP loop (not runnable in one process) is, line for line, in
    examples/own_loop_ddp.py, which tests/test_examples.py runs under torchrun."""
    block = next(b for b in python_blocks() if "init_process_group" in b)
    example = (README.parent / "examples" / "own_loop_ddp.py").read_text()
    squeezed = " ".join(example.split())
    for line in block.splitlines():
        code = " ".join(line.split("#")[0].split())
        for statement in filter(None, (part.strip() for part in code.split(";"))):
            assert statement in squeezed, statement


def test_readme_conformance_example_is_a_test_class():
    block = next(b for b in python_blocks() if "SamplerConformance" in b)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["TestHardestFirst"].name == "hardest-first"


def readme_commands():
    """Every ``swiftsampler ...`` command in the README's bash blocks (continuation lines joined)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("swiftsampler ") and "..." not in line:
                commands.append(line.split()[1:])
    return commands


def test_readme_commands_parse():
    import shlex

    from swiftsampler.cli import build_parser

    commands = readme_commands()
    assert sum(c[0] == "train" for c in commands) >= 9
    for args in commands:
        build_parser().parse_args(shlex.split(" ".join(args)))  # an unknown flag exits


def test_readme_lists_every_dataset_with_a_command():
    from swiftsampler.data import list_datasets

    text = README.read_text()
    trained = {c[c.index("--dataset") + 1] for c in readme_commands() if "--dataset" in c}
    for name in list_datasets():
        assert f"| `{name}` |" in text, name
        if name not in ("digits", "synthetic"):
            assert name in trained, name
