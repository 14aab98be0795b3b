"""The module boundaries hold: the API process never loads the worker side, and the worker is built one way."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from churns_gql.config import Settings
from churns_gql.worker import make_worker, reap_lost_jobs, worker_settings

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (nothing imported yet) from the repository root."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )


def test_importing_the_app_never_imports_the_pipeline_or_a_provider():
    result = _python(
        "import churns_gql.app, sys\n"
        "loaded = [m for m in sys.modules if m.startswith(('churns_gql.pipeline', 'churns_gql.providers',"
        " 'churns_gql.worker'))]\n"
        "assert not loaded, loaded"
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_worker_reads_no_settings():
    # A setting that cannot be parsed fails only when settings are read, not when the module is imported.
    result = _python("import churns_gql.worker", CHURNS_REFINEMENT_TIMEOUT_S="not-a-number")
    assert result.returncode == 0, result.stderr


def _shape(options: dict) -> tuple:
    crons = [(c.name, c.coroutine, c.second, c.run_at_startup, c.unique) for c in options["cron_jobs"]]
    functions = [(f.name, f.coroutine, f.timeout_s, f.max_tries) for f in options["functions"]]
    return functions, crons, options["poll_delay"], options["max_jobs"], options["allow_abort_jobs"]


def test_the_cli_and_the_tests_build_the_same_worker(worker_services):
    cli = worker_settings(worker_services.settings)
    assert [c.coroutine for c in cli["cron_jobs"]] == [reap_lost_jobs]
    assert cli["on_startup"] is not None and "services" not in cli["ctx"]
    in_tests = worker_settings(worker_services.settings, worker_services)
    assert _shape(cli) == _shape(in_tests)
    assert in_tests["ctx"]["services"] is worker_services
    worker = make_worker(worker_services, burst=True)
    assert worker.poll_delay_s == cli["poll_delay"] and worker.burst
    assert [c.name for c in worker.cron_jobs] == ["reap_lost_jobs"]
    assert set(worker.functions) == {f.name for f in cli["functions"]} | {"reap_lost_jobs"}


def test_worker_settings_follow_the_settings_passed_in():
    options = worker_settings(Settings.defaults(refinement_timeout_s=7, redis_url="redis://127.0.0.1:6379/9"))
    assert {f.name: f.timeout_s for f in options["functions"]}["run_refinement"] == 7
    assert options["redis_settings"].database == 9


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the package found in `root`, with the contracts of the repository's pyproject.toml."""
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_the_import_contracts_hold():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _break(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """lint-imports on a copy of the package where `module` gained `line`."""
    shutil.copytree(ROOT / "churns_gql", tmp_path / "churns_gql", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "churns_gql" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return _lint_imports(tmp_path)


@pytest.mark.parametrize(
    "module, line, contract",
    [
        ("app.py", "import churns_gql.worker", "API and worker apart"),
        ("graphql/types.py", "import churns_gql.pipeline.executor", "API and worker apart"),
        ("services/runs.py", "import churns_gql.graphql.ids", "API and worker apart"),
        ("client.py", "import churns_gql.graphql.ids", "Only the app imports the GraphQL layer"),
        ("pipeline/stages/load_base_image.py", "from sqlalchemy import select", "SQL only in services"),
        ("reaper.py", "import asyncpg", "SQL only in services"),
        ("queue.py", "import churns_gql.providers", "queue client stays free of the worker side"),
    ],
)
def test_each_contract_catches_a_break(tmp_path, module, line, contract):
    result = _break(tmp_path, module, line)
    assert result.returncode != 0, result.stdout
    assert "Broken contracts" in result.stdout, result.stdout + result.stderr
    assert contract in result.stdout.split("Broken contracts", 1)[1], result.stdout


_QUERY_CALL = re.compile(r"\b(session|conn)\.(execute|scalars?|get|add|add_all|flush|delete|merge|fetch\w*)\(")
# Where queries may be sent: services, the stage_events repository, the engine helpers; cli.py's operator
# commands (creating the database, token admin) are the one exception the import contract also names.
_MAY_QUERY = ("services/", "events/", "db.py", "models.py", "cli.py")


def test_queries_are_sent_only_from_services():
    package = ROOT / "churns_gql"
    offenders = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(_MAY_QUERY):
            continue
        offenders += [
            f"{relative}:{n}: {line.strip()}"
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if _QUERY_CALL.search(line)
        ]
    assert offenders == []
