"""The map and the API docs work under the server's Content-Security-Policy (no violation)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
BUSY_MACHINE_MS = 120_000  # waits are for events: generous on two busy cores

LiveServer = Any  # conftest.LiveServer
PageProbe = Any  # conftest.PageProbe


def violations(page: Any) -> list[str]:
    found: list[str] = page.evaluate("() => window.__cspViolations")
    return found


def test_map_works_under_csp(live_server: LiveServer, probe: PageProbe) -> None:
    page = probe.page
    page.set_default_timeout(BUSY_MACHINE_MS)
    response = page.goto(f"{live_server.url}/", timeout=BUSY_MACHINE_MS)
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    page.goto(f"{live_server.url}/?token={live_server.admin_token}")
    page.wait_for_function(
        "() => window.dronewatch && Object.keys(window.dronewatch.positions()).length >= 2"
    )
    # Through the parts that build DOM and styles at run time: a drone's detail panel, the
    # alert list, the zones layer.
    page.wait_for_selector("#conn.conn-live")  # the live stream (a WebSocket) is connected
    page.locator("#drone-list li[data-track-id]").first.click()
    page.wait_for_selector("#detail:not([hidden])")
    page.wait_for_selector("#alert-list li.alert", timeout=BUSY_MACHINE_MS)
    assert violations(page) == [], violations(page)
    assert not [e for e in probe.console_errors if "Content Security Policy" in e]
    assert not probe.errors, probe.errors
    # The recorder works and the policy holds: an injected inline script is refused.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = 1'; document.body.append(s); }"
    )
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert page.evaluate("() => window.__ran") is None
    assert "script-src" in violations(page)[0]


def test_api_docs_work_under_csp(live_server: LiveServer, probe: PageProbe) -> None:
    page = probe.page
    page.set_default_timeout(BUSY_MACHINE_MS)
    response = page.goto(f"{live_server.url}/docs", timeout=BUSY_MACHINE_MS)
    csp = response.headers["content-security-policy"]
    assert "'sha256-" in csp and "unsafe-inline" not in csp
    page.wait_for_selector(".swagger-ui .opblock")
    page.locator(".swagger-ui .opblock-summary", has_text="/api/me").first.click()
    page.wait_for_selector(".swagger-ui .opblock.is-open")
    page.click(".swagger-ui .btn.authorize")
    page.wait_for_selector(".swagger-ui .modal-ux")
    assert violations(page) == [], violations(page)
    assert not probe.errors, probe.errors
