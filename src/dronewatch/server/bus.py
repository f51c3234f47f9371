"""The in-process live event bus: pipeline -> WebSocket clients, with bounded memory.

Events are serialised once (JSON text) and fanned out to two bounded queues per client: one
for alerts and control events, sent first, and one for track updates, so that an alert never
waits behind a burst of track updates. A client that cannot keep up loses track updates (they
are coalesced upstream: the next update of a track carries its latest state) and is told how
many it lost; if its alert queue is full too, it is disconnected instead of buffering without
bound. ``publish_threadsafe`` is the entry point for the pipeline thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dronewatch.store.records import dumps

log = logging.getLogger(__name__)

TRACK = "track"
ALERT = "alert"


def event(kind: str, **payload: Any) -> tuple[str, str]:
    """An event as (kind, JSON text)."""
    return kind, dumps({"kind": kind, **payload})


@dataclass(slots=True, eq=False)
class Client:
    """One live-stream subscriber: its pending messages, alerts first."""

    maxsize: int
    urgent: deque[str] = field(default_factory=deque)  # alerts and control events
    tracks: deque[str] = field(default_factory=deque)  # track updates
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0  # track updates lost since the last "dropped" notice
    dropped_total: int = 0
    overflow: asyncio.Event = field(default_factory=asyncio.Event)

    def pending(self) -> int:
        return len(self.urgent) + len(self.tracks)

    def push_urgent(self, text: str) -> bool:
        if len(self.urgent) >= self.maxsize:
            return False
        self.urgent.append(text)
        self.wake.set()
        return True

    async def next(self) -> str:
        """The next message to send (alerts before track updates)."""
        while not (self.urgent or self.tracks):
            self.wake.clear()
            await self.wake.wait()
        return self.urgent.popleft() if self.urgent else self.tracks.popleft()


@dataclass(slots=True)
class BusCounters:
    published: int = 0
    delivered: int = 0
    dropped: int = 0
    disconnected_slow: int = 0


class EventBus:
    """Fan-out of serialised events to subscribed clients (all on the event loop thread)."""

    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.counters = BusCounters()
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def subscribe(self) -> Client:
        client = Client(self.queue_size)
        self.clients.add(client)
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    def publish(self, events: Sequence[tuple[str, str]]) -> None:
        """Deliver events to every client (call on the loop thread)."""
        self.counters.published += len(events)
        for client in list(self.clients):
            if client.overflow.is_set():
                continue
            tracks = client.tracks
            for kind, text in events:
                if kind == TRACK:
                    if len(tracks) >= client.maxsize:
                        client.dropped += 1
                        client.dropped_total += 1
                        self.counters.dropped += 1
                        continue
                    tracks.append(text)
                elif not client.push_urgent(text):
                    # An alert or control event cannot be dropped silently: let the client go.
                    client.overflow.set()
                    self.counters.disconnected_slow += 1
                    self.clients.discard(client)
                    log.warning("live stream client too slow: disconnected")
                    break
                self.counters.delivered += 1
            client.wake.set()

    def publish_threadsafe(self, events: Sequence[tuple[str, str]]) -> None:
        """Deliver events from another thread (no-op before the loop is bound or after it closed)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not events:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(self.publish, list(events))
