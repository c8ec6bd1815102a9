"""Every row of the bad-input catalogue (tests/bad_inputs.py, docs/errors.md): exit status 2, exactly
one line on stderr naming the command, the expected words, no traceback, no temporary file left, the
marker of a pickle that would run code never created, and the message shown in the docs is current."""

from pathlib import Path

import pytest

from .bad_inputs import CASES, catalogue_cell, normalised, run_case

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gets_one_clear_line(case, tmp_path):
    status, err = run_case(case, tmp_path)
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith((f"swiftsampler {case.command}: error: ", "swiftsampler: error: ")), err
    assert "Traceback" not in err
    assert case.expect.replace("{tmp}", str(tmp_path)) in err, err
    assert not (tmp_path / "marker").exists()
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    shown = f"| `{catalogue_cell(normalised(err, tmp_path))}` |"
    assert shown in DOCS.read_text(encoding="utf-8"), \
        "docs/errors.md is out of date: run `.venv/bin/python -m tests.bad_inputs docs/errors.md`"


def test_the_catalogue_has_at_least_sixty_distinct_rows():
    assert len(CASES) >= 60
    assert len({c.what for c in CASES}) == len(CASES)
