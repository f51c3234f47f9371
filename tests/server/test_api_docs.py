"""The interactive API docs (/docs): Swagger UI served from the package's own files, no CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import VIEWER, make_settings

from dronewatch.server.app import create_app
from dronewatch.web import STATIC_DIR

SWAGGER_UI = STATIC_DIR / "vendor" / "swagger-ui"
CONTENT_TYPES = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
    ".svg": {"image/svg+xml"},
    ".png": {"image/png"},
}
ABSOLUTE_URL = re.compile(r"""https?://[^\s"'<>)]*""", re.IGNORECASE)


class AssetLinks(HTMLParser):
    """Every URL the page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def asset_urls(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    return parser.urls


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path_factory.mktemp("docs"), run_pipeline=False))
    with TestClient(app) as c:
        yield c


def test_docs_page_loads_only_local_assets(client: TestClient) -> None:
    r = client.get("/docs")  # no token: the page holds no data, as before
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in r.text
    assert "url: '/openapi.json'" in r.text
    urls = asset_urls(r.text)
    assert {
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/vendor/swagger-ui/swagger-ui.css",
        "/static/favicon.svg",
    } <= set(urls)
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"/docs loads {url}"
        assert url.startswith("/static/"), url
    # Nor anything absolute in the inline script (e.g. Swagger UI's online validator).
    assert ABSOLUTE_URL.findall(r.text) == []
    assert "validatorUrl" in r.text and "null" in r.text


def test_docs_assets_are_served_with_their_content_types(client: TestClient) -> None:
    urls = asset_urls(client.get("/docs").text)
    assert len(urls) >= 3
    for url in urls:
        r = client.get(url)  # no token, like the map's static files
        assert r.status_code == 200, url
        media_type = r.headers["content-type"].split(";")[0].strip()
        assert media_type in CONTENT_TYPES[Path(url).suffix], (url, media_type)
        assert r.content == (STATIC_DIR / url.removeprefix("/static/")).read_bytes(), url
    bundle = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle=" in bundle  # the global the page calls


def test_docs_schema_and_auth_unchanged(client: TestClient) -> None:
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert "/api/drones" in schema.json()["paths"]
    assert "/docs" not in schema.json()["paths"]  # the docs routes stay out of the schema
    # The API itself still needs a token; the docs page does not hand one out.
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers=VIEWER).status_code == 200
    assert client.get("/api/me", headers={"Authorization": "Basic x"}).status_code == 401
    # The bearer scheme is declared, so the page's "Authorize" button can send a token.
    doc = schema.json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"HTTPBearer": []} in doc["paths"]["/api/drones"]["get"]["security"]


def test_oauth2_redirect_page_is_kept(client: TestClient) -> None:
    r = client.get("/docs/oauth2-redirect")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "oauth2" in r.text.lower()
    assert asset_urls(r.text) == []
    assert "oauth2RedirectUrl: window.location.origin + '/docs/oauth2-redirect'" in (
        client.get("/docs").text
    )


def test_redoc_is_not_served(client: TestClient) -> None:
    """FastAPI's ReDoc page loads its script and fonts from CDNs: disabled, not left broken."""
    assert client.get("/redoc").status_code == 404


def test_docs_under_a_root_path(tmp_path: Path) -> None:
    """Behind a proxy mounting the app at a prefix, the page's URLs carry the prefix."""
    app = create_app(make_settings(tmp_path, run_pipeline=False))
    with TestClient(app, root_path="/dronewatch") as c:
        r = c.get("/docs")
        assert r.status_code == 200
        urls = asset_urls(r.text)
        assert "/dronewatch/static/vendor/swagger-ui/swagger-ui-bundle.js" in urls
        assert all(u.startswith("/dronewatch/static/") for u in urls), urls
        assert "url: '/dronewatch/openapi.json'" in r.text
        for url in urls:
            assert c.get(url).status_code == 200, url


def test_vendored_swagger_ui_is_listed_and_licensed() -> None:
    # (the checksums of every vendored file are checked in tests/web/test_static.py)
    vendor = SWAGGER_UI.parent
    listed = {line.split(maxsplit=1)[1] for line in (vendor / "SHA256SUMS").read_text().splitlines()}
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"):
        assert f"./swagger-ui/{name}" in listed, name
    assert "Apache License" in (SWAGGER_UI / "LICENSE").read_text(encoding="utf-8")
    assert "swagger-ui-dist 5.35.0 (Apache-2.0" in (vendor / "VERSIONS.txt").read_text()
