"""Notifications to people: e-mail, chat, push (Telegram, Slack, Matrix, ntfy, ...) through
apprise, an optional extra: ``pip install 'dronewatch[notify]'``.

``--notify URL`` (repeatable) takes any apprise URL (``mailto://``, ``tgram://``,
``slack://``, ``ntfy://``, ``json://``...). New and escalated alert episodes are sent (an
episode's close is not: nobody needs to be woken for that); the title names the severity and
the rule, the body the message, the drone's IDs and position. Failures are counted per URL
in ``/health`` (the URLs hold credentials: only their scheme is shown).
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

from dronewatch.sinks.base import DEFAULT_QUEUE_MAX, Kind, Sink, SinkError, SinkEvent

INSTALL = "pip install 'dronewatch[notify]'"


def _apprise() -> Any:
    try:
        import apprise
    except ImportError as exc:
        raise SinkError(
            f"--notify needs the optional package apprise, which is not installed: {INSTALL}"
        ) from exc
    return apprise


def body(rec: dict[str, Any]) -> str:
    lines = [str(rec.get("message") or "")]
    for label, key in (("UAS ID", "uas_id"), ("Serial", "serial"), ("Zone", "zone")):
        if rec.get(key):
            lines.append(f"{label}: {rec[key]}")
    if rec.get("lat") is not None and rec.get("lon") is not None:
        lines.append(f"Drone at {rec['lat']:.6f}, {rec['lon']:.6f}")
    if rec.get("operator_lat") is not None and rec.get("operator_lon") is not None:
        lines.append(f"Pilot at {rec['operator_lat']:.6f}, {rec['operator_lon']:.6f}")
    lines.append(f"Track {rec.get('track_id')}, alert {rec.get('alert_id')}")
    return "\n".join(lines)


class NotifySink(Sink):
    """Alert episodes to one apprise URL."""

    kind: ClassVar[str] = "notify"
    wants: ClassVar[frozenset[Kind]] = frozenset({"alert"})

    def __init__(self, url: str, *, queue_max: int = DEFAULT_QUEUE_MAX) -> None:
        apprise = _apprise()
        scheme = urlsplit(url).scheme or "?"
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            raise SinkError(f"--notify: apprise does not understand the {scheme}:// URL given")
        super().__init__(f"{scheme}://…", queue_max=min(queue_max, 1000))
        self._types = {
            "critical": apprise.NotifyType.FAILURE,
            "warning": apprise.NotifyType.WARNING,
            "info": apprise.NotifyType.INFO,
        }

    def send(self, events: list[SinkEvent]) -> int:
        sent = 0
        for n, (_, rec) in enumerate(events):
            if rec.get("status") == "closed":
                self.skipped += 1
                continue
            severity = str(rec.get("severity"))
            ok = self.apprise.notify(
                body=body(rec),
                title=f"dronewatch {severity}: {rec.get('rule')}",
                notify_type=self._types.get(severity, self._types["info"]),
            )
            if not ok:
                # The rest of this batch is counted as failed too (the receiver is down).
                self.delivered += sent
                raise OSError(f"{self.target}: notification {n + 1} of {len(events)} failed")
            sent += 1
        return sent
