"""Security headers on every response: CSP, no framing, nosniff, no referrer, no-store on the
API (the browser side is tests/web/test_csp.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, VIEWER, make_settings

from dronewatch.server.app import content_security_policy, create_app

COMMON = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path_factory.mktemp("headers"), run_pipeline=False))
    with TestClient(app) as c:
        yield c


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


def test_every_kind_of_response_has_the_headers(client: TestClient) -> None:
    responses = {
        "api": client.get("/api/me", headers=VIEWER),
        "api 401": client.get("/api/me"),
        "api 404": client.get("/api/zones/none", headers=VIEWER),
        "api 422 (NUL, refused by a middleware)": client.get("/api/drones/a%00", headers=VIEWER),
        "api 413 (refused by a middleware)": client.put(
            "/api/whitelist", headers=ADMIN, content=b"x" * (2 << 20)
        ),
        "health": client.get("/health"),
        "map page": client.get("/"),
        "openapi": client.get("/openapi.json"),
        "static": client.get("/static/js/main.js"),
        "static 404": client.get("/static/nope.js"),
    }
    for what, r in responses.items():
        for name, value in COMMON.items():
            assert r.headers.get(name) == value, (what, name, r.headers.get(name))
        csp = directives(r.headers["content-security-policy"])
        assert csp["default-src"] == ["'self'"] and csp["script-src"] == ["'self'"], what
        assert csp["style-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"], what
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"], what
        assert "strict-transport-security" not in r.headers  # plain HTTP here
        if what.startswith("static"):
            assert "no-store" not in r.headers.get("cache-control", ""), what
        else:
            assert r.headers["cache-control"] == "no-store", what
    assert responses["api 422 (NUL, refused by a middleware)"].status_code == 422
    assert responses["api 413 (refused by a middleware)"].status_code == 413


def test_docs_pages_allow_exactly_their_inline_scripts(client: TestClient) -> None:
    for url in ("/docs", "/docs/oauth2-redirect"):
        r = client.get(url)
        scripts = re.findall(r"<script>(.*?)</script>", r.text, flags=re.DOTALL)
        assert scripts, url
        expected = [
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in scripts
        ]
        csp = directives(r.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'", *expected], url
        assert csp["frame-ancestors"] == ["'none'"] and csp["style-src"] == ["'self'"]


def test_tile_host_may_serve_images() -> None:
    def img(tile_url: str | None) -> list[str]:
        return directives(content_security_policy(tile_url))["img-src"]

    assert img(None) == ["'self'", "data:", "blob:"]
    assert img("https://tile.example.org/{z}/{x}/{y}.png")[-1] == "https://tile.example.org"
    assert img("https://{s}.tile.example.org/{z}/{x}/{y}.png")[-1] == "https://*.tile.example.org"
    assert img("http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png")[-1] == "http://127.0.0.1:8081"
    assert img("https://{host}/{z}/{x}/{y}.png")[-1] == "https:"
    assert img("https://evil.org; script-src *")[-1] == "https:"  # never a second directive


def test_settings_tile_url_reaches_the_header(tmp_path: Path) -> None:
    app = create_app(
        make_settings(
            tmp_path, run_pipeline=False, tile_url="https://{s}.tiles.example/{z}/{x}/{y}.png"
        )
    )
    with TestClient(app) as c:
        csp = directives(c.get("/").headers["content-security-policy"])
    assert csp["img-src"][-1] == "https://*.tiles.example"
    assert csp["script-src"] == ["'self'"]
