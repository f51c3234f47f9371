"""The API docs page (/docs) in a real browser with every other host blocked: it must render."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
LiveServer = Any  # conftest.LiveServer
PageProbe = Any  # conftest.PageProbe


def operation_count(server: LiveServer) -> int:
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as r:
        schema = json.load(r)
    return sum(1 for item in schema["paths"].values() for method in item if method in HTTP_METHODS)


def test_docs_render_offline(live_server: LiveServer, probe: PageProbe, screenshot: Any) -> None:
    page = probe.page
    port = urlsplit(live_server.url).port
    blocked: list[str] = []

    def only_this_server(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.hostname in LOCAL_HOSTS and parts.port == port:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{live_server.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    page.wait_for_function(
        "n => document.querySelectorAll('.swagger-ui .opblock').length >= n",
        arg=operation_count(live_server),
    )
    screenshot(page, "api-docs")

    assert page.locator(".swagger-ui .opblock").count() == operation_count(live_server)
    assert page.locator(".swagger-ui .opblock-summary-path", has_text="/api/drones").count() >= 1
    assert "dronewatch" in page.locator(".swagger-ui .info .title").inner_text()
    # Styled by the vendored CSS (unstyled, a GET block has no coloured border).
    border = page.eval_on_selector(
        ".swagger-ui .opblock.opblock-get", "e => getComputedStyle(e).borderTopColor"
    )
    assert border not in ("", "rgb(0, 0, 0)", "rgba(0, 0, 0, 0)")
    assert blocked == [], f"/docs tried other hosts: {blocked}"
    assert probe.errors == [], probe.errors
    assert any(u.endswith("/static/vendor/swagger-ui/swagger-ui-bundle.js") for u in probe.requests)
