"""Live stream, zone rebuilds, malformed input and body limits."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect
from tests.server.conftest import (
    ADMIN,
    CAPTURE,
    OPERATOR,
    UAS_ID,
    VIEWER,
    VIEWER_TOKEN,
    ZONE,
    make_settings,
    wait_idle,
)

from dronewatch.alerts.options import AlertOptions
from dronewatch.server.app import AppContext, create_app
from dronewatch.sources import open_capture


def feed_capture(client: TestClient) -> AppContext:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    assert ctx.service is not None
    ctx.service.run_frames(open_capture(CAPTURE))
    wait_idle(ctx)
    return ctx


def receive_until(ws: Any, kinds: set[str], limit: int = 500) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    seen: set[str] = set()
    for _ in range(limit):
        msg = json.loads(ws.receive_text())
        got.append(msg)
        seen.add(msg["kind"])
        if kinds <= seen:
            break
    return got


def test_stream_needs_a_token(live: TestClient) -> None:
    for url in ("/api/stream", "/api/stream?token=wrong"):
        with live.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_text()
        assert exc.value.code == 4401
    # A name that only decodes to 'token' (which the logs might not redact) is refused even
    # with a valid token, and so is a repeated one.
    for url in (
        f"/api/stream?tok%65n={VIEWER_TOKEN}",
        f"/api/stream?token={VIEWER_TOKEN}&token={VIEWER_TOKEN}",
    ):
        with live.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as exc:
            ws.receive_text()
        assert exc.value.code == 4400


def test_stream_takes_a_bearer_header(live: TestClient) -> None:
    with live.websocket_connect("/api/stream", headers=OPERATOR) as ws:
        assert json.loads(ws.receive_text())["role"] == "operator"


def test_stream_sends_tracks_and_alerts(live: TestClient) -> None:
    with live.websocket_connect(f"/api/stream?token={VIEWER_TOKEN}") as ws:
        hello = json.loads(ws.receive_text())
        assert hello["kind"] == "hello" and hello["role"] == "viewer"
        feed_capture(live)
        ws.send_text(json.dumps({"kind": "ping"}))
        msgs = receive_until(ws, {"pong"})
        assert msgs[-1] == {"kind": "pong"}
        tracks = [m["track"] for m in msgs if m["kind"] == "track"]
        alerts = [m["alert"] for m in msgs if m["kind"] == "alert"]
        last = tracks[-1]  # the final state is always sent (coalesced, never lost)
        assert last["uas_id"] == UAS_ID and last["operator_id"] == "GBR-OP-123ABCD"
        assert last["lat"] == pytest.approx(45.5470818, abs=1e-6)
        assert last["trail"][-1][1:3] == [last["lat"], last["lon"]] and last["positions"] > 10
        assert alerts and all(a["track_id"] == last["track_id"] for a in alerts)
        assert {"alert_id", "rule", "severity", "acknowledged", "comments"} <= set(alerts[0])
        assert "Test field" in {a["zone"] for a in alerts}


def test_track_updates_are_rate_limited(live: TestClient) -> None:
    with live.websocket_connect(f"/api/stream?token={VIEWER_TOKEN}") as ws:
        ws.receive_text()
        ctx = feed_capture(live)  # 21 frames of one drone, processed in well under 0.5 s
        ws.send_text(json.dumps({"kind": "ping"}))
        msgs = receive_until(ws, {"pong"})
        n_tracks = sum(1 for m in msgs if m["kind"] == "track")
        assert 1 <= n_tracks <= 3  # coalesced: latest state wins
        assert ctx.counters.messages == 105


def test_zone_change_rebuilds_the_pipeline(live: TestClient) -> None:
    ctx: AppContext = live.app.state.ctx  # type: ignore[attr-defined]
    assert live.delete("/api/zones/test-zone", headers=ADMIN).status_code == 204
    other = dict(ZONE, id="moved")
    other["properties"] = {"name": "Moved zone", "severity": "info"}
    with live.websocket_connect(f"/api/stream?token={VIEWER_TOKEN}") as ws:
        ws.receive_text()
        assert live.post("/api/zones", headers=ADMIN, json=other).status_code == 201
        assert json.loads(ws.receive_text()) == {"kind": "zones"}
    assert [z.zone_id for z in ctx.processor.pipeline.zones] == ["moved"]  # type: ignore[union-attr]
    feed_capture(live)
    alerts = live.get("/api/alerts?status=all", headers=VIEWER).json()
    zones = {a["zone"] for a in alerts if a["zone"]}
    assert zones == {"Moved zone"}


def test_slow_client_is_bounded(live: TestClient) -> None:
    from dronewatch.server.bus import ALERT, TRACK, EventBus, event

    bus = EventBus(queue_size=3)
    client = bus.subscribe()
    bus.publish([event(TRACK, track={"i": i}) for i in range(10)])
    assert len(client.tracks) == 3 and client.dropped == 7
    bus.publish([event(ALERT, alert={"n": i}) for i in range(3)])  # alerts have their own queue
    assert not client.overflow.is_set() and len(client.urgent) == 3
    bus.publish([event(ALERT, alert={})])  # an alert cannot be dropped: the client goes
    assert client.overflow.is_set() and client not in bus.clients
    assert bus.counters.disconnected_slow == 1


# ---- malformed input: 4xx with a reason, never 500 -----------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kw", "code"),
    [
        ("get", "/api/drones?bbox=1,2,3", {}, 400),
        ("get", "/api/drones?bbox=a,b,c,d", {}, 400),
        ("get", "/api/drones?bbox=10,0,5,1", {}, 400),
        ("get", "/api/drones?since=yesterday", {}, 422),
        ("get", "/api/drones?limit=0", {}, 422),
        ("get", "/api/drones?active=maybe", {}, 422),
        ("get", "/api/alerts?status=closed", {}, 422),
        ("get", "/api/history?from=nan", {}, 422),
        ("get", "/api/export.csv?from=0&to=1e10", {}, 400),
        ("post", "/api/zones", {"content": b"{not json"}, 400),
        ("post", "/api/zones", {"json": [1, 2]}, 422),
        ("post", "/api/zones", {"json": {"type": "Feature"}}, 422),
        (
            "put",
            "/api/zones/x",
            {
                "json": {
                    "type": "Feature",
                    "geometry": {"type": "Polygon", "coordinates": [[["a"]]]},
                    "properties": {"name": "n"},
                }
            },
            422,
        ),
        ("put", "/api/whitelist", {"json": {"ids": "abc"}}, 422),
        ("put", "/api/whitelist", {"json": {"ids": ["x"], "extra": 1}}, 422),
        ("put", "/api/whitelist", {"content": b"\xff\xfe"}, 422),
        ("post", "/api/alerts/x/comments", {"json": {"text": ""}}, 422),
        ("post", "/api/alerts/x/comments", {"json": {}}, 422),
        ("post", "/api/alerts/x/ack", {"json": {"comment": 5}}, 422),
    ],
)
def test_malformed_requests(
    live: TestClient, method: str, path: str, kw: dict[str, Any], code: int
) -> None:
    r = getattr(live, method)(path, headers=ADMIN, **kw)
    assert r.status_code == code, r.text
    assert r.json()["detail"]


def test_oversized_body_is_refused(live: TestClient) -> None:
    big = {"ids": ["X" * 100] * 20000}  # ~2 MB > the 1 MiB limit
    r = live.put("/api/whitelist", headers=ADMIN, json=big)
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for _ in range(300):
            yield b"x" * 8192

    r = live.put("/api/whitelist", headers=ADMIN, content=chunks())
    assert r.status_code == 413


_text = st.text(max_size=30)
_params = st.dictionaries(
    st.sampled_from(
        [
            "active",
            "since",
            "until",
            "bbox",
            "q",
            "limit",
            "from",
            "to",
            "status",
            "track_id",
            "airports",
        ]
    ),
    st.one_of(_text, st.floats(allow_nan=True).map(str), st.integers().map(str)),
    max_size=4,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        [
            "/api/drones",
            "/api/alerts",
            "/api/history",
            "/api/export.csv",
            "/api/export.geojson",
            "/api/export.kml",
            "/api/zones",
        ]
    ),
    params=_params,
)
def test_fuzzed_queries_never_500(live: TestClient, path: str, params: dict[str, str]) -> None:
    r = live.get(path, headers=VIEWER, params=params)
    assert r.status_code < 500, (path, params, r.text)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=10) | st.integers(),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "geometry",
                        "properties",
                        "id",
                        "coordinates",
                        "name",
                        "radius_m",
                        "ids",
                        "text",
                        "comment",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_fuzzed_bodies_never_500(live: TestClient, body: Any) -> None:
    raw = json.dumps(body).encode()
    for method, path in (
        ("post", "/api/zones"),
        ("put", "/api/zones/fz"),
        ("put", "/api/whitelist"),
        ("post", "/api/alerts/x/ack"),
        ("post", "/api/alerts/x/comments"),
    ):
        r = getattr(live, method)(
            path, headers={**ADMIN, "content-type": "application/json"}, content=raw
        )
        assert r.status_code < 500, (method, path, body, r.text)


def test_retention_purges_old_data_at_start(tmp_path: Path) -> None:

    app = create_app(make_settings(tmp_path, replay=[CAPTURE]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        assert len(client.get("/api/drones", headers=VIEWER).json()) == 1
    app.state.ctx.store.close()
    # The capture is from 2021: a 30-day retention deletes it at the next start.
    app = create_app(make_settings(tmp_path, retention_days=30.0))
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/api/drones", headers=VIEWER).json() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/api/drones", headers=VIEWER).json() == []
        assert client.get("/api/stats", headers=VIEWER).json()["tables"]["observations"] == 0
    app.state.ctx.store.close()


def test_broken_capture_is_counted_and_the_server_survives(tmp_path: Path) -> None:

    broken = tmp_path / "broken.pcap"
    broken.write_bytes(CAPTURE.read_bytes()[:300] + b"\xff" * 50)
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\x00" * 10)
    app = create_app(make_settings(tmp_path, replay=[garbage, broken, CAPTURE]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        h = client.get("/health").json()
        assert h["status"] == "ok"
        assert (
            h["counters"]["source_errors"]
            + sum(client.get("/api/stats", headers=VIEWER).json()["decode"]["skipped"].values())
            >= 1
        )
        drones = client.get("/api/drones", headers=VIEWER).json()
        assert [d["uas_id"] for d in drones] == [UAS_ID]  # the good capture still played


def test_airport_zones_are_built_in(tmp_path: Path) -> None:

    app = create_app(make_settings(tmp_path, alerts=AlertOptions(airports=True)))
    with TestClient(app) as client:
        own = client.get("/api/zones", headers=VIEWER).json()["features"]
        assert [f["id"] for f in own] == ["test-zone"]  # airports only on request
        near_orly = client.get(
            "/api/zones", headers=VIEWER, params={"airports": "true", "bbox": "2.3,48.7,2.4,48.75"}
        ).json()["features"]
        ids = {f["id"] for f in near_orly}
        assert "airport:LFPO" in ids and "test-zone" in ids
        lfpo = next(f for f in near_orly if f["id"] == "airport:LFPO")
        assert lfpo["properties"]["kind"] == "airport" and lfpo["geometry"]["type"] == "Point"
        r = client.delete("/api/zones/airport:LFPO", headers=ADMIN)
        assert r.status_code == 409
        zs = app.state.ctx.processor.pipeline.zones
        assert len(zs) > 1000 and any(z.zone_id == "test-zone" for z in zs)
    app.state.ctx.store.close()


def test_database_failure_is_503_and_health_failing(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, run_pipeline=False))
    ctx = app.state.ctx
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "ok"
        ctx.store.engine.dispose()
        (tmp_path / "dw.db").unlink()
        (tmp_path / "dw.db").mkdir()  # the database file is now a directory: unusable
        r = client.get("/api/drones", headers=VIEWER)
        assert r.status_code == 503 and r.json() == {"detail": "database unavailable"}
        r = client.get("/health")
        h = r.json()
        assert r.status_code == 503 and h["status"] == "failing" and h["db_ok"] is False
        assert "the database cannot be reached" in h["causes"]
        assert h["counters"]["db_errors"] >= 1
