"""Syslog for SIEMs: every alert event as an RFC 5424 message, or CEF inside one.

``--syslog udp://HOST:514`` (one datagram per message), ``tcp://HOST:514`` or
``tls://HOST:6514`` (RFC 5425: octet-counting framing, ``LEN SP MSG``); ``?facility=local3``
picks the facility (default ``local0``). Severity: critical -> crit (2), warning ->
warning (4), info -> info (6).

RFC 5424 (``--syslog-format rfc5424``)::

    <130>1 2026-12-07T19:21:13.123456Z host dronewatch 4242 alert
    [dronewatch@32473 alert_id="..." rule="zone" severity="critical" status="open"
    track_id="..." uas_id="..." serial="..." zone="..." lat="45.5" lon="-122.9"]
    \\ufeffdrone MFG1A0123456789 in zone Test field

(32473 is the enterprise number RFC 5612 reserves for examples: SIEMs key on the SD-ID name.)

CEF (``--syslog-format cef``), the message of an RFC 5424 header without structured data::

    CEF:0|dronewatch|dronewatch|0.1.0|zone|drone ... in zone Test field|10|rt=... externalId=...
    act=open cat=zone dlat=45.5 dlong=-122.9 cs1Label=uasId cs1=... cs2Label=serial cs2=...
    cs3Label=zone cs3=... cs4Label=trackId cs4=...
"""

from __future__ import annotations

import contextlib
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from dronewatch import __version__
from dronewatch.sinks.base import DEFAULT_QUEUE_MAX, Kind, Sink, SinkError, SinkEvent
from dronewatch.sinks.net import Link, parse_endpoint, tls_context

DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
FACILITIES = {
    **{f"local{i}": 16 + i for i in range(8)},
    "user": 1,
    "daemon": 3,
    "auth": 4,
    "authpriv": 10,
    "security": 13,
}
SEVERITY = {"critical": 2, "warning": 4, "info": 6}
CEF_SEVERITY = {"critical": 10, "warning": 6, "info": 3}
SD_ID = "dronewatch@32473"
APP = "dronewatch"
MAX_UDP = 8192  # longer messages are cut (UDP receivers take at least 480/2048 octets)
_SD_FIELDS = (
    "alert_id",
    "rule",
    "severity",
    "status",
    "track_id",
    "uas_id",
    "serial",
    "zone",
    "lat",
    "lon",
    "alt",
    "operator_lat",
    "operator_lon",
)


def _ts(t: Any) -> str:
    try:
        return datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"


def _sd_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_name(text: str, limit: int) -> str:
    """PRINTUSASCII without spaces, at most ``limit`` characters (hostname, app-name...)."""
    out = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)[:limit]
    return out or "-"


def _cef_header(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cef_ext(value: Any) -> str:
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )


def rfc5424(rec: dict[str, Any], facility: int, hostname: str, procid: str) -> str:
    """An alert record as an RFC 5424 message (without framing)."""
    pri = facility * 8 + SEVERITY.get(str(rec.get("severity")), 5)
    params = " ".join(f'{k}="{_sd_value(rec[k])}"' for k in _SD_FIELDS if rec.get(k) is not None)
    sd = f"[{SD_ID} {params}]" if params else "-"
    msg = str(rec.get("message") or "")
    return f"<{pri}>1 {_ts(rec.get('time'))} {hostname} {APP} {procid} alert {sd} \ufeff{msg}"


def cef(rec: dict[str, Any], facility: int, hostname: str, procid: str) -> str:
    """An alert record as CEF in an RFC 5424 message (without framing)."""
    sev = str(rec.get("severity"))
    pri = facility * 8 + SEVERITY.get(sev, 5)
    ext: list[tuple[str, Any]] = []
    with contextlib.suppress(KeyError, TypeError, ValueError):
        ext.append(("rt", int(float(rec["time"]) * 1000)))
    ext += [
        ("externalId", rec.get("alert_id")),
        ("act", rec.get("status")),
        ("cat", rec.get("rule")),
        ("dlat", rec.get("lat")),
        ("dlong", rec.get("lon")),
        ("slat", rec.get("operator_lat")),
        ("slong", rec.get("operator_lon")),
        ("cs1Label", "uasId"),
        ("cs1", rec.get("uas_id")),
        ("cs2Label", "serial"),
        ("cs2", rec.get("serial")),
        ("cs3Label", "zone"),
        ("cs3", rec.get("zone")),
        ("cs4Label", "trackId"),
        ("cs4", rec.get("track_id")),
        ("msg", rec.get("message")),
    ]
    extension = " ".join(f"{k}={_cef_ext(v)}" for k, v in ext if v is not None)
    head = "|".join(
        _cef_header(x)
        for x in (
            "CEF:0",
            "dronewatch",
            "dronewatch",
            __version__,
            rec.get("rule") or "alert",
            rec.get("message") or "",
            CEF_SEVERITY.get(sev, 5),
        )
    )
    # The version part must stay "CEF:0" (escaping would not change it).
    return f"<{pri}>1 {_ts(rec.get('time'))} {hostname} {APP} {procid} alert - {head}|{extension}"


class SyslogSink(Sink):
    """Alert events to one syslog server."""

    kind: ClassVar[str] = "syslog"
    wants: ClassVar[frozenset[Kind]] = frozenset({"alert"})

    def __init__(
        self,
        url: str,
        *,
        fmt: str = "rfc5424",
        ca: Path | None = None,
        queue_max: int = DEFAULT_QUEUE_MAX,
    ) -> None:
        ep = parse_endpoint(url, "--syslog", DEFAULT_PORTS)
        query = parse_qs(urlsplit(url).query)
        name = query.get("facility", ["local0"])[0].lower()
        if name not in FACILITIES:
            raise SinkError(f"--syslog {url}: unknown facility {name!r}: {', '.join(FACILITIES)}")
        if fmt not in ("rfc5424", "cef"):
            raise SinkError(f"--syslog-format {fmt!r}: use rfc5424 or cef")
        super().__init__(f"{ep} ({fmt})", queue_max=queue_max)
        self.facility = FACILITIES[name]
        self.format = rfc5424 if fmt == "rfc5424" else cef
        self.link = Link(ep, tls_context(ca, what="--syslog") if ep.scheme == "tls" else None)
        self.hostname = _header_name(socket.gethostname(), 255)
        self.procid = str(os.getpid())

    def send(self, events: list[SinkEvent]) -> int:
        out: list[bytes] = []
        for _, rec in events:
            data = self.format(rec, self.facility, self.hostname, self.procid).encode()
            if self.link.stream:
                out.append(b"%d " % len(data) + data)  # RFC 5425/6587 octet counting
            else:
                out.append(data[:MAX_UDP])
        self.link.send(out)
        return len(out)

    def close(self) -> None:
        self.link.close()
