"""Browser-test fixtures: the real dronewatch server on the demo scenario, and Chromium.

The server runs in this process (uvicorn in a thread) on a free loopback port with a fresh
SQLite database; the browser is Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_TOKEN = "web-admin-Jv3Qp8Lz1Rk6Wn4T"
VIEWER_TOKEN = "web-viewer-Fh2Md7Xs9Bc5Gy0E"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@dataclass(slots=True)
class LiveServer:
    url: str
    settings: Any
    admin_token: str = ADMIN_TOKEN
    viewer_token: str = VIEWER_TOKEN
    screenshots: Path = SCREENSHOTS


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# The demo scenario at this many times real time, so that its drone reaches the aerodrome
# protection zone (about 130 s into the scenario) within the tests' time budget.
DEMO_SPEED = 4.0


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real server on the demo scenario with the settings of ``dronewatch demo``, in this
    process (uvicorn in a thread), with a viewer and an admin token."""
    from dronewatch.cli.serve import DEMO_SCENARIO
    from dronewatch.server.demo import scenario_center
    from dronewatch.server.settings import Principal, Role, Settings
    from dronewatch.sim import load_scenario

    db = tmp_path_factory.mktemp("web-db") / "dronewatch.sqlite"
    settings = Settings(
        db=str(db),
        tokens={
            ADMIN_TOKEN: Principal("admin", Role.ADMIN),
            VIEWER_TOKEN: Principal("viewer", Role.VIEWER),
        },
        scenario=DEMO_SCENARIO,
        zones_file=load_scenario(DEMO_SCENARIO).zones_path(),
        center=scenario_center(DEMO_SCENARIO),
        zoom=12,
        speed=DEMO_SPEED,
        retention_days=None,
    )
    with serve(settings) as (url, _app):
        yield LiveServer(url=url, settings=settings)


@contextlib.contextmanager
def serve(settings: Any) -> Iterator[tuple[str, Any]]:
    """The app of ``settings`` served by uvicorn in a thread on a free loopback port:
    (base URL, app)."""
    import uvicorn

    from dronewatch.server.app import create_app

    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-web-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dronewatch server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# Every Content-Security-Policy violation of a page, in window.__cspViolations and as a
# console error (so that every test asserting no console error also asserts no violation).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const what = `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(what);
  console.error(`CSP violation: ${what}`);
});
"""


@dataclass(slots=True)
class PageProbe:
    """A page with everything it requested and every script error recorded."""

    page: Any
    requests: list[str]
    errors: list[str]
    console_errors: list[str]


@pytest.fixture()
def probe(browser: Any) -> Iterator[PageProbe]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    rec = PageProbe(page=page, requests=[], errors=[], console_errors=[])
    page.on("console", lambda m: rec.console_errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: rec.requests.append(r.url))
    page.on("websocket", lambda ws: rec.requests.append(ws.url))
    page.on("pageerror", lambda e: rec.errors.append(str(e)))
    page.set_default_timeout(15000)
    try:
        yield rec
    finally:
        context.close()


def _screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.fixture()
def screenshot() -> Any:
    """``screenshot(page, name)`` -> test-output/screenshots/NAME.png."""
    return _screenshot
