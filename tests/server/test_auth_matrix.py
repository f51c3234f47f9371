"""Every API route x every way of sending a wrong or misplaced credential: 401, never data;
every role below a route's: 403. The route table must list every route the app serves, so a
new route cannot slip in unprotected."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import (
    ADMIN_TOKEN,
    OPERATOR_TOKEN,
    VIEWER_TOKEN,
    make_settings,
)

from dronewatch.server.app import create_app
from dronewatch.server.settings import Role

# (method, path, role needed). Path parameters are filled with "x".
ROUTES: list[tuple[str, str, Role]] = [
    ("GET", "/api/me", Role.VIEWER),
    ("GET", "/api/config", Role.VIEWER),
    ("GET", "/api/stats", Role.VIEWER),
    ("GET", "/metrics", Role.VIEWER),
    ("GET", "/api/drones", Role.VIEWER),
    ("GET", "/api/drones/{track_id}", Role.VIEWER),
    ("GET", "/api/drones/{track_id}/alerts", Role.VIEWER),
    ("GET", "/api/alerts", Role.VIEWER),
    ("GET", "/api/alerts/{alert_id}", Role.VIEWER),
    ("POST", "/api/alerts/{alert_id}/ack", Role.OPERATOR),
    ("POST", "/api/alerts/{alert_id}/comments", Role.OPERATOR),
    ("GET", "/api/zones", Role.VIEWER),
    ("GET", "/api/zones/{zone_id}", Role.VIEWER),
    ("POST", "/api/zones", Role.ADMIN),
    ("PUT", "/api/zones/{zone_id}", Role.ADMIN),
    ("DELETE", "/api/zones/{zone_id}", Role.ADMIN),
    ("GET", "/api/whitelist", Role.VIEWER),
    ("PUT", "/api/whitelist", Role.ADMIN),
    ("GET", "/api/sensors", Role.VIEWER),
    ("GET", "/api/history", Role.VIEWER),
    ("GET", "/api/time-range", Role.VIEWER),
    ("GET", "/api/export.geojson", Role.VIEWER),
    ("GET", "/api/export.kml", Role.VIEWER),
    ("GET", "/api/export.csv", Role.VIEWER),
]
OPEN = {("GET", "/health"), ("GET", "/basemap/{z}/{x}/{y}")}  # open by design: no personal data
BODIES: dict[str, Any] = {
    "/api/alerts/{alert_id}/comments": {"text": "hello"},
    "/api/alerts/{alert_id}/ack": {},
    "/api/whitelist": {"ids": []},
    "/api/zones": {"type": "Feature"},
    "/api/zones/{zone_id}": {"type": "Feature"},
}
TOKEN_OF = {Role.VIEWER: VIEWER_TOKEN, Role.OPERATOR: OPERATOR_TOKEN, Role.ADMIN: ADMIN_TOKEN}

# Every wrong or misplaced credential: (name, headers, query string).
Variant = tuple[str, list[tuple[str, str]], str]
VARIANTS: list[Variant] = [
    ("no credential", [], ""),
    ("Bearer without token", [("Authorization", "Bearer")], ""),
    ("Bearer and spaces", [("Authorization", "Bearer    ")], ""),
    ("unknown token", [("Authorization", "Bearer wrong-token-0123456789abc")], ""),
    ("token prefix", [("Authorization", f"Bearer {ADMIN_TOKEN[:-1]}")], ""),
    ("token extended", [("Authorization", f"Bearer {ADMIN_TOKEN}x")], ""),
    ("token case changed", [("Authorization", f"Bearer {ADMIN_TOKEN.swapcase()}")], ""),
    ("token percent-encoded", [("Authorization", f"Bearer {quote(ADMIN_TOKEN, safe='')}x")], ""),
    ("no scheme", [("Authorization", ADMIN_TOKEN)], ""),
    ("Token scheme", [("Authorization", f"Token {ADMIN_TOKEN}")], ""),
    (
        "Basic scheme",
        [("Authorization", "Basic " + base64.b64encode(f"admin:{ADMIN_TOKEN}".encode()).decode())],
        "",
    ),
    ("two tokens in one header", [("Authorization", f"Bearer {VIEWER_TOKEN},{ADMIN_TOKEN}")], ""),
    (
        "wrong header first, right one second",
        [
            ("Authorization", "Bearer wrong-token-0123456789abc"),
            ("Authorization", f"Bearer {ADMIN_TOKEN}"),
        ],
        "",
    ),
    ("token in the query", [], f"token={ADMIN_TOKEN}"),
    ("token in the query, escaped name", [], f"tok%65n={ADMIN_TOKEN}"),
    ("token in a cookie", [("Cookie", f"token={ADMIN_TOKEN}")], ""),
    ("token in other headers", [("X-Api-Key", ADMIN_TOKEN), ("X-Auth-Token", ADMIN_TOKEN)], ""),
    ("proxy identity headers", [("X-Forwarded-User", "admin"), ("X-Remote-User", "admin")], ""),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(make_settings(tmp_path_factory.mktemp("auth"), run_pipeline=False))
    with TestClient(app) as c:
        yield c


def _send(
    client: TestClient, method: str, path: str, headers: list[tuple[str, str]], query: str = ""
) -> Any:
    url = path.replace("{track_id}", "x").replace("{alert_id}", "x").replace("{zone_id}", "x")
    body = BODIES.get(path)
    return client.request(
        method,
        url + (f"?{query}" if query else ""),
        headers=headers,
        json=body if method in ("POST", "PUT") else None,
    )


def test_the_table_lists_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    served = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert served == {(m, p) for m, p, _ in ROUTES} | OPEN


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_every_route_refuses_a_wrong_credential(client: TestClient, variant: Variant) -> None:
    _, headers, query = variant
    for method, path, _role in ROUTES:
        r = _send(client, method, path, headers, query)
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json() == {"detail": "missing or invalid bearer token"}


def test_roles_below_the_route_are_refused(client: TestClient) -> None:
    for method, path, needed in ROUTES:
        for role, token in TOKEN_OF.items():
            r = _send(client, method, path, [("Authorization", f"Bearer {token}")])
            if role < needed:
                assert r.status_code == 403, (method, path, role, r.status_code)
                assert needed.label in r.json()["detail"]
            else:  # through auth: the route's own answer (data, 404 for "x", 422 body...)
                assert r.status_code not in (401, 403), (method, path, role, r.status_code)
                assert r.status_code < 500, (method, path, role, r.status_code)
    # Lower-case scheme and surrounding spaces are the same credential (RFC 7235).
    r = client.get("/api/me", headers={"Authorization": f"bearer   {VIEWER_TOKEN}  "})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
