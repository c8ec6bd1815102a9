"""Shared fixtures: every test gets its own dataset cache, so nothing is written outside tmp dirs."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SWIFTSAMPLER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
