"""TAK / Cursor-on-Target: drones, pilots and home points on ATAK, WinTAK, iTAK, TAK Server.

Each live track becomes up to three CoT events, as DragonSync sends them:

* the drone, ``a-u-A-M-F-Q-r`` (unknown affiliation, air, military, fixed/rotary: a UAS
  rotary wing), uid ``dronewatch-<track>``, with course and speed, and remarks (serial, UAS
  ID, operator ID, type, product, transports, sensors, the last alert);
* the pilot, ``b-m-p-s-m`` (a spot map marker), uid ``dronewatch-<track>-pilot``;
* the home point, ``b-m-p-s-m``, uid ``dronewatch-<track>-home``.

UIDs are stable for a track, so TAK clients move the markers. ``time``/``start`` are the
server's clock when sent and ``stale`` ``stale_s`` later (an ended track: stale at once, so
the marker goes). At most one update per track every ``interval_s`` (state changes go at
once): a thousand drones cannot flood a TAK network. Over UDP each event is one datagram
(multicast: the usual SA group 239.2.3.1:6969); over TCP and TLS (a TAK Server, usually
port 8089 with a client certificate) events follow each other on the stream.
"""

from __future__ import annotations

import math
import time
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from dronewatch.sinks.base import (
    DEFAULT_QUEUE_MAX,
    TRACK_LINGER_S,
    Kind,
    Sink,
    SinkError,
    SinkEvent,
    TrackThrottle,
)
from dronewatch.sinks.net import Link, parse_endpoint, tls_context

DRONE_TYPE = "a-u-A-M-F-Q-r"
PILOT_TYPE = "b-m-p-s-m"
HOME_TYPE = "b-m-p-s-m"
UNKNOWN = "9999999.0"  # CoT's "not known" for ce, le and hae
DEFAULT_PORTS = {"udp": 6969, "tcp": 8087, "tls": 8089}
UID_PREFIX = "dronewatch-"
PLACE_REFRESH = 0.5  # an unchanged pilot or home event is sent again after stale_s times this


def cot_time(t: float) -> str:
    """Epoch seconds -> CoT's ``2026-12-07T19:21:13.123Z``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _num(value: Any, default: str = UNKNOWN) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return default
    return f"{float(value):.7f}".rstrip("0").rstrip(".")


def callsign(rec: dict[str, Any]) -> str:
    return str(rec.get("serial") or rec.get("uas_id") or rec.get("track_id"))


def remarks(rec: dict[str, Any], alert: str | None) -> str:
    parts = []
    for label, key in (
        ("Serial", "serial"),
        ("UAS ID", "uas_id"),
        ("Operator ID", "operator_id"),
        ("Type", "ua_type"),
        ("Product", "product"),
    ):
        if rec.get(key):
            parts.append(f"{label}: {rec[key]}")
    if rec.get("transports"):
        parts.append("Via: " + ", ".join(rec["transports"]))
    if rec.get("sensors"):
        parts.append("Sensors: " + ", ".join(rec["sensors"]))
    if rec.get("state") and rec["state"] != "active":
        parts.append(f"State: {rec['state']}")
    if alert:
        parts.append(f"Alert: {alert}")
    parts.append(f"Track: {rec.get('track_id')}")
    return "; ".join(parts)


_TEXT = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ATTR = (*_TEXT, ('"', "&quot;"), ("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;"))


def escape(text: str, table: tuple[tuple[str, str], ...] = _TEXT) -> str:
    """XML character data (``table``: what to replace, ampersand first)."""
    for char, entity in table:
        if char in text:  # mostly not: a scan, no copy
            text = text.replace(char, entity)
    return text


def _attr(value: Any) -> str:
    """An XML attribute value in double quotes."""
    return escape(str(value), _ATTR)


@dataclass(slots=True, frozen=True)
class Marker:
    """The text of one marker's events that rarely changes (uid, type, name, link, remarks),
    escaped once: each event then formats only its times and its position (a thousand
    drones make thousands of events a second)."""

    head: str  # <event ... how="m-g"
    detail: str  # <detail><contact .../>
    tail: str  # <link .../><remarks>...</remarks></detail></event>

    @classmethod
    def make(
        cls,
        uid: str,
        cot_type: str,
        name: str,
        remark: str,
        link: tuple[str, str] | None = None,
    ) -> Marker:
        tail = f"<remarks>{escape(remark)}</remarks></detail></event>"
        if link is not None:
            tail = f'<link uid="{_attr(link[0])}" type="{_attr(link[1])}" relation="p-p"/>{tail}'
        return cls(
            f'<event version="2.0" uid="{_attr(uid)}" type="{_attr(cot_type)}" how="m-g" ',
            f'<detail><contact callsign="{_attr(name)}"/>',
            tail,
        )

    def xml(
        self,
        times: tuple[str, str],
        lat: Any,
        lon: Any,
        hae: Any,
        course: Any = None,
        speed: Any = None,
    ) -> str:
        """The event as XML text (``times``: its time/start and its stale, CoT format)."""
        track = (
            f'<track course="{_num(course, "0")}" speed="{_num(speed, "0")}"/>'
            if course is not None or speed is not None
            else ""
        )
        return (
            f'{self.head}time="{times[0]}" start="{times[0]}" stale="{times[1]}">'
            f'<point lat="{_num(lat)}" lon="{_num(lon)}" hae="{_num(hae)}" ce="{UNKNOWN}" '
            f'le="{UNKNOWN}"/>{self.detail}{track}{self.tail}'
        )


def identity(rec: dict[str, Any], alert: str | None) -> tuple[Any, ...]:
    """What a track's markers say besides positions: when it changes they are made again."""
    return (
        rec.get("serial"),
        rec.get("uas_id"),
        rec.get("operator_id"),
        rec.get("ua_type"),
        rec.get("product"),
        tuple(rec.get("transports") or ()),
        tuple(rec.get("sensors") or ()),
        rec.get("state"),
        alert,
    )


@dataclass(slots=True, frozen=True)
class TrackMarkers:
    """A track's three markers: the drone, its pilot and its home point."""

    ident: tuple[Any, ...]  # identity() they were made from
    drone: Marker
    pilot: Marker
    home: Marker

    @classmethod
    def make(cls, rec: dict[str, Any], alert: str | None, ident: tuple[Any, ...]) -> TrackMarkers:
        uid = f"{UID_PREFIX}{rec['track_id']}"
        name = callsign(rec)
        text = remarks(rec, alert)
        pilot = f"Pilot of {name}"
        if rec.get("operator_id"):
            pilot += f" ({rec['operator_id']})"
        return cls(
            ident,
            Marker.make(uid, DRONE_TYPE, name, text),
            Marker.make(f"{uid}-pilot", PILOT_TYPE, f"{name} pilot", f"{pilot}; {text}",
                        (uid, DRONE_TYPE)),
            Marker.make(f"{uid}-home", HOME_TYPE, f"{name} home", f"Home point of {name}; {text}",
                        (uid, DRONE_TYPE)),
        )


def places(rec: dict[str, Any]) -> dict[str, tuple[Any, ...] | None]:
    """The pilot's and the home point's positions (``None``: none): an event that says the
    same as the last one sent need not go again before it gets stale."""
    out: dict[str, tuple[Any, ...] | None] = {"pilot": None, "home": None}
    if rec.get("operator_lat") is not None and rec.get("operator_lon") is not None:
        out["pilot"] = (rec["operator_lat"], rec["operator_lon"], rec.get("operator_alt"))
    if rec.get("home_lat") is not None and rec.get("home_lon") is not None:
        out["home"] = (rec["home_lat"], rec["home_lon"], None)
    return out


def track_events(
    rec: dict[str, Any],
    now: float,
    stale_s: float,
    alert: str | None = None,
    *,
    markers: TrackMarkers | None = None,
    parts: AbstractSet[str] = frozenset({"drone", "pilot", "home"}),
    stamps: tuple[str, str] | None = None,
    at: dict[str, tuple[Any, ...] | None] | None = None,
) -> list[str]:
    """The CoT events of one track record: drone, pilot, home (those with a position and in
    ``parts``); ``markers``: its markers, if already made; ``stamps``: ``now`` and ``now +
    stale_s`` in CoT format, if already made (a batch shares them); ``at``: ``places(rec)``,
    if already made."""
    if markers is None:
        markers = TrackMarkers.make(rec, alert, identity(rec, alert))
    if stamps is None:
        stamps = (cot_time(now), cot_time(now + stale_s))
    times = (stamps[0], stamps[0]) if rec.get("state") == "ended" else stamps
    out = []
    if "drone" in parts and rec.get("lat") is not None and rec.get("lon") is not None:
        out.append(
            markers.drone.xml(
                times, rec["lat"], rec["lon"], rec.get("alt"), rec.get("direction"),
                rec.get("speed"),
            )
        )
    if at is None:
        at = places(rec)
    for part, marker in (("pilot", markers.pilot), ("home", markers.home)):
        place = at[part]
        if part in parts and place is not None:
            out.append(marker.xml(times, *place))
    return out


class CotSink(Sink):
    """Tracks (and the alerts on them, in the remarks) as CoT to one endpoint."""

    kind: ClassVar[str] = "cot"
    wants: ClassVar[frozenset[Kind]] = frozenset({"track", "alert"})
    linger_s: ClassVar[float] = TRACK_LINGER_S

    def __init__(
        self,
        url: str,
        *,
        cert: Path | None = None,
        key: Path | None = None,
        ca: Path | None = None,
        stale_s: float = 60.0,
        interval_s: float = 1.0,
        queue_max: int = DEFAULT_QUEUE_MAX,
    ) -> None:
        ep = parse_endpoint(url, "--cot", DEFAULT_PORTS)
        super().__init__(str(ep), queue_max=queue_max)
        tls = tls_context(ca, cert, key, "--cot") if ep.scheme == "tls" else None
        if ep.scheme != "tls" and (cert or key):
            raise SinkError(f"--cot {url}: --cot-cert/--cot-key need tls://")
        self.link = Link(ep, tls)
        self.stale_s = stale_s
        self.throttle = TrackThrottle(interval_s)
        self._alert: dict[str, str] = {}  # track -> message of its open alert
        # track -> part (pilot, home) -> (what its last event said, monotonic time to resend)
        self._places: dict[str, dict[str, tuple[tuple[Any, ...], float]]] = {}
        self._markers: dict[str, TrackMarkers] = {}  # track -> its markers, as last made
        self.events_sent = 0  # CoT events (up to three per track update)

    def send(self, events: list[SinkEvent]) -> int:
        now = time.time()
        mono = time.monotonic()
        out: list[bytes] = []
        sent = 0
        newline = b"\n" if self.link.stream else b""
        declaration = b"" if self.link.stream else b'<?xml version="1.0" encoding="UTF-8"?>\n'
        stamps = (cot_time(now), cot_time(now + self.stale_s))
        for kind, rec in events:
            tid = rec.get("track_id")
            if tid is None:
                self.skipped += 1
                continue
            if kind == "alert":
                if rec.get("status") == "closed":
                    self._alert.pop(tid, None)
                else:
                    self._alert[tid] = str(rec.get("message"))
                self.throttle.forget(tid)  # the next update goes at once, with the alert
                self.skipped += 1
                continue
            state = str(rec.get("state"))
            if not self.throttle.due(tid, state, mono):
                self.skipped += 1  # a newer update comes within interval_s
                continue
            alert = self._alert.get(tid)
            ident = identity(rec, alert)
            markers = self._markers.get(tid)
            if markers is None or markers.ident != ident:
                markers = self._markers[tid] = TrackMarkers.make(rec, alert, ident)
            ended = state == "ended"
            parts = {"drone"}
            sent_places = self._places.get(tid, {})
            at = places(rec)
            keys = {
                part: None if place is None else (place, markers.ident)
                for part, place in at.items()
            }
            for part, key in keys.items():
                if key is None:
                    continue
                last_place = sent_places.get(part)
                # Again when it moved or says something new, when the track ends, and
                # before the marker gets stale.
                if ended or last_place is None or last_place[0] != key or mono >= last_place[1]:
                    parts.add(part)
            xml = track_events(
                rec, now, self.stale_s, markers=markers, parts=parts, stamps=stamps, at=at
            )
            if not xml:
                self.skipped += 1
                continue
            self.throttle.sent(tid, state, mono)
            if ended:
                self._alert.pop(tid, None)
                self._places.pop(tid, None)
                self._markers.pop(tid, None)
            else:
                refresh = mono + self.stale_s * PLACE_REFRESH
                for part in parts - {"drone"}:
                    key = keys[part]
                    if key is not None:
                        sent_places[part] = (key, refresh)
                self._places[tid] = sent_places
            out.extend(declaration + ev.encode() + newline for ev in xml)
            sent += 1
        if out:
            self.link.send(out)
            self.events_sent += len(out)
        return sent

    def sent(self) -> int:
        return self.events_sent

    def close(self) -> None:
        self.link.close()
