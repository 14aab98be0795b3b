"""The benchmark harness at tiny sizes: every scenario runs end to end and its correctness checks pass (no timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TEST_DATABASE_URL, TEST_REDIS_URL

# Its own database and Redis db, so it never touches the suite's (churns_test, db 15) or `make bench`'s
# (churns_bench, db 14). A suite pointed at another test database gets a smoke database named after it.
_SUITE_DATABASE = TEST_DATABASE_URL.rpartition("/")[2]
SMOKE_DATABASE = "churns_bench_smoke" if _SUITE_DATABASE == "churns_test" else f"{_SUITE_DATABASE}_bench_smoke"
# Likewise its Redis db: 13 beside the default suite (db 15), else one derived from the suite's own db, so
# suites run side by side (other checkouts) never share an arq queue.
_SUITE_REDIS_DB = int(TEST_REDIS_URL.rpartition("/")[2] or 0)
SMOKE_REDIS_DB = int(
    os.environ.get("CHURNS_BENCH_SMOKE_REDIS_DB", "13" if _SUITE_REDIS_DB == 15 else str((_SUITE_REDIS_DB - 9) % 16))
)
EXPECTED_ROWS = {
    "P1",
    "P1+",
    "P2",
    "P3a",
    "P3b",
    "P4",
    "P4+",
    "P5",
    "P5+",
    "P6.1",
    "P6.2",
    "P6.3",
    "P6.4",
    "P7",
    "P8a",
    "P8b",
    "P8c",
}


def test_bench_smoke_runs_every_scenario_correctly(tmp_path: Path) -> None:
    """`python -m bench --smoke` exits 0 and reports every scenario with all its checks passed."""
    out = tmp_path / "smoke.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--smoke",
        "--out",
        str(out),
        "--database",
        SMOKE_DATABASE,
        "--redis-db",
        str(SMOKE_REDIS_DB),
        "--pg",
        TEST_DATABASE_URL.rpartition("/")[0],
        "--redis",
        TEST_REDIS_URL.rpartition("/")[0],
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    output = f"--- stdout\n{done.stdout[-6000:]}\n--- stderr\n{done.stderr[-6000:]}"
    assert out.exists(), output
    report = json.loads(out.read_text())
    rows = {row["id"]: row for row in report["rows"]}
    assert set(rows) == EXPECTED_ROWS, output
    failed = {
        rid: row["error"] or [name for name, ok in row["checks"].items() if not ok]
        for rid, row in rows.items()
        if not row["ok"]
    }
    assert not failed, f"{failed}\n{output}"
    assert report["mode"] == "smoke" and report["all_checks_passed"]
    assert done.returncode == 0, output
