"""Search workers sharing a study through PostgreSQL: a real server from the Debian packages
(``apt-get install postgresql``), started in a temporary directory for this module, and the
``psycopg`` driver (``pip install swiftsampler[postgres]``). Skipped, with the reason, where either
is missing or the server does not start."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from swiftsampler.config import RunConfig
from swiftsampler.search import SearchConfig, SwiftSearch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """``postgresql+psycopg://`` URL of a throw-away server (trust authentication, local only)."""
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed "
                                          "(pip install 'swiftsampler[postgres]')")
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not binaries:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    bin_dir = Path(binaries[-1]).parent
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="ss-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the packages' user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser to start PostgreSQL as another user")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)

    made = run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    if made.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
    started = run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                  f"-k {root} -p {port} -c listen_addresses=127.0.0.1", "start")
    if started.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server did not start: {started.stderr.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _config() -> RunConfig:
    return RunConfig().replace(dataset="synthetic", model="mlp", width=32, epochs=4, batch_size=32,
                               noise=0.3)


def test_a_search_on_postgres_resumes_and_matches_the_journal(postgres_url, tmp_path):
    cfg = _config()
    on_pg = SwiftSearch(cfg, SearchConfig(n_trials=3, search_algo="random", inner_epochs=1.0,
                                          storage=postgres_url), tmp_path / "pg").run()
    assert len(on_pg["trials"]) == 3
    more = SearchConfig(n_trials=4, search_algo="random", inner_epochs=1.0, storage=postgres_url)
    again = SwiftSearch(cfg, more, tmp_path / "pg2").run(resume=True)  # another worker's --resume
    assert [t["trial"] for t in again["trials"]] == [0, 1, 2, 3]
    assert [t["val_acc"] for t in again["trials"][:3]] == [t["val_acc"] for t in on_pg["trials"]]
    journal = SwiftSearch(cfg, SearchConfig(n_trials=4, search_algo="random", inner_epochs=1.0,
                                            storage=str(tmp_path / "study.journal")),
                          tmp_path / "journal").run()
    # trials are seeded by their number: the same study whatever the storage
    assert [t["val_acc"] for t in journal["trials"]] == [t["val_acc"] for t in again["trials"]]
