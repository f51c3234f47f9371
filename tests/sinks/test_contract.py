"""The sink contract through the real pipeline: what a sink is fed, and when."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from click.testing import CliRunner
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, make_settings, wait_idle
from tests.sinks.receivers import wait_for

from dronewatch.server.app import create_app
from dronewatch.sinks.base import Kind, Sink, SinkEvent, SinkSet
from dronewatch.store.records import OBSERVATION_COLUMNS


class Recorder(Sink):
    """A sink that keeps what it is sent (and checks it is stored by then)."""

    kind: ClassVar[str] = "recorder"
    wants: ClassVar[frozenset[Kind]] = frozenset({"track", "alert", "observation"})

    def __init__(self) -> None:
        super().__init__("memory")
        self.got: list[SinkEvent] = []
        self.threads: set[str] = set()

    def send(self, events: list[SinkEvent]) -> int:
        self.threads.add(threading.current_thread().name)
        self.got.extend(events)
        return len(events)


def test_a_sink_gets_committed_tracks_alerts_and_observations(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, replay=[CAPTURE]))
    rec = Recorder()
    app.state.ctx.sinks = SinkSet([rec])  # before the pipeline starts
    with TestClient(app) as client:
        ctx = app.state.ctx
        wait_idle(ctx)
        c = ctx.counters
        wait_for(lambda: sum(k == "observation" for k, _ in rec.got) == c.observations, what="all")
        wait_for(lambda: sum(k == "alert" for k, _ in rec.got) == c.alerts, what="alerts")
        health = client.get("/health").json()
        stored = {a["alert_id"] for a in ctx.store.list_alerts(status="all")}
    obs = [r for k, r in rec.got if k == "observation"]
    assert set(obs[0]) == set(OBSERVATION_COLUMNS)
    tracks = [r for k, r in rec.got if k == "track"]
    assert tracks and all(t["track_id"] for t in tracks) and "trail" not in tracks[0]
    alerts = [r for k, r in rec.got if k == "alert"]
    assert alerts and {a["alert_id"] for a in alerts} <= stored
    assert rec.threads == {"dronewatch-sink-recorder"}  # never the pipeline's thread
    (st,) = health["sinks"]
    assert st["name"] == "recorder memory" and st["delivered"] == len(rec.got)
    assert st["queued"] == len(rec.got) and st["dropped"] == 0 and st["alive"]


def test_webhook_secret_on_the_command_line_warns(tmp_path: Path) -> None:
    import click

    from dronewatch.sinks.settings import SinkSettings, sink_options

    seen: list[SinkSettings] = []

    @click.command()
    @sink_options
    def cmd(sinks: SinkSettings) -> None:
        seen.append(sinks)

    result = CliRunner().invoke(cmd, ["--webhook", "http://h/x", "--webhook-secret", "abc"])
    assert result.exit_code == 0, result.output
    assert "visible to every local user" in result.output
    assert seen[0].webhook == ["http://h/x"] and seen[0].secret() == b"abc"
    result = CliRunner().invoke(
        cmd, ["--webhook", "http://h/x"], env={"DRONEWATCH_WEBHOOK_SECRET": "abc"}
    )
    assert "visible" not in result.output and seen[1].secret() == b"abc"


def test_rate_limits_are_options() -> None:
    """--mqtt-out-interval-s and --cot-interval-s reach the sinks."""
    import click

    from dronewatch.sinks.settings import SinkSettings, open_sinks, sink_options

    seen: list[SinkSettings] = []

    @click.command()
    @sink_options
    def cmd(sinks: SinkSettings) -> None:
        seen.append(sinks)

    args = ["--mqtt-out", "mqtt://127.0.0.1:1/x", "--mqtt-out-interval-s", "5"]
    result = CliRunner().invoke(cmd, [*args, "--cot", "udp://127.0.0.1:9", "--cot-interval-s", "2"])
    assert result.exit_code == 0, result.output
    assert seen[0].mqtt_out_interval_s == 5.0 and seen[0].cot_interval_s == 2.0
    sinks = open_sinks(seen[0])
    assert sorted((s.kind, s.throttle.interval_s) for s in sinks.sinks) == [("cot", 2.0), ("mqtt", 5.0)]  # type: ignore[attr-defined]
    assert SinkSettings().mqtt_out_interval_s == 1.0
