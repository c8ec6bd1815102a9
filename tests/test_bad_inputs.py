"""Every row of the bad-input catalogue (tests/bad_inputs.py, docs/errors.md): exit status 2, exactly
one line on stderr naming the command, the expected words, no traceback, and the marker of a pickle
that would run code never created."""

from pathlib import Path

import pytest

from .bad_inputs import CASES, catalogue_markdown, normalised, run_case

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input_gets_one_clear_line(case, tmp_path):
    status, err = run_case(case, tmp_path)
    assert status == 2, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"swiftsampler {case.command}: error: ") or \
        err.startswith("swiftsampler: error: "), err
    assert "Traceback" not in err
    assert case.expect.replace("{tmp}", str(tmp_path)) in err, err
    assert not (tmp_path / "marker").exists()
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"


def test_the_catalogue_has_sixty_rows_and_the_docs_list_each(tmp_path):
    assert len(CASES) >= 60
    text = DOCS.read_text(encoding="utf-8")
    for case in CASES:
        assert f"| {case.what}: " in text, f"docs/errors.md lacks {case.what!r}"
    del catalogue_markdown, normalised  # the docs are written by `python -m tests.bad_inputs`
