"""Browser fixtures: the built web client served by the real app, Debian's Chromium under Playwright, a real worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from churns_gql.config import Settings
from churns_gql.worker import make_worker
from tests.conftest import ROOT, GraphQLClient

WEB_DIST = ROOT / "web" / "dist"
AXE_JS = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
# Debian's package, installed by `make browser`; Playwright's own browser download is never used.
CHROMIUM = Path("/usr/bin/chromium")
# Root in a container needs --no-sandbox; the rest keep Chromium from calling home or updating itself.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Generous for a loaded two-core machine; a passing run waits far less.
TIMEOUT_MS = 15_000


def _require(path: Path, what: str, how: str) -> Path:
    # A missing build must fail loudly: a skip would let `make test` go green without the browser tests.
    if not path.is_file():
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        pytest.fail(f"{what} is missing ({shown}): {how}", pytrace=False)
    return path


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The per-test settings, serving the built web client at `/`."""
    _require(
        WEB_DIST / "index.html",
        "the built web client",
        "run `cd web && npm ci && npm run build` (or `make test`, which builds it) before the browser tests",
    )
    return settings.with_changes(web_dir=WEB_DIST)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's headless Chromium driven by Playwright, shared by the session."""
    from playwright.async_api import async_playwright, expect

    _require(CHROMIUM, "Chromium", "run `make browser` (apt-get install chromium)")
    expect.set_options(timeout=TIMEOUT_MS)
    playwright = await async_playwright().start()
    chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield chromium
    await chromium.close()
    await playwright.stop()


@dataclass
class BrowserPage:
    """A page on the live server plus what went wrong inside it."""

    page: Any
    base_url: str
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def axe(self) -> list[dict[str, Any]]:
        """Run axe-core in the page; returns its serious and critical violations."""
        _require(AXE_JS, "axe-core", "run `cd web && npm ci`")
        if not await self.page.evaluate("() => typeof window.axe !== 'undefined'"):
            await self.page.add_script_tag(path=str(AXE_JS))
        results = await self.page.evaluate("() => axe.run(document, { resultTypes: ['violations'] })")
        return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]

    async def assert_accessible(self, where: str) -> None:
        """Fail with a readable list when axe finds a serious or critical violation."""
        violations = await self.axe()
        report = [
            f"{v['impact']} {v['id']}: {v['help']} -> "
            + "; ".join(f"{n['target']} {n.get('failureSummary', '')!r}" for n in v["nodes"][:5])
            for v in violations
        ]
        assert not violations, f"axe on {where}:\n" + "\n".join(report)

    async def screenshot(self, name: str, **options: Any) -> Path:
        """Save a PNG artifact under test-artifacts/ and return its path."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        await self.page.screenshot(path=str(path), **options)
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can tell a failed test at teardown."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
async def web(request: pytest.FixtureRequest, browser: Any, live_server: str) -> AsyncIterator[BrowserPage]:
    """A fresh browser context and page on the live server; uncaught page errors fail the test."""
    context = await browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, reduced_motion="reduce"
    )
    context.set_default_timeout(TIMEOUT_MS)
    if AXE_JS.is_file():
        # Init scripts are injected by the browser itself, so the page's CSP (no inline scripts) allows them.
        await context.add_init_script(path=str(AXE_JS))
    page = await context.new_page()
    wrapped = BrowserPage(page=page, base_url=live_server)
    page.on("pageerror", lambda exc: wrapped.errors.append(str(exc)))
    page.on("console", lambda msg: wrapped.console.append(f"{msg.type}: {msg.text}"))
    yield wrapped
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # What the page looked like when the test failed, and what the console said, for CI.
        await wrapped.screenshot(f"failed-{request.node.name}.png", full_page=True)
        (ARTIFACTS / f"failed-{request.node.name}.log").write_text("\n".join(wrapped.console))
    await context.close()
    assert not wrapped.errors, f"uncaught errors in the page: {wrapped.errors}"
    blocked = [line for line in wrapped.console if "Content Security Policy" in line]
    assert not blocked, f"the page's CSP blocked something the app needs: {blocked}"


@pytest.fixture
async def api(live_server: str) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client over real HTTP to the live server, for seeding and checking what the UI did."""
    async with httpx.AsyncClient(base_url=live_server, timeout=10) as http:
        yield GraphQLClient(http)


class WorkerControl:
    """A long-running arq worker on the test Redis that starts only when the test says so."""

    def __init__(self, worker_services: Any) -> None:
        self.worker_services = worker_services
        self.worker: Any = None
        self.task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        """Start polling the queue (idempotent)."""
        if self.task is None:
            self.worker = make_worker(self.worker_services)
            self.task = asyncio.create_task(self.worker.async_run())

    async def stop(self) -> None:
        """Stop the worker and close its Redis connection."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            await self.worker.close()
            self.task = None


@pytest.fixture
async def worker(worker_services: Any) -> AsyncIterator[WorkerControl]:
    """A gated worker with the offline provider: jobs stay QUEUED until `worker.start()`."""
    control = WorkerControl(worker_services)
    yield control
    await control.stop()
