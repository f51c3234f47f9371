"""Notifications through apprise, to a real local HTTP server (apprise's json:// service)."""

from __future__ import annotations

import sys

import pytest
from tests.sinks.receivers import HookReceiver, alert, free_port, wait_for

from dronewatch.sinks.base import SinkError
from dronewatch.sinks.notify import NotifySink
from dronewatch.sinks.settings import SinkSettings, open_sinks


def test_alerts_reach_a_json_receiver() -> None:
    rx = HookReceiver(None)
    sink = NotifySink(f"json://127.0.0.1:{rx.port}/notify")
    sink.start()
    try:
        sink.offer(
            [
                ("alert", alert(n=1)),
                ("alert", alert(n=2, severity="warning", status="update")),
                ("alert", alert(n=3, status="closed")),
            ]
        )
        wait_for(lambda: len(rx.received) == 2 and sink.stats().skipped == 1, what="two")
    finally:
        sink.stop()
        rx.close()
    first, second = (doc for _, doc in rx.received)
    assert first["title"] == "dronewatch critical: zone" and first["type"] == "failure"
    assert "drone in zone Test field (1)" in first["message"]
    assert "UAS ID: MFG1A0123456789" in first["message"] and "Pilot at 45.54" in first["message"]
    assert second["type"] == "warning"
    assert sink.stats().delivered == 2 and sink.name == "notify json://…"


def test_down_receiver_is_counted() -> None:
    sink = NotifySink(f"json://127.0.0.1:{free_port()}/notify")
    sink.start()
    try:
        sink.offer([("alert", alert(n=i)) for i in range(3)])
        wait_for(lambda: sink.stats().failed == 3, what="three failures")
        assert "failed" in (sink.stats().last_error or "")
    finally:
        sink.stop(timeout=1.0)


def test_missing_extra_and_bad_url_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SinkError, match="does not understand the bogus://"):
        NotifySink("bogus://secret-token@x")
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if the extra were not installed
    with pytest.raises(SinkError, match=r"pip install 'dronewatch\[notify\]'"):
        open_sinks(SinkSettings(notify=["json://127.0.0.1/x"]))
