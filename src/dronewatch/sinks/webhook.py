"""Webhooks: every alert event POSTed as JSON, signed, at least once.

The body is one JSON object::

    {"type": "alert", "idempotency_key": "<uuid>", "source": "dronewatch",
     "alert": {... the API's Alert ...}}

with the headers ``Content-Type: application/json``, ``Idempotency-Key: <uuid>`` (the same
on every attempt at the same event), ``X-Dronewatch-Event: alert`` and, with a secret,
``X-Dronewatch-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``.

Nothing is lost across a receiver outage or a dronewatch restart: the event is written to the
store's outbox in the same transaction as the alert (``WriteBatch.outbox``), and deleted only
once the receiver answered 2xx. Failures (network, timeout, 5xx, 408, 429) are retried with
back-off (doubling to ``retry_max_s``), oldest first; any other 4xx means the receiver refuses
this event: it is dropped (counted, logged). Events older than ``max_age_s`` are given up
(counted). A receiver may see an event more than once (a lost answer): always with the same
idempotency key, so it can tell.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from dronewatch import __version__
from dronewatch.sinks.base import Kind, Sink, SinkError, SinkEvent
from dronewatch.sinks.http_post import MAX_ANSWER, PostConnection
from dronewatch.store import Store, StoreError
from dronewatch.store.outbox import Outbox, OutboxItem, outbox_row
from dronewatch.store.records import alert_json

SIGNATURE_HEADER = "X-Dronewatch-Signature"
KEY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Dronewatch-Event"
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 60.0
MAX_AGE_S = 7 * 86400.0
IDLE_POLL_S = 60.0  # offer() wakes the worker; the outbox is looked at at least this often
DUE_LIMIT = 50  # events taken from the outbox per round
FRESH_MAX = 10_000  # alerts held in memory for the worker (beyond: read from the outbox)
SETTLE_S = 0.5  # delivered rows are deleted together after at most this long
SETTLE_MAX = 200  # or once this many wait
_KEYS = uuid.UUID("5f0d0c52-9a4e-4b8e-9d0a-6c1f0f3d2b7a")  # namespace of idempotency keys


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` (for receivers; constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def idempotency_key(target: str, rec: dict[str, Any]) -> str:
    """The same alert event (episode, status, time) always gets the same key."""
    return str(uuid.uuid5(_KEYS, f"{target}|{rec['alert_id']}|{rec['status']}|{rec['time']!r}"))


def redact_url(url: str) -> str:
    """The URL without credentials or query (they may hold tokens): for logs and /health."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host += f":{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


class WebhookSink(Sink):
    """Alerts to one URL through the store's outbox."""

    kind: ClassVar[str] = "webhook"
    wants: ClassVar[frozenset[Kind]] = frozenset({"alert"})
    durable: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        store: Store,
        *,
        secret: bytes | None = None,
        timeout_s: float = 5.0,
        retry_first_s: float = RETRY_FIRST_S,
        retry_max_s: float = RETRY_MAX_S,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        try:  # (checks the URL: http:// or https://, a host, a path fit for a request)
            self._http = PostConnection(url, timeout_s=timeout_s)  # kept alive between POSTs
        except ValueError as exc:
            raise SinkError(f"--webhook {redact_url(url)!r}: {exc}") from exc
        p = urlsplit(url)
        super().__init__(redact_url(url), queue_max=0)
        self.url = url
        # The outbox rows' owner: the URL's digest (the URL may hold a token).
        self.outbox_target = "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:24]
        self.outbox = Outbox(store, self.outbox_target)
        self.secret = secret
        self.timeout_s = timeout_s
        self.retry_first_s = retry_first_s
        self.retry_max_s = retry_max_s
        self.max_age_s = max_age_s
        self._pending = 0  # rows in the outbox, as last counted
        self._wake = False
        self._fresh: deque[dict[str, Any]] = deque()  # offered, not yet taken (committed)
        self._taken: list[str] = []  # keys delivered, their rows not deleted yet
        self._taken_at: float | None = None  # monotonic: when the first of them was
        self._worked = False  # the last round sent something
        self._overflow = False  # offer() dropped what it held: read the outbox
        self._backlog = True  # rows may wait for a retry (unknown at start: ask the outbox)
        auth: dict[str, str] = {}
        if p.username is not None:  # http://user:password@host/...: HTTP basic authentication
            user = urllib.parse.unquote(p.username)
            password = urllib.parse.unquote(p.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            auth["Authorization"] = f"Basic {token}"
        proxies = urllib.request.getproxies()
        self._proxied = p.scheme in proxies and not urllib.request.proxy_bypass(p.hostname or "")
        self._fixed_headers = {
            "Content-Type": "application/json",
            "User-Agent": f"dronewatch/{__version__}",
            EVENT_HEADER: "alert",
            **auth,
        }
        self._fixed = PostConnection.header_block(self._fixed_headers)  # (base64, constants)

    # -- the pipeline's side ---------------------------------------------------------------

    def event(self, rec: dict[str, Any]) -> tuple[str, str]:
        """(idempotency key, JSON body) of an alert record: the same for the same record."""
        key = idempotency_key(self.outbox_target, rec)
        body = json.dumps(
            {
                "type": "alert",
                "idempotency_key": key,
                "source": "dronewatch",
                "alert": alert_json(rec),
            },
            separators=(",", ":"),
            sort_keys=True,
            default=str,
        )
        return key, body

    def outbox_rows(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        now = time.time()
        return [outbox_row(self.outbox_target, *self.event(rec), now) for rec in alerts]

    def offer(self, events: Sequence[SinkEvent]) -> None:
        """The alerts are in the outbox (committed): wake the worker, who has them at hand
        (while nothing waits for a retry it need not read them back from the outbox)."""
        with self._cond:
            self.queued += len(events)
            self._pending += len(events)
            self._fresh.extend(rec for _, rec in events)
            if len(self._fresh) > FRESH_MAX:  # the worker is stuck: the outbox has them all
                self._fresh.clear()
                self._overflow = True
            self._wake = True
            if self._waiting:  # else it is busy or lingering: it takes them next
                self._cond.notify()

    def depth(self) -> int:
        return self._pending

    # -- the worker ------------------------------------------------------------------------

    def post(self, item: OutboxItem) -> int:
        """POST one event; the HTTP status (``OSError`` if there was no answer)."""
        body = item.body.encode()
        headers = {KEY_HEADER: item.key}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        if self._proxied:
            return self._post_via_proxy(body, {**self._fixed_headers, **headers})
        return self._http.post(body, headers, self._fixed)

    def _post_via_proxy(self, body: bytes, headers: dict[str, str]) -> int:
        """Through the proxy the environment names (``https_proxy``...), as urllib does."""
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read(MAX_ANSWER)
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def close(self) -> None:
        self._http.close()

    def _delay(self, attempts: int) -> float:
        return float(min(self.retry_first_s * 2 ** min(attempts, 30), self.retry_max_s))

    def _attempt(self, item: OutboxItem) -> tuple[str, str]:
        """POST ``item``: ("ok" | "refused" | "retry", why). Counts it."""
        try:
            status = self.post(item)
        except (OSError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"
            status = 0
        else:
            error = f"HTTP {status}"
        if 200 <= status < 300:
            self.success(1)
            return "ok", error
        self.failed += 1
        if 400 <= status < 500 and status not in (408, 425, 429):
            self.dropped += 1  # the receiver refuses this event: retrying is futile
            self.failure(f"{error}: the receiver refused event {item.key}; dropped")
            return "refused", error
        self.failure(f"{error} (attempt {item.attempts + 1}; retrying)")
        return "retry", error

    def _fresh_round(self) -> float | None:
        """Nothing waits for a retry: POST the alerts offer() handed over (committed to the
        outbox), then delete what was taken, by key; no query for what is due. A failure
        hands the rest over to the outbox (``_backlog``)."""
        with self._cond:
            fresh = list(self._fresh)
            self._fresh.clear()
            self._wake = False
        self._worked = bool(fresh)
        done: list[str] = []
        now = time.time()
        try:
            for rec in fresh:
                if self._stopping.is_set():
                    self._backlog = True
                    break
                key, body = self.event(rec)
                item = OutboxItem(0, key, body, 0, now)
                outcome, error = self._attempt(item)
                if outcome != "retry":
                    done.append(key)
                    continue
                self.outbox.retry_key(key, time.time() + self._delay(0), error[:300])
                self._backlog = True  # this one and the rest: from the outbox, in order
                break
            self._taken += done
            self._settle(force=self._backlog)
        except StoreError as exc:
            self.failure(f"outbox: {exc}")
            self._backlog = True
            return time.time() + 1.0
        if self._backlog:
            return self._summary()
        with self._cond:
            self._pending = len(self._fresh)
        return None

    def _settle(self, force: bool = False) -> None:
        """Delete the rows delivered by key: at once with ``force`` (before the outbox is
        queried, at shutdown), else once ``SETTLE_S`` passed since the first of them or
        ``SETTLE_MAX`` are waiting: one transaction for a burst of alerts, not one per
        wake-up. (Until then a crash redelivers them: at least once, same key.)"""
        if not self._taken:
            self._taken_at = None
            return
        mono = time.monotonic()
        if self._taken_at is None:
            self._taken_at = mono
        if force or len(self._taken) >= SETTLE_MAX or mono - self._taken_at >= SETTLE_S:
            self.outbox.done_keys(self._taken)
            self._taken = []
            self._taken_at = None

    def _summary(self) -> float | None:
        pending, nxt = self.outbox.summary()
        with self._cond:
            self._pending = pending
        return nxt

    def _round(self) -> float | None:
        """Deliver what is due; when to look again (``None``: when woken)."""
        with self._cond:
            if self._overflow:
                self._overflow = False
                self._backlog = True
        if not self._backlog:
            return self._fresh_round()
        now = time.time()
        done: list[int] = []
        delivered: set[str] = set()
        failed = False
        try:
            self._settle(force=True)  # the query must not find what was delivered
            with self._cond:
                self._wake = False  # what offer() announced until now is in this query
                self._fresh.clear()  # committed: the query finds them
            due = self.outbox.due(now, DUE_LIMIT)
            self._worked = bool(due)
            for item in due:
                if self._stopping.is_set():
                    break
                if item.attempts and now - item.created > self.max_age_s:
                    done.append(item.id)
                    self.dropped += 1
                    self.failure(f"gave up an event after {item.attempts} attempts (too old)")
                    continue
                outcome, error = self._attempt(item)
                if outcome == "ok":
                    done.append(item.id)
                    delivered.add(item.key)
                    continue
                failed = True
                if outcome == "refused":
                    done.append(item.id)
                    continue
                self.outbox.retry(item, time.time() + self._delay(item.attempts), error[:300])
                break  # the receiver is down: the others wait for the back-off too
            self.outbox.done(done)
            pending, nxt = self.outbox.summary()
            with self._cond:
                self._pending = pending
                if pending == 0 and not failed and not self._stopping.is_set():
                    # The outbox is empty: what offer() hands over from now on is all that
                    # is owed (less what the query above found already).
                    self._backlog = False
                    self._fresh = deque(
                        r for r in self._fresh if self.event(r)[0] not in delivered
                    )
                    self._pending = len(self._fresh)
        except StoreError as exc:
            self.failure(f"outbox: {exc}")
            self._backlog = True
            return time.time() + 1.0
        return nxt

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._worked = False
            nxt = self._round()
            if self._worked:  # let the next alerts gather a moment
                self.linger()
            now = time.time()
            wait = IDLE_POLL_S if nxt is None else min(max(nxt - now, 0.0), IDLE_POLL_S)
            if nxt is not None and nxt <= now:
                continue
            if self._taken_at is not None:  # deletes to settle
                wait = min(wait, max(self._taken_at + SETTLE_S - time.monotonic(), 0.0))
            with self._cond:
                if not self._wake:  # woken by offer(): new rows were committed
                    self._waiting = True
                    try:
                        self._cond.wait(wait)
                    finally:
                        self._waiting = False
                self._wake = False
        try:
            self._settle(force=True)
        except StoreError as exc:  # delivered again after the restart (same keys)
            self.failure(f"outbox: {exc}")
        self._http.close()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop at once: what is not delivered stays in the outbox for the next start."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
