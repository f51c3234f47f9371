"""GNU Radio ZMQ IQ -> DJI DroneID frames: ``zmq:tcp://127.0.0.1:5555[?pattern=pull][&format=ci16]``.

Two GNU Radio sinks are read: *ZMQ PUSH Sink* with ``?pattern=pull`` (recommended: PUSH/PULL
has back-pressure, the flowgraph waits for this reader and no message is lost) and *ZMQ PUB
Sink* (the default, ``pattern=sub``).

The usual way a flowgraph hands IQ to another program is a *ZMQ PUB Sink* of complex items
(pass tags off): each message is raw complex64 samples. This source subscribes to it and feeds
the shared IQ stream (:mod:`.iq_live`: sample counter, bounded DSP queue, counted drops). The
rate and centre frequency come from ``--sample-rate`` / ``--center-freq``.

A PUB socket drops messages for a slow subscriber without telling it; this source reads every
message as it comes (its own queue drops are counted), so a loss at the ZMQ level happens
only when this process cannot even read 400 MB/s. pyzmq is the optional extra
``dronewatch[sdr]``: without it the source fails with a message saying what to install.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from dronewatch.sources.iq_live import (
    NO_SAMPLES,
    POLL_S,
    IQChunk,
    IQStreamSource,
    stream_centre,
    stream_rate,
)
from dronewatch.sources.live import LiveOptions, LiveSource, SourceFatal

#: Messages ZMQ may hold for us while the reader is busy. ZMQ buffers whole messages in its
#: own thread: a high mark with large messages is unbounded memory in practice (measured:
#: 2 GB with 20 MB messages behind a loaded machine). GNU Radio's sink sends messages of a
#: flowgraph buffer (tens of kB to a few MB): 64 of them is a few ms to 1 s at 50 MS/s. What
#: ZMQ drops beyond it is unseen (PUB/SUB has no sequence numbers); the source's own drops
#: are counted.
RCVHWM = 64
#: At most this much is taken from the socket per chunk (the messages that are waiting).
DRAIN_BYTES = 8 << 20


#: ``?pattern=`` spellings -> our socket type: GNU Radio's PUSH sink is read with PULL,
#: its PUB sink with SUB.
PATTERNS = ("pull", "sub")


def parse_target(target: str) -> tuple[str, str, str | None]:
    """``tcp://h:p?pattern=pull&format=ci16`` -> (``tcp://h:p``, ``pull``, ``ci16``); the
    default pattern is ``sub``, the format None (``--iq-format``, else cf32)."""
    from dronewatch.sources.iq import RAW_FORMATS

    url, _, query = target.partition("?")
    pattern = "sub"
    fmt: str | None = None
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if key == "pattern" and value.lower() in PATTERNS:
            pattern = value.lower()
        elif key == "format" and value.lower() in RAW_FORMATS:
            fmt = value.lower()
        else:
            raise ValueError(f"ZMQ IQ stream {target!r}: unknown option {item!r} "
                             "(expected pattern=pull for a ZMQ PUSH Sink or pattern=sub for a "
                             "ZMQ PUB Sink, format=cf32 (Complex Float) or format=ci16 (Complex "
                             "Short items))")
    return url, pattern, fmt


class ZmqIQSource(IQStreamSource):
    """complex64 messages from GNU Radio's ZMQ PUSH Sink (PULL) or ZMQ PUB Sink (SUB)."""

    def __init__(self, target: str, options: LiveOptions) -> None:
        from dronewatch.sources.iq import raw_format

        target, self.pattern, fmt = parse_target(target)
        fmt = fmt or options.extra.get("iq_format") or options.extra.get("sdr_format") or "cf32"
        try:
            self.fmt = raw_format(str(fmt))
        except Exception as exc:  # Unsupported: an unknown --iq-format
            raise ValueError(f"ZMQ IQ stream {target!r}: {exc}") from exc
        if not target.startswith(("tcp://", "ipc://", "inproc://")):
            raise ValueError(f"ZMQ IQ stream {target!r}: expected zmq:tcp://HOST:PORT")
        rate = stream_rate(options.extra)
        if rate is None:
            raise ValueError(f"ZMQ IQ stream {target!r}: needs --sample-rate (serve/sensor: "
                             "--sdr-rate)")
        super().__init__(f"zmq:{target}", options, rate, stream_centre(options.extra))
        self.integer_samples = self.fmt.component.kind in "iu"
        self.url = target
        self.messages = 0
        self._rest = b""

    def detail(self) -> dict[str, Any]:
        return {**super().detail(), "messages": self.messages, "pattern": self.pattern,
                "format": self.fmt.datatype}

    def chunks(self, stop: threading.Event) -> Iterator[IQChunk]:
        try:
            import zmq
        except ImportError:
            raise SourceFatal(
                "ZMQ IQ input needs pyzmq: pip install 'dronewatch[sdr]' (or pyzmq)"
            ) from None
        ctx: Any = zmq.Context.instance()
        sock = ctx.socket(zmq.PULL if self.pattern == "pull" else zmq.SUB)
        try:
            sock.setsockopt(zmq.RCVHWM, RCVHWM)
            if self.pattern == "sub":
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.url)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            while not stop.is_set():
                if not poller.poll(int(POLL_S * 1000)):
                    continue
                # Every message already here, at once: GNU Radio sends one per work() call
                # (tens of kB), and a chunk per message costs the reader more than the copy
                # that joins them.
                parts: list[Any] = []
                size_b = 0
                while size_b < DRAIN_BYTES:
                    try:
                        msg = sock.recv(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self.messages += 1
                    parts.append(msg.buffer)  # no copy of the samples
                    size_b += len(parts[-1])
                if not parts:
                    continue
                data: Any = parts[0] if len(parts) == 1 else b"".join(parts)
                if self._rest:
                    data = self._rest + bytes(data)
                size = self.fmt.sample_bytes
                whole = len(data) // size * size
                self._rest = bytes(data[whole:])
                if whole:
                    raw = np.frombuffer(data, dtype=self.fmt.component,
                                        count=whole // self.fmt.component.itemsize)
                    # converted straight into the stream's segment (one pass, no copy)
                    yield IQChunk(NO_SAMPLES, raw=raw, raw_format=self.fmt)
        finally:
            sock.close(0)


def open_source(target: str, options: LiveOptions) -> LiveSource:
    return ZmqIQSource(target, options)
