"""The HTTP API on data replayed from a real capture through the real pipeline."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from tests.server.conftest import ADMIN, OPERATOR, OPERATOR_ID, UAS_ID, VIEWER, ZONE

ORACLE = json.loads(
    (
        __import__("pathlib").Path(__file__).parents[1]
        / "data"
        / "odid_wifi_bcn_sample.pcap.oracle.json"
    ).read_text()
)

PROTECTED = [
    "/api/me",
    "/api/config",
    "/api/stats",
    "/api/drones",
    "/api/drones/x",
    "/api/drones/x/alerts",
    "/api/alerts",
    "/api/alerts/x",
    "/api/zones",
    "/api/zones/x",
    "/api/whitelist",
    "/api/sensors",
    "/api/history",
    "/api/time-range",
    "/api/export.geojson",
    "/api/export.kml",
    "/api/export.csv",
]


@pytest.mark.parametrize("path", PROTECTED)
def test_401_without_or_with_bad_token(replayed: TestClient, path: str) -> None:
    r = replayed.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert replayed.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert replayed.get(path, headers={"Authorization": "Basic dmlldy10b2s="}).status_code == 401


def test_health_is_open(replayed: TestClient) -> None:
    h = replayed.get("/health").json()
    assert h["status"] == "ok" and h["db"] == "sqlite" and h["db_ok"] is True
    assert h["counters"]["frames"] == 21 and h["counters"]["db_errors"] == 0
    assert UAS_ID not in json.dumps(h)  # no personal data on the open route


def test_roles(replayed: TestClient) -> None:
    assert replayed.get("/api/me", headers=VIEWER).json() == {"role": "viewer", "name": "viewer-1"}
    assert replayed.get("/api/me", headers=ADMIN).json()["role"] == "admin"
    r = replayed.put("/api/whitelist", headers=OPERATOR, json={"ids": []})
    assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert replayed.post("/api/alerts/x/ack", headers=VIEWER, json={}).status_code == 403
    assert replayed.post("/api/zones", headers=OPERATOR, json=ZONE).status_code == 403
    assert replayed.delete("/api/zones/test-zone", headers=VIEWER).status_code == 403


def test_drones_from_the_capture(replayed: TestClient) -> None:
    drones = replayed.get("/api/drones", headers=VIEWER).json()
    assert len(drones) == 1
    d = drones[0]
    assert d["uas_id"] == UAS_ID == ORACLE["uas_ids"][0]
    assert d["operator_id"] == OPERATOR_ID
    first, last = ORACLE["locations"][0], ORACLE["locations"][-1]
    assert d["first_seen"] == pytest.approx(first[0])
    assert d["last_seen"] == pytest.approx(last[0], abs=1.0)
    assert d["lat"] == pytest.approx(last[1], abs=1e-6) and d["lon"] == pytest.approx(
        last[2], abs=1e-6
    )
    assert d["alt"] == pytest.approx(last[3])
    assert d["operator_lat"] == pytest.approx(ORACLE["operators"][0][1], abs=1e-6)
    assert d["transports"] == ["wifi-beacon"] and d["state"] == "active"
    assert d["positions"] == len(d["trail"]) > 10
    assert d["trail"][0][1:3] == pytest.approx(first[1:3], abs=1e-6)
    assert d["whitelisted"] is False
    # filters
    q = lambda **p: replayed.get("/api/drones", headers=VIEWER, params=p).json()  # noqa: E731
    assert len(q(bbox="-123,45,-122,46")) == 1 and q(bbox="0,0,1,1") == []
    assert len(q(q="mfg1a")) == 1 and q(q="nothing") == []
    assert len(q(since=first[0] - 10)) == 1 and q(since=last[0] + 1000) == []
    one = replayed.get(f"/api/drones/{d['track_id']}", headers=VIEWER).json()
    assert one["uas_id"] == UAS_ID and len(one["positions"]) == d["positions"]
    assert one["positions"][0] == d["trail"][0]
    assert replayed.get("/api/drones/none", headers=VIEWER).status_code == 404


def test_alerts_ack_comment(replayed: TestClient) -> None:
    alerts = replayed.get("/api/alerts?status=all", headers=VIEWER).json()
    zone = [a for a in alerts if a["zone"] == "Test field"]
    assert zone, [a["rule"] for a in alerts]
    a = zone[0]
    assert a["uas_id"] == UAS_ID and a["severity"] == "critical" and a["acknowledged"] is False
    tid = a["track_id"]
    per_track = replayed.get(f"/api/drones/{tid}/alerts", headers=VIEWER).json()
    assert {x["alert_id"] for x in per_track} == {x["alert_id"] for x in alerts}
    r = replayed.post(
        f"/api/alerts/{a['alert_id']}/ack", headers=OPERATOR, json={"comment": "on it"}
    )
    assert r.status_code == 200
    acked = r.json()
    assert acked["acknowledged"] and acked["ack_by"] == "operator-1"
    assert [c["text"] for c in acked["comments"]] == ["on it"]
    r = replayed.post(
        f"/api/alerts/{a['alert_id']}/comments", headers=ADMIN, json={"text": "police informed"}
    )
    assert [(c["author"], c["text"]) for c in r.json()["comments"]][-1] == (
        "admin",
        "police informed",
    )
    open_ids = {x["alert_id"] for x in replayed.get("/api/alerts", headers=VIEWER).json()}
    assert a["alert_id"] not in open_ids
    assert replayed.post("/api/alerts/none/ack", headers=OPERATOR, json={}).status_code == 404
    assert (
        replayed.post("/api/alerts/none/comments", headers=OPERATOR, json={"text": "x"}).status_code
        == 404
    )


def test_zones_crud(replayed: TestClient) -> None:
    zones = replayed.get("/api/zones", headers=VIEWER).json()
    assert zones["type"] == "FeatureCollection"
    assert [f["id"] for f in zones["features"]] == ["test-zone"]
    new = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [6.6, 46.5]},
        "properties": {"name": "Stadium", "radius_m": 500, "max_alt_m": 120},
    }
    r = replayed.post("/api/zones", headers=ADMIN, json=new)
    assert r.status_code == 201
    made = r.json()
    assert made["id"].startswith("zone-") and made["properties"]["radius_m"] == 500
    assert made["properties"]["severity"] == "warning"  # normalised with its default
    zid = made["id"]
    new["properties"]["name"] = "Stadium B"
    r = replayed.put(f"/api/zones/{zid}", headers=ADMIN, json=new)
    assert r.status_code == 200 and r.json()["properties"]["name"] == "Stadium B"
    assert (
        replayed.get(f"/api/zones/{zid}", headers=VIEWER).json()["properties"]["name"]
        == "Stadium B"
    )
    dup = dict(new, id=zid)
    assert replayed.post("/api/zones", headers=ADMIN, json=dup).status_code == 409
    bad = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [6.6, 46.5]},
        "properties": {"name": "no radius"},
    }
    r = replayed.post("/api/zones", headers=ADMIN, json=bad)
    assert r.status_code == 422 and "radius_m" in r.json()["detail"]
    typo = dict(new, properties={"name": "x", "radius_m": 5, "max_alt": 3})
    assert replayed.put("/api/zones/z9", headers=ADMIN, json=typo).status_code == 422
    assert replayed.delete(f"/api/zones/{zid}", headers=ADMIN).status_code == 204
    assert replayed.delete(f"/api/zones/{zid}", headers=ADMIN).status_code == 404
    assert replayed.get(f"/api/zones/{zid}", headers=VIEWER).status_code == 404


def test_whitelist(replayed: TestClient) -> None:
    r = replayed.put("/api/whitelist", headers=ADMIN, json={"ids": [UAS_ID.lower(), "OTHER"]})
    assert r.json() == {"ids": ["OTHER", UAS_ID.lower()]}
    assert replayed.get("/api/whitelist", headers=VIEWER).json()["ids"] == ["OTHER", UAS_ID.lower()]
    assert replayed.get("/api/drones", headers=VIEWER).json()[0]["whitelisted"] is True
    assert replayed.put("/api/whitelist", headers=ADMIN, json={"ids": ["a b"]}).status_code == 422
    replayed.put("/api/whitelist", headers=ADMIN, json={"ids": []})
    assert replayed.get("/api/drones", headers=VIEWER).json()[0]["whitelisted"] is False


def test_sensors_config_stats(replayed: TestClient) -> None:
    sensors = replayed.get("/api/sensors", headers=VIEWER).json()
    # Frames, not the 105 messages in them.
    assert [s["sensor_id"] for s in sensors] == ["local"] and sensors[0]["frames"] == 21
    cfg = replayed.get("/api/config", headers=VIEWER).json()
    assert set(cfg) == {"tile_url", "tile_attribution", "basemap", "center", "zoom", "version"}
    assert cfg["basemap"] is None and cfg["tile_attribution"] is None
    stats = replayed.get("/api/stats", headers=VIEWER).json()
    assert stats["messages"] == 105 and stats["tables"]["observations"] == 105
    assert stats["decode"]["frames_read"] == 21


def test_time_range_is_the_datas(replayed: TestClient) -> None:
    """The span of the stored data on its own clock (the capture's), not the wall clock."""
    r = replayed.get("/api/time-range", headers=VIEWER).json()
    times = [loc[0] for loc in ORACLE["locations"]]
    assert r["first"] <= min(times) + 1e-6 and r["first"] >= min(times) - 60
    assert r["last"] >= max(times) - 1e-6 and r["last"] <= max(times) + 60
    assert r["server_time"] > r["last"] + 86400  # the capture is old: the clocks differ
    assert r["feeding"] is False  # the replay has ended
    assert replayed.get("/api/time-range").status_code == 401


def test_history_and_exports(replayed: TestClient) -> None:
    h = replayed.get("/api/history", headers=VIEWER).json()  # default: the last hour of data
    assert len(h["tracks"]) == 1
    t = h["tracks"][0]
    assert t["uas_id"] == UAS_ID and len(t["points"]) > 10 and t["operator"]
    assert t["operator"][0][1:] == pytest.approx(ORACLE["operators"][0][1:3], abs=1e-6)
    t0 = ORACLE["locations"][0][0]
    part = replayed.get("/api/history", headers=VIEWER, params={"from": t0, "to": t0 + 3}).json()
    assert all(t0 <= p[0] <= t0 + 3 for p in part["tracks"][0]["points"])
    assert (
        replayed.get("/api/history", headers=VIEWER, params={"from": 10, "to": 5}).status_code
        == 400
    )

    gj = replayed.get("/api/export.geojson", headers=VIEWER)
    assert gj.headers["content-type"].startswith("application/geo+json")
    feats = gj.json()["features"]
    line = next(f for f in feats if f["properties"]["kind"] == "drone")
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"][0][:2] == pytest.approx(
        [ORACLE["locations"][0][2], ORACLE["locations"][0][1]], abs=1e-6
    )
    assert any(f["properties"]["kind"] == "operator" for f in feats)

    kml = replayed.get("/api/export.kml", headers=VIEWER)
    root = ET.fromstring(kml.content)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert root.find(".//k:Placemark/k:name", ns).text == UAS_ID  # type: ignore[union-attr]

    rows = list(csv.DictReader(io.StringIO(replayed.get("/api/export.csv", headers=VIEWER).text)))
    assert len(rows) == 105
    with_pos = [r for r in rows if r["lat"]]
    assert float(with_pos[0]["lat"]) == pytest.approx(ORACLE["locations"][0][1], abs=1e-6)
    assert {r["uas_id"] for r in rows if r["uas_id"]} == {UAS_ID}


def test_index_and_static(replayed: TestClient) -> None:
    r = replayed.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert replayed.get("/static/favicon.svg").status_code == 200
    assert replayed.get("/static/nope.js").status_code == 404
    assert replayed.get("/openapi.json").json()["info"]["title"] == "dronewatch"
