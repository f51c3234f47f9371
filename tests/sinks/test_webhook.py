"""Webhooks against a real HTTP server: signatures, outages, restarts, bad receivers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.server.conftest import CAPTURE, make_settings, wait_idle
from tests.sinks.receivers import HookReceiver, alert, free_port, wait_for

from dronewatch.server.app import create_app
from dronewatch.sinks.base import SinkError, SinkSet
from dronewatch.sinks.settings import SinkSettings, open_sinks
from dronewatch.sinks.webhook import WebhookSink, idempotency_key, sign, verify
from dronewatch.store import Store, WriteBatch
from dronewatch.store import models as m

SECRET = "s3cret-for-the-hook"


def outbox_keys(db: Path) -> list[str]:
    store = Store.open(str(db))
    try:
        with store.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(m.outbox.c.key))]
    finally:
        store.close()


def sink_stats(client: TestClient) -> dict[str, object]:
    (st,) = [s for s in client.get("/health").json()["sinks"] if s["kind"] == "webhook"]
    return st  # type: ignore[no-any-return]


def test_signature_helpers() -> None:
    body = b'{"a":1}'
    header = sign(b"k", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(b"k", body, header) and not verify(b"k", body + b" ", header)
    assert not verify(b"other", body, header) and not verify(b"k", body, None)
    a = alert()
    assert idempotency_key("t", a) == idempotency_key("t", dict(a))
    assert idempotency_key("t", a) != idempotency_key("t", dict(a, status="closed"))


def test_replay_posts_signed_alerts(tmp_path: Path) -> None:
    """serve --replay CAPTURE --webhook URL --webhook-secret S: every POST is signed and
    carries an alert; the outbox ends empty."""
    rx = HookReceiver(SECRET.encode())
    sinks = SinkSettings(webhook=[rx.url], webhook_secret=SECRET)
    app = create_app(make_settings(tmp_path, replay=[CAPTURE], sinks=sinks))
    try:
        with TestClient(app) as client:
            wait_idle(app.state.ctx)
            n = app.state.ctx.counters.alerts
            assert n >= 1
            wait_for(lambda: len(rx.received) >= n, what="every alert POSTed")
            wait_for(lambda: sink_stats(client)["queue_depth"] == 0, what="outbox empty")
            st = sink_stats(client)
    finally:
        rx.close()
    assert rx.bad_signatures == 0 and rx.attempts == n == len(rx.keys())
    for _, doc in rx.received:
        assert doc["type"] == "alert" and doc["alert"]["rule"] and doc["alert"]["alert_id"]
    assert st["delivered"] == n and st["failed"] == 0
    assert outbox_keys(tmp_path / "dw.db") == []


def test_outage_and_restart_lose_nothing(tmp_path: Path) -> None:
    """Receiver down while alerts fire, dronewatch stopped meanwhile; then the receiver comes
    back answering 500 a few times, then 2xx: every alert arrives; a key seen twice is the
    same event."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    sinks = SinkSettings(webhook=[url], webhook_secret=SECRET, webhook_retry_max_s=0.2)
    app = create_app(make_settings(tmp_path, replay=[CAPTURE], sinks=sinks))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        n = app.state.ctx.counters.alerts
        assert n >= 1
        wait_for(lambda: sink_stats(client)["failed"] >= 2, what="failed attempts")
        st = sink_stats(client)
        assert st["delivered"] == 0 and st["queue_depth"] == n
        assert "Connection refused" in str(st["last_error"])
    owed = outbox_keys(tmp_path / "dw.db")
    assert len(owed) == n

    rx = HookReceiver(SECRET.encode(), port=port, mode="500")
    app2 = create_app(make_settings(tmp_path, sinks=sinks))  # restarted: no new data
    try:
        with TestClient(app2) as client:
            wait_for(lambda: rx.attempts >= 3, what="attempts answered 500")
            rx.mode = "ok"
            wait_for(lambda: rx.keys() == set(owed), what="every owed alert delivered")
            wait_for(lambda: sink_stats(client)["queue_depth"] == 0, what="outbox empty")
            st = sink_stats(client)
    finally:
        rx.close()
    assert st["failed"] >= 3 and st["delivered"] == n
    assert rx.bad_signatures == 0
    by_key: dict[str, str] = {}
    for key, doc in rx.received:  # duplicates only with the same key and body
        a = doc["alert"]
        by_key.setdefault(key, f"{a['alert_id']}|{a['status']}|{a['time']}")
        assert by_key[key] == f"{a['alert_id']}|{a['status']}|{a['time']}"
    assert outbox_keys(tmp_path / "dw.db") == []


def test_hanging_receiver_never_stalls_the_pipeline(tmp_path: Path) -> None:
    rx = HookReceiver(None, mode="hang")
    sinks = SinkSettings(webhook=[rx.url], webhook_timeout_s=0.3, webhook_retry_max_s=0.2)
    app = create_app(make_settings(tmp_path, replay=[CAPTURE], sinks=sinks))
    try:
        with TestClient(app) as client:
            t0 = time.monotonic()
            wait_idle(app.state.ctx)  # the replay goes through while the receiver hangs
            assert time.monotonic() - t0 < 15
            wait_for(lambda: sink_stats(client)["failed"] >= 2, what="timeouts counted")
            st = sink_stats(client)
            assert "timed out" in str(st["last_error"]) and st["delivered"] == 0
            health = client.get("/health").json()
            assert any("sink webhook" in c for c in health["causes"])
    finally:
        rx.close()
    assert len(outbox_keys(tmp_path / "dw.db")) == app.state.ctx.counters.alerts


@pytest.mark.postgres
def test_outbox_on_postgresql() -> None:
    """The same outbox on PostgreSQL: a batch written twice owes its events once."""
    from tests.store.pgutil import pg_databases

    rx = HookReceiver(SECRET.encode())
    with pg_databases() as make:
        store = Store.open(make())
        sink = WebhookSink(rx.url, store, secret=SECRET.encode())
        sinks = SinkSet([sink])
        try:
            recs = [alert(n=i) for i in range(5)]
            rows = sinks.outbox_rows(recs)
            store.write(WriteBatch(alerts=recs, outbox=rows))
            store.write(WriteBatch(alerts=recs, outbox=[dict(r) for r in rows]))
            assert sink.outbox.pending() == 5
            sinks.start()
            sinks.publish([], recs)
            wait_for(lambda: len(rx.keys()) == 5, what="five events delivered")
            wait_for(lambda: sink.outbox.pending() == 0, what="outbox empty")
        finally:
            sinks.stop()
            store.close()
            rx.close()
    assert rx.bad_signatures == 0 and len(rx.received) == 5


def test_refused_event_is_dropped_and_counted(tmp_path: Path) -> None:
    rx = HookReceiver(None, mode="400")
    store = Store.open(str(tmp_path / "dw.db"))
    sink = WebhookSink(rx.url, store)
    sinks = SinkSet([sink])
    sinks.start()
    try:
        recs = [alert(n=i) for i in range(3)]
        store.write(WriteBatch(alerts=recs, outbox=sinks.outbox_rows(recs)))
        sinks.publish([], recs)
        wait_for(lambda: sink.stats().dropped == 3, what="three refused events dropped")
        st = sink.stats()
        assert st.failed == 3 and st.delivered == 0 and "HTTP 400" in (st.last_error or "")
        wait_for(lambda: sink.stats().queue_depth == 0, what="outbox empty")
    finally:
        sinks.stop()
        rx.close()
        store.close()


def test_secret_problems_are_clear(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "dw.db"))
    try:
        missing = SinkSettings(webhook=["http://x/h"], webhook_secret_file=tmp_path / "nope")
        with pytest.raises(SinkError, match="cannot read the webhook secret file"):
            open_sinks(missing, store)
        empty = tmp_path / "empty"
        empty.write_text("\n")
        with pytest.raises(SinkError, match="is empty"):
            open_sinks(SinkSettings(webhook=["http://x/h"], webhook_secret_file=empty), store)
        with pytest.raises(SinkError, match="without --webhook"):
            open_sinks(SinkSettings(webhook_secret="x"), store)
        with pytest.raises(SinkError, match="http://HOST"):
            open_sinks(SinkSettings(webhook=["ftp://x/h?token=abc"]), store)
        assert "abc" not in repr(SinkSettings(webhook_secret="abc"))
    finally:
        store.close()


def test_connection_kept_alive_and_renewed(tmp_path: Path) -> None:
    """An HTTP/1.1 receiver: one connection for many alerts; when the receiver closes it
    (idle timeout, restart), the next alert goes on a new one, nothing failed or lost."""
    rx = HookReceiver(SECRET.encode(), keepalive=True)
    store = Store.open(str(tmp_path / "dw.db"))
    sink = WebhookSink(rx.url, store, secret=SECRET.encode())
    sinks = SinkSet([sink])
    sinks.start()
    try:
        for n in range(3):
            recs = [alert(n=n)]
            store.write(WriteBatch(alerts=recs, outbox=sinks.outbox_rows(recs)))
            sinks.publish([], recs)
            # (answered, not only received: a connection dropped between the two would
            # rightly make the sink send that alert again, with the same key)
            wait_for(lambda n=n: sink.stats().delivered == n + 1, what=f"alert {n} delivered")
        assert len(rx.connections) == 1
        rx.drop_connections()
        recs = [alert(n=n) for n in range(3, 6)]
        store.write(WriteBatch(alerts=recs, outbox=sinks.outbox_rows(recs)))
        sinks.publish([], recs)
        wait_for(lambda: sink.stats().delivered == 6, what="three more after the connection closed")
        assert len(rx.received) == 6 and len(rx.connections) == 2
        wait_for(lambda: sink.outbox.pending() == 0, what="delivered rows deleted")
        st = sink.stats()
        assert st.failed == 0 and st.delivered == 6 and st.queue_depth == 0
    finally:
        sinks.stop()
        rx.close()
        store.close()
    assert rx.bad_signatures == 0 and len(rx.keys()) == 6


def test_alerts_beyond_what_is_held_come_from_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker holds at most FRESH_MAX offered alerts in memory (it is stuck, say);
    beyond, it forgets them and reads the outbox: all delivered, once each."""
    import dronewatch.sinks.webhook as webhook

    monkeypatch.setattr(webhook, "FRESH_MAX", 3)
    rx = HookReceiver(SECRET.encode(), keepalive=True)
    store = Store.open(str(tmp_path / "dw.db"))
    sink = WebhookSink(rx.url, store, secret=SECRET.encode())
    sinks = SinkSet([sink])
    try:
        recs = [alert(n=n) for n in range(10)]
        for rec in recs:  # committed and offered while the worker does not run
            store.write(WriteBatch(alerts=[rec], outbox=sinks.outbox_rows([rec])))
            sinks.publish([], [rec])
        assert len(sink._fresh) <= 3 and sink.outbox.pending() == 10
        sinks.start()
        wait_for(lambda: len(rx.keys()) == 10, what="ten alerts delivered")
        wait_for(lambda: sink.outbox.pending() == 0, what="outbox empty")
    finally:
        sinks.stop()
        rx.close()
        store.close()
    assert len(rx.received) == 10 and rx.bad_signatures == 0
