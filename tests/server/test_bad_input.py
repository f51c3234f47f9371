"""Bad input never gives 500, on SQLite and on PostgreSQL (issue 16, "The API answers 500").

Every case below was a 500 (or a silent acceptance) before the API bounded its input; each is
sent to the same app on both databases.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, OPERATOR, VIEWER, make_settings
from tests.store.pgutil import pg_databases

from dronewatch.server.app import create_app
from dronewatch.store import WriteBatch

POINT_ZONE: dict[str, Any] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [6.6, 46.5]},
    "properties": {"name": "Stadium", "radius_m": 500},
}


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def zone_with(**props: Any) -> dict[str, Any]:
    return dict(POINT_ZONE, properties={**POINT_ZONE["properties"], **props})


def raw_zone(props_json: str) -> bytes:
    """A zone body whose properties are ``props_json`` verbatim (JSON the json module will
    not write: lone surrogates, huge integers)."""
    return (
        '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [6.6, 46.5]}, '
        f'"properties": {props_json}}}'
    ).encode()


# (name, method, path, kwargs for the client, statuses accepted)
Case = tuple[str, str, str, dict[str, Any], set[int]]
BAD: list[Case] = [
    # malformed zone bodies (500 on SQLite before)
    ("zone POST 2,000-deep JSON", "POST", "/api/zones", {"content": deep(2000)}, {400, 422}),
    ("zone PUT 2,000-deep JSON", "PUT", "/api/zones/z1", {"content": deep(2000)}, {400, 422}),
    (
        "zone POST 2,000-deep in a property",
        "POST",
        "/api/zones",
        {"content": raw_zone('{"name": "x", "radius_m": 5, "description": ' + deep(2000) + "}")},
        {400, 422},
    ),
    (
        "zone POST lone surrogate",
        "POST",
        "/api/zones",
        {"content": raw_zone('{"name": "a\\ud800b", "radius_m": 5}')},
        {422},
    ),
    (
        "zone PUT lone surrogate",
        "PUT",
        "/api/zones/z1",
        {"content": raw_zone('{"name": "a\\udfffb", "radius_m": 5}')},
        {422},
    ),
    (
        "zone POST 4,301-digit integer",
        "POST",
        "/api/zones",
        {"content": raw_zone('{"name": "x", "radius_m": ' + "9" * 4301 + "}")},
        {422},
    ),
    (
        "zone PUT 4,301-digit integer",
        "PUT",
        "/api/zones/z1",
        {"content": raw_zone('{"name": "x", "radius_m": ' + "9" * 4301 + "}")},
        {422},
    ),
    (
        "zone POST NaN",
        "POST",
        "/api/zones",
        {"content": raw_zone('{"name": "x", "radius_m": NaN}')},
        {400, 422},
    ),
    # absurd values (accepted before)
    ("zone radius_m 1e300", "POST", "/api/zones", {"json": zone_with(radius_m=1e300)}, {422}),
    ("zone 900 KB name", "POST", "/api/zones", {"json": zone_with(name="n" * 900_000)}, {422}),
    (
        "zone 900 KB description",
        "PUT",
        "/api/zones/z1",
        {"json": zone_with(description="d" * 900_000)},
        {422},
    ),
    ("zone max_alt_m 1e300", "PUT", "/api/zones/z1", {"json": zone_with(max_alt_m=1e300)}, {422}),
    ("zone NUL in name", "PUT", "/api/zones/z1", {"json": zone_with(name="a\x00b")}, {422}),
    ("zone NUL in id", "POST", "/api/zones", {"json": dict(POINT_ZONE, id="z\x00")}, {422}),
    # NUL bytes (500 on PostgreSQL before)
    ("NUL in q", "GET", "/api/drones", {"params": {"q": "a\x00b"}}, {422}),
    ("NUL in history q", "GET", "/api/history", {"params": {"q": "\x00"}}, {422}),
    ("NUL in alert track_id", "GET", "/api/alerts", {"params": {"track_id": "\x00"}}, {422}),
    ("NUL in a drone id", "GET", "/api/drones/a%00b", {}, {422}),
    ("NUL in a drone's alerts", "GET", "/api/drones/a%00b/alerts", {}, {422}),
    ("NUL in an alert id", "GET", "/api/alerts/a%00b", {}, {422}),
    ("NUL in a zone id", "GET", "/api/zones/a%00b", {}, {422}),
    ("NUL in a zone id (DELETE)", "DELETE", "/api/zones/a%00b", {}, {422}),
    ("NUL in an ack", "POST", "/api/alerts/a%00b/ack", {"json": {}}, {422}),
    (
        "NUL in a comment",
        "POST",
        "/api/alerts/a1/comments",
        {"json": {"text": "a\x00b"}},
        {422},
    ),
    (
        "NUL in an ack comment",
        "POST",
        "/api/alerts/a1/ack",
        {"json": {"comment": "a\x00b"}},
        {422},
    ),
    ("NUL in the whitelist", "PUT", "/api/whitelist", {"json": {"ids": ["a\x00b"]}}, {422}),
    (
        "lone surrogate in a comment",
        "POST",
        "/api/alerts/a1/comments",
        {"content": b'{"text": "a\\ud800"}'},
        {422},
    ),
    (
        "lone surrogate in the whitelist",
        "PUT",
        "/api/whitelist",
        {"content": b'{"ids": ["\\udc00"]}'},
        {422},
    ),
    (
        "4,301-digit integer in the whitelist",
        "PUT",
        "/api/whitelist",
        {"content": b'{"ids": [' + b"9" * 4301 + b"]}"},
        {400, 422},
    ),
    (
        "2,000-deep comment body",
        "POST",
        "/api/alerts/a1/comments",
        {"content": deep(2000).encode()},
        {400, 422},
    ),
    ("a 60 KB track id", "GET", "/api/drones/" + "x" * 60_000, {}, {404, 414, 422}),
]


def _seed(app: Any) -> None:
    """Two tracks, one alert (so that ids exist for the routes that look them up)."""
    batch = WriteBatch()
    for tid, uas in (("rid:AAA", "AAA-1"), ("rid:BBB", "BBB_2")):
        batch.tracks[tid] = {
            "track_id": tid,
            "first_seen": 1.7e9,
            "last_seen": 1.7e9 + 10,
            "uas_id": uas,
            "lat": 46.5,
            "lon": 6.6,
        }
    batch.alerts.append(
        {
            "alert_id": "a1",
            "rule": "zone",
            "severity": "warning",
            "status": "open",
            "track_id": "rid:AAA",
            "time": 1.7e9,
            "message": "m",
            "details": {},
        }
    )
    app.state.ctx.store.write(batch)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("bad-input")
    pg = pg_databases() if request.param == "postgres" else contextlib.nullcontext(None)
    with pg as make:
        db = make() if make is not None else str(tmp / "dw.db")
        app = create_app(make_settings(tmp, db=db, run_pipeline=False))
        _seed(app)
        try:
            with TestClient(app, raise_server_exceptions=False) as c:
                yield c
        finally:
            app.state.ctx.store.close()


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_not_500(client: TestClient, case: Case) -> None:
    _name, method, path, kwargs, statuses = case
    r = client.request(method, path, headers=ADMIN, **kwargs)
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert isinstance(r.json()["detail"], str | list)
    # Nothing half-written: the store still answers and holds no zone from a refused body.
    assert client.get("/api/zones/z1", headers=VIEWER).status_code == 404


def test_like_wildcards_match_themselves(client: TestClient) -> None:
    q = lambda text: sorted(  # noqa: E731
        d["uas_id"] for d in client.get("/api/drones", headers=VIEWER, params={"q": text}).json()
    )
    assert q("%") == [] and q("_") == ["BBB_2"] and q("\\") == []
    assert q("A-") == ["AAA-1"] and q("b_2") == ["BBB_2"] and q("") == ["AAA-1", "BBB_2"]
    assert q("a%1") == [] and q("_%") == []
    hist = client.get(
        "/api/history", headers=VIEWER, params={"q": "%", "from": 1.7e9, "to": 1.7e9 + 20}
    )
    assert hist.status_code == 200 and hist.json()["tracks"] == []


def test_good_values_still_pass(client: TestClient) -> None:
    """The bounds refuse absurd input only: real zones, comments and ids go through."""
    long_name = "Aéroport de Paris-Orly, zone de protection 🛩 " * 4
    r = client.put(
        "/api/zones/ok-zone",
        headers=ADMIN,
        json=zone_with(
            name=long_name.strip(), radius_m=25_000, max_alt_m=150, description="d" * 2000
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["name"] == long_name.strip()
    assert client.delete("/api/zones/ok-zone", headers=ADMIN).status_code == 204
    r = client.post("/api/alerts/a1/comments", headers=OPERATOR, json={"text": "été 🚁 ok"})
    assert r.status_code == 200 and r.json()["comments"][-1]["text"] == "été 🚁 ok"
    r = client.put("/api/whitelist", headers=ADMIN, json={"ids": ["1581F5FJD239C00DW22E"]})
    assert r.status_code == 200
    client.put("/api/whitelist", headers=ADMIN, json={"ids": []})


def test_body_json_text(client: TestClient) -> None:
    """The whole body is read as JSON once: not JSON -> 400, an array -> 422."""
    r = client.post("/api/zones", headers=ADMIN, content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["detail"]
    assert client.post("/api/zones", headers=ADMIN, content=b"\xff\xfe").status_code == 400
    assert client.post("/api/zones", headers=ADMIN, content=json.dumps([1])).status_code == 422
