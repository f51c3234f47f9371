"""The streaming sinks in their own process: delivery, counters, a child that dies or stalls,
its log records, and what stays in the server's process."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
from tests.sinks.receivers import UdpReceiver, alert, free_port, track, wait_for

from dronewatch.sinks.base import SinkError
from dronewatch.sinks.settings import SinkSettings, open_sinks
from dronewatch.store import Store


def by_kind(sinks: object) -> dict[str, object]:
    return {s.kind: s for s in sinks.stats()}  # type: ignore[attr-defined]


def test_streaming_sinks_run_in_a_child_webhooks_stay(tmp_path: Path) -> None:
    cot, syslog = UdpReceiver(), UdpReceiver()
    store = Store.open(str(tmp_path / "dw.db"))
    settings = SinkSettings(
        cot=[f"udp://127.0.0.1:{cot.port}"],
        syslog=[f"udp://127.0.0.1:{syslog.port}"],
        webhook=[f"http://127.0.0.1:{free_port()}/hook"],
    )
    sinks = open_sinks(settings, store, own_process=True)
    assert [s.kind for s in sinks.sinks] == ["webhook"] and sinks.remote is not None
    assert len(sinks) == 3 and sinks.want_tracks and sinks.want_alerts
    sinks.start()
    try:
        assert sinks.remote.wait_ready(60)
        pid = sinks.remote.pid
        assert pid not in (None, os.getpid())
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "dronewatch-sink"  # in ps
        sinks.publish([track("T1"), track("T2")], [alert("T1", n=1)])
        wait_for(lambda: len(syslog.datagrams) == 1, what="the alert over syslog")
        wait_for(lambda: len(cot.datagrams) >= 6, what="two drones, pilots, homes over CoT")
        wait_for(lambda: by_kind(sinks)["cot"].delivered == 2, what="the child's counters")
        st = by_kind(sinks)
        assert st["cot"].alive and st["cot"].sent >= 6 and st["syslog"].delivered == 1
        assert st["webhook"].kind == "webhook"  # in this process: its outbox is the store's
    finally:
        sinks.stop(timeout=2.0)
        store.close()
        cot.close()
        syslog.close()
    st = by_kind(sinks)
    assert not st["cot"].alive and st["cot"].dropped == 0


def test_a_child_that_dies_is_started_again(caplog: pytest.LogCaptureFixture) -> None:
    rx = UdpReceiver()
    sinks = open_sinks(SinkSettings(syslog=[f"udp://127.0.0.1:{rx.port}"]), own_process=True)
    remote = sinks.remote
    assert remote is not None
    sinks.start()
    try:
        assert remote.wait_ready(60)
        first = remote.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: not by_kind(sinks)["syslog"].alive, what="the dead child seen")
        with caplog.at_level(logging.ERROR):
            assert sinks.ensure_alive() and remote.restarts == 1
        assert "the sinks' process died" in caplog.text
        assert remote.wait_ready(60) and remote.pid != first
        sinks.publish([], [alert(n=7)])
        wait_for(lambda: len(rx.datagrams) == 1, what="an alert through the new child")
        assert not sinks.ensure_alive()  # alive: nothing to do
    finally:
        sinks.stop(timeout=2.0)
        rx.close()


def test_a_stalled_child_costs_counted_drops_never_a_blocked_pipeline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dronewatch.sinks.process as process

    monkeypatch.setattr(process, "BATCHES_MAX", 2)
    rx = UdpReceiver()
    sinks = open_sinks(SinkSettings(syslog=[f"udp://127.0.0.1:{rx.port}"]), own_process=True)
    remote = sinks.remote
    assert remote is not None
    sinks.start()
    try:
        assert remote.wait_ready(60) and remote.pid is not None
        os.kill(remote.pid, signal.SIGSTOP)  # a child that takes nothing
        try:
            for n in range(10):  # returns at once each time, queue full or not
                sinks.publish([], [alert(n=n)])
            wait_for(lambda: by_kind(sinks)["syslog"].dropped >= 1, what="drops counted")
        finally:
            os.kill(remote.pid, signal.SIGCONT)
        dropped = by_kind(sinks)["syslog"].dropped
        wait_for(lambda: len(rx.datagrams) == 10 - dropped, what="the rest delivered")
    finally:
        sinks.stop(timeout=2.0)
        rx.close()
    assert 1 <= dropped <= 8


def test_the_childs_log_records_reach_the_server_log(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nobody listens: refused
    sinks = open_sinks(SinkSettings(syslog=[f"tcp://127.0.0.1:{port}"]), own_process=True)
    assert sinks.remote is not None
    with caplog.at_level(logging.INFO):
        sinks.start()
        try:
            assert sinks.remote.wait_ready(60)
            sinks.publish([], [alert()])
            wait_for(lambda: "refused" in caplog.text, what="the child's error in our log")
        finally:
            sinks.stop(timeout=1.0)
    (rec,) = [r for r in caplog.records if "refused" in r.getMessage()][:1]
    assert rec.levelno == logging.ERROR and rec.name.startswith("dronewatch.sinks")
    assert by_kind(sinks)["syslog"].failed >= 1


def test_bad_settings_fail_in_the_server_process() -> None:
    with pytest.raises(SinkError, match="udp://HOST:PORT"):
        open_sinks(SinkSettings(cot=["http://example.org"]), own_process=True)
