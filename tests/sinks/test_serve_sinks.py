"""``dronewatch serve --replay CAPTURE --cot ... --webhook ...`` as a user runs it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from tests.server.conftest import CAPTURE, UAS_ID, ZONE
from tests.server.test_acceptance import serving
from tests.sinks.receivers import HookReceiver, UdpReceiver, wait_for

TOKEN = "sinks-admin-Zq4Lm8Vx2Rt6Yp0W"
SECRET = "hook-secret-Hb3Nf7Kd1"


def test_serve_replay_sends_cot_and_signed_webhooks(tmp_path: Path) -> None:
    zones = tmp_path / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [ZONE]}))
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    cot = UdpReceiver()
    hook = HookReceiver(SECRET.encode())
    try:
        with serving(
            "--replay",
            str(CAPTURE),
            "--speed",
            "0",
            "--db",
            str(tmp_path / "dw.db"),
            "--zones",
            str(zones),
            "--cot",
            f"udp://127.0.0.1:{cot.port}",
            "--webhook",
            hook.url,
            "--webhook-secret-file",
            str(secret_file),
            env_extra={"DRONEWATCH_TOKEN": TOKEN},
        ) as base:
            wait_for(
                lambda: len(hook.received) >= 1 and len(cot.datagrams) >= 1,
                timeout=60,
                what="a CoT event and a webhook POST",
            )

            def settled() -> bool:
                sinks = httpx.get(base + "/health").json()["sinks"]
                # (each has sent something, counted: the CoT sink's process reports its
                # counters twice a second)
                busy = any(s["queue_depth"] or not s["delivered"] for s in sinks)
                return not busy and len(sinks) == 2

            wait_for(settled, timeout=30, what="sinks idle")
            health = httpx.get(base + "/health").json()
            alerts = httpx.get(
                base + "/api/alerts?status=all",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ).json()
    finally:
        cot.close()
        hook.close()
    assert hook.bad_signatures == 0 and hook.attempts == len(hook.received)
    ids = {doc["alert"]["alert_id"] for _, doc in hook.received}
    assert ids == {a["alert_id"] for a in alerts}
    drones = [ET.fromstring(d.split(b"\n", 1)[1]) for d in cot.datagrams]
    assert any(UAS_ID in (e.findtext("detail/remarks") or "") for e in drones)
    kinds = {s["kind"]: s for s in health["sinks"]}
    assert kinds["cot"]["delivered"] >= 1 and kinds["webhook"]["delivered"] == len(hook.received)
    assert kinds["webhook"]["failed"] == 0 and kinds["cot"]["dropped"] == 0
