"""The sink contract: tracks, alerts and observations leave dronewatch after they are stored.

The pipeline service hands every committed write batch to a :class:`SinkSet` (from the
writer thread, once the transaction is committed: what a sink sends is in the database).
Each :class:`Sink` has its own bounded queue and its own worker thread, so a slow, hanging or
dead receiver never stalls the pipeline or another sink: :meth:`Sink.offer` never blocks; when
the queue is full the oldest events are dropped and counted (``dropped``), never silently.
A send that fails is counted (``failed``, ``last_error``) and the sink reconnects with
back-off. :meth:`Sink.stop` drains what is queued for at most a bounded time, then gives the
rest up (counted as dropped).

Every sink reports the same counters (:class:`SinkStats`): ``/health`` shows them and the
metrics endpoint can read them through :meth:`SinkSet.stats`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

log = logging.getLogger(__name__)

Kind = Literal["track", "alert", "observation"]
#: One event for a sink: ("track", track record) (``store.records.track_record`` plus
#: ``positions``), ("alert", alert record) (``store.records.alert_record``), or
#: ("observation", {column: value}) (``store.records.OBSERVATION_COLUMNS``).
SinkEvent = tuple[Kind, dict[str, Any]]

DEFAULT_QUEUE_MAX = 10_000  # events per sink
DRAIN_TIMEOUT_S = 3.0  # how long stop() lets a sink send what is queued
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
ALERT_LINGER_S = 0.05  # alert sinks: at most this much later than at once
TRACK_LINGER_S = 0.25  # track sinks: positions go at most once a second per track anyway
IDLE_S = 1.0  # a worker with nothing to send looks after its connection this often


class TrackThrottle:
    """At most one update per track every ``interval_s``; a change of state goes at once
    (CoT and MQTT out: a map or a home automation needs a drone's place once a second, not
    every frame)."""

    __slots__ = ("_last", "interval_s")

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, str]] = {}  # track -> (monotonic sent, state)

    def due(self, tid: str, state: str, mono: float) -> bool:
        """Whether an update of ``tid`` in ``state`` goes now."""
        last = self._last.get(tid)
        return last is None or last[1] != state or mono - last[0] >= self.interval_s

    def sent(self, tid: str, state: str, mono: float) -> None:
        """An update went (an ended track is forgotten)."""
        if state == "ended":
            self._last.pop(tid, None)
        else:
            self._last[tid] = (mono, state)

    def forget(self, tid: str) -> None:
        """The next update of ``tid`` goes at once."""
        self._last.pop(tid, None)


class SinkError(ValueError):
    """A sink cannot be configured (bad URL, unreadable secret, missing extra...)."""


@dataclass(slots=True)
class SinkStats:
    """A sink's counters (events unless said otherwise)."""

    name: str  # e.g. "cot udp://239.2.3.1:6969" (no secrets)
    kind: str  # cot, webhook, syslog, mqtt, notify
    queued: int = 0  # accepted into the queue (or the outbox)
    delivered: int = 0  # handed to the receiver (acknowledged where the protocol does)
    dropped: int = 0  # thrown away: queue full, rate limited out, given up at shutdown
    failed: int = 0  # send attempts that failed (the event may be retried: webhooks)
    skipped: int = 0  # left out on purpose: rate limited (a newer update follows), no position
    queue_depth: int = 0  # waiting now (webhooks: rows in the outbox)
    queue_max: int = 0
    connected: bool = False  # the last send worked
    last_error: str | None = None
    last_error_age_s: float | None = None  # seconds since the last failure
    alive: bool = False  # the worker thread runs
    sent: int = 0  # messages on the wire (CoT events, MQTT messages; else as delivered)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "queued": self.queued,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "failed": self.failed,
            "skipped": self.skipped,
            "queue_depth": self.queue_depth,
            "queue_max": self.queue_max,
            "connected": self.connected,
            "alive": self.alive,
            "last_error": self.last_error,
            "last_error_age_s": self.last_error_age_s,
            "sent": self.sent,
        }


class Sink:
    """One receiver. Subclasses set ``kind`` and ``wants`` and implement :meth:`send`
    (and :meth:`close` if they hold a connection); they run in the sink's worker thread only.

    ``send(events)`` delivers a list of events (returning how many it delivered) or raises: the events are then counted as
    failed (and dropped: live data is not worth resending late) and the sink waits with
    back-off before the next attempt. Sinks that must not lose anything (webhooks) override
    :meth:`_run` and keep their own durable queue.
    """

    kind: ClassVar[str] = "sink"
    wants: ClassVar[frozenset[Kind]] = frozenset({"track", "alert"})
    #: after a batch, the worker waits this long for the next to gather (see linger())
    linger_s: ClassVar[float] = ALERT_LINGER_S
    #: keeps what it owes in the store (webhooks): runs in the server's process
    durable: ClassVar[bool] = False

    def __init__(self, target: str, *, queue_max: int = DEFAULT_QUEUE_MAX) -> None:
        self.target = target  # for people: no secrets in it
        self.queue_max = queue_max
        self._queue: deque[SinkEvent] = deque()
        self._cond = threading.Condition()
        self._waiting = False  # the worker waits for events (offer() must wake it)
        self._behind = False  # the last take left events queued
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.queued = 0
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self.skipped = 0
        self.connected = False
        self.last_error: str | None = None
        self.last_error_at: float | None = None  # monotonic
        self._retry_s = RETRY_MIN_S

    @property
    def name(self) -> str:
        return f"{self.kind} {self.target}"

    # -- the pipeline's side (never blocks) ------------------------------------------------

    def offer(self, events: Sequence[SinkEvent]) -> None:
        """Queue events; beyond ``queue_max`` the oldest go (counted in ``dropped``)."""
        if not events:
            return
        with self._cond:
            q = self._queue
            q.extend(events)
            self.queued += len(events)
            over = len(q) - self.queue_max
            if over > 0:
                for _ in range(over):
                    q.popleft()
                self.dropped += over
            if self._waiting:  # else it is busy or lingering: it takes them next
                self._cond.notify()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._main, name=f"dronewatch-sink-{self.kind}", daemon=True
        )
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Send what is queued for at most ``timeout`` seconds, then stop (the rest is
        counted as dropped)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
            self.dropped += left
        if left:
            log.warning("%s: %d events not sent at shutdown", self.name, left)
        if self._thread is None or not self._thread.is_alive():
            self._close_quietly()

    def stats(self) -> SinkStats:
        now = time.monotonic()
        return SinkStats(
            name=self.name,
            kind=self.kind,
            queued=self.queued,
            delivered=self.delivered,
            dropped=self.dropped,
            failed=self.failed,
            skipped=self.skipped,
            queue_depth=self.depth(),
            queue_max=self.queue_max,
            connected=self.connected,
            last_error=self.last_error,
            last_error_age_s=(
                round(now - self.last_error_at, 3) if self.last_error_at is not None else None
            ),
            alive=self.alive,
            sent=self.sent(),
        )

    def sent(self) -> int:
        """Messages on the wire so far (a sink that sends several per event says so)."""
        return self.delivered

    def depth(self) -> int:
        return len(self._queue)

    def outbox_rows(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows for the store's outbox, committed with these alerts (durable sinks only)."""
        return []

    # -- the worker ------------------------------------------------------------------------

    def send(self, events: list[SinkEvent]) -> int:
        """Deliver ``events`` (or raise); the number delivered (the rest were ``skipped``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop the connection (the next send opens another)."""

    def _close_quietly(self) -> None:
        try:
            self.close()
        except Exception as exc:
            log.debug("%s: closing failed: %s", self.name, exc)

    def failure(self, exc: BaseException | str, n: int = 0) -> None:
        """Count a failed attempt at ``n`` events (they are dropped) and remember why."""
        text = exc if isinstance(exc, str) else f"{exc.__class__.__name__}: {exc}"
        if self.connected or self.last_error != text:
            log.error("%s: %s", self.name, text)
        with self._cond:  # offer() counts drops too, from the writer thread
            self.failed += n
            self.dropped += n
        self.connected = False
        self.last_error = text[:300]
        self.last_error_at = time.monotonic()

    def success(self, n: int) -> None:
        self.delivered += n
        if not self.connected and self.last_error is not None:
            log.info("%s: delivering again", self.name)
        self.connected = True
        self._retry_s = RETRY_MIN_S

    def _take(self, limit: int = 1000, wait_s: float = IDLE_S) -> list[SinkEvent]:
        """Wait for events (at most ``wait_s``, less when stopping) and take up to ``limit``
        of them: a wake-up takes everything queued since the last (a committed batch or
        several), not one event; ``[]`` when none came."""
        with self._cond:
            if not self._queue and not self._stopping.is_set():
                self._waiting = True
                try:
                    self._cond.wait(wait_s)
                finally:
                    self._waiting = False
            q = self._queue
            n = min(len(q), limit)
            self._behind = n < len(q)  # more are waiting: no lingering
            if not self._behind:
                out = list(q)
                q.clear()
                return out
            return [q.popleft() for _ in range(n)]

    def idle(self) -> None:
        """Called in the worker when no event came for ``IDLE_S`` (keepalives, acks)."""

    def reset(self) -> None:
        """After a failed send: drop the connection (the next send opens another)."""
        self._close_quietly()

    def _backoff(self) -> None:
        """Wait before the next attempt (doubling up to ``RETRY_MAX_S``), unless stopping."""
        self._stopping.wait(self._retry_s)
        self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)

    def _main(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug: say so; the events are counted by stop()
            self.failure(exc)
            log.exception("%s: the sink's worker died", self.name)

    def _run(self) -> None:
        while True:
            events = self._take()
            if not events:
                if self._stopping.is_set():
                    return
                try:
                    self.idle()
                except Exception as exc:
                    self.failure(exc)
                    self.reset()
                continue
            try:
                n = self.send(events)
            except Exception as exc:
                self.failure(exc, len(events))
                self.reset()
                if self._stopping.is_set():
                    return
                self._backoff()
            else:
                self.success(n)
                self.linger()

    def linger(self) -> None:
        """After a batch, let the next gather for ``linger_s`` (until stopping; not when
        events are left over): the writer thread hands over a batch every 25 ms, and waking a
        worker for each costs both threads a context switch (on two busy cores, more than the
        work itself)."""
        if self.linger_s > 0 and not self._behind and not self._stopping.is_set():
            self._stopping.wait(self.linger_s)


class RemoteSinks(Protocol):
    """Sinks that run elsewhere (``sinks.process.SinkProcess``: a child process), fed and
    read as one."""

    want_tracks: bool
    want_alerts: bool

    def __len__(self) -> int: ...
    def start(self) -> None: ...
    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None: ...
    def ensure_alive(self) -> bool: ...
    def offer(self, tracks: Sequence[dict[str, Any]], alerts: Sequence[dict[str, Any]]) -> None: ...
    def stats(self) -> list[SinkStats]: ...


class SinkSet:
    """The sinks of one server: fed once per committed batch (:meth:`publish`).
    ``remote``: the streaming sinks in a process of their own (``sinks.process``)."""

    def __init__(self, sinks: Iterable[Sink] = (), remote: RemoteSinks | None = None) -> None:
        self.sinks = list(sinks)
        self.remote = remote
        self.want_observations = any("observation" in s.wants for s in self.sinks)
        self.want_tracks = any("track" in s.wants for s in self.sinks) or bool(
            remote and remote.want_tracks
        )
        self.want_alerts = any("alert" in s.wants for s in self.sinks) or bool(
            remote and remote.want_alerts
        )

    def __bool__(self) -> bool:
        return bool(len(self))

    def __len__(self) -> int:
        return len(self.sinks) + (len(self.remote) if self.remote is not None else 0)

    def start(self) -> None:
        for sink in self.sinks:
            sink.start()
        if self.remote is not None:
            self.remote.start()

    def ensure_alive(self) -> bool:
        """Start the sinks' process again if it died (the server's watchdog, every second)."""
        return self.remote is not None and self.remote.ensure_alive()

    def stop(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Stop every sink, draining them in parallel for at most ``timeout`` seconds."""
        stops: list[Any] = [s.stop for s in self.sinks]
        if self.remote is not None:
            stops.append(self.remote.stop)
        threads = [threading.Thread(target=stop, args=(timeout,), daemon=True) for stop in stops]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 3.0)

    def outbox_rows(self, alerts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The outbox rows of the durable sinks for these alerts (into the write batch)."""
        rows: list[dict[str, Any]] = []
        for sink in self.sinks:
            rows += sink.outbox_rows(alerts)
        return rows

    def publish(
        self,
        tracks: Sequence[dict[str, Any]],
        alerts: Sequence[dict[str, Any]],
        observations: Sequence[tuple[Any, ...]] = (),
    ) -> None:
        """Committed results -> every sink that wants them (never blocks). Records are
        shared between sinks: read-only. ``observations``: ``OBSERVATION_COLUMNS`` rows."""
        if self.remote is not None:
            self.remote.offer(
                tracks if self.remote.want_tracks else (),
                alerts if self.remote.want_alerts else (),
            )
        if not self.sinks:
            return
        t_events: list[SinkEvent] = [("track", r) for r in tracks]
        a_events: list[SinkEvent] = [("alert", r) for r in alerts]
        o_events: list[SinkEvent] = []
        if self.want_observations and observations:
            from dronewatch.store.records import OBSERVATION_COLUMNS

            o_events = [
                ("observation", dict(zip(OBSERVATION_COLUMNS, row, strict=True)))
                for row in observations
            ]
        for sink in self.sinks:
            wants = sink.wants
            events: list[SinkEvent] = []
            if "alert" in wants:
                events += a_events
            if "track" in wants:
                events += t_events
            if "observation" in wants:
                events += o_events
            if events:
                sink.offer(events)

    def stats(self) -> list[SinkStats]:
        """Every sink's counters (for ``/health`` and the metrics endpoint)."""
        remote = self.remote.stats() if self.remote is not None else []
        return [s.stats() for s in self.sinks] + remote
