"""The alert engine: evaluates the rules on every track update and turns conditions into
alert episodes (one ``OPEN``, ``UPDATE`` when the severity rises, one ``CLOSED``).

An episode is keyed by (rule, track, zone). Its ``alert_id`` is a hash of that key and the time
the episode opened, so replaying a capture gives the same ids.

Episodes outlive a restart of a live server: the ones still open in the store are handed to
:meth:`AlertEngine.resume`; when the same drone (UAS ID or serial) meets the same rule and zone
again within ``resume_window_s``, its new track continues the stored episode (same
``alert_id``, no second ``OPEN``); one not met again is closed after that window.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dronewatch.alerts import rulebook as _rulebook  # noqa: F401  (registers the rules)
from dronewatch.alerts import rules as R
from dronewatch.alerts.registry import Rule, active_rules
from dronewatch.alerts.rules import RulesConfig, alt_phrase, identity, pilot_phrase
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.alerts.zones import Zone, ZoneSet
from dronewatch.model import Alert, AlertStatus, Observation, Severity, Track
from dronewatch.track.geo import M_PER_DEG, fast_distance_m, format_distance
from dronewatch.track.tracker import TrackState

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
EpisodeKey = tuple[str, str]  # (rule, zone id or "")
_EMPTY: frozenset[str] = frozenset()
_Near = tuple[tuple[Zone, float, float, float, float], ...]  # zone, lon0, kx, lat0, r_bound


def _close_message(ep: Episode, track: Track) -> str:
    """The sentence of an episode that ended because its condition stopped holding."""
    who = identity(track)
    if ep.rule == R.ZONE_ENTRY:
        return f"Drone {who} left zone '{ep.zone_name}'"
    if ep.rule == R.ZONE_APPROACH:
        return f"Drone {who} no longer heading for zone '{ep.zone_name}'"
    if ep.rule == R.PILOT_IN_ZONE:
        return f"Pilot of drone {who} left zone '{ep.zone_name}'"
    if ep.rule == R.ALTITUDE:
        return f"Drone {who} back below the altitude limit"
    return f"{ep.rule} for drone {who} ended"


def alert_id(rule: str, track_id: str, zone_id: str | None, opened: float) -> str:
    key = f"{rule}|{track_id}|{zone_id or ''}|{opened:.3f}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class ResumedEpisode:
    """An episode that was open when the server stopped (read back from the store)."""

    alert_id: str
    rule: str
    track_id: str
    zone_id: str | None
    zone_name: str | None
    severity: Severity
    opened: float
    last_time: float
    uas_id: str | None = None
    serial: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Episode:
    alert_id: str
    rule: str
    track_id: str
    zone_id: str | None
    zone_name: str | None
    severity: Severity
    opened: float
    last_true: float
    clear_since: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


class _PerTrack:
    __slots__ = ("anchor", "episodes", "lost", "memory", "op_pos", "op_zones", "suspect_since",
                 "wl", "zcache")

    def __init__(self) -> None:
        self.episodes: dict[EpisodeKey, Episode] = {}
        self.op_pos: tuple[float, float] | None = None  # operator position last checked
        self.op_zones: tuple[Zone, ...] = ()
        self.lost = False
        # zones near the track: (lat, lon, radius_m, zones within radius_m of lat, lon)
        # (lat, lon, radius, zones within radius, metres per degree of longitude,
        #  radius of the zone-free disc around lat, lon)
        self.zcache: tuple[float, float, float, _Near, float, float] | None = None
        # whitelist verdict for the identities it was computed for
        self.wl: tuple[str | None, str | None, str | None, bool] | None = None
        self.anchor: tuple[float, float, float] | None = None  # last trusted (t, lat, lon)
        self.suspect_since: float | None = None
        self.memory: dict[str, dict[str, Any]] = {}  # registered rule -> its state


class AlertEngine:
    """Rules over tracks -> alert events. Feed it from the thread that feeds the tracker."""

    def __init__(
        self,
        zones: ZoneSet | None = None,
        whitelist: Whitelist | None = None,
        config: RulesConfig | None = None,
    ) -> None:
        self.zones = zones if zones is not None else ZoneSet()
        self.whitelist = whitelist
        self.config = config or RulesConfig()
        self._per: dict[str, _PerTrack] = {}
        # (rule, zone id or "", "id:UAS" / "sn:SERIAL") -> an episode open before a restart
        self._resumed: dict[tuple[str, str, str], ResumedEpisode] = {}
        en = self.config.enabled
        self._zone_rules = bool(self.zones) and bool(
            en & {R.ZONE_ENTRY, R.ZONE_APPROACH, R.PILOT_IN_ZONE, R.DRONE_LOST}
        )
        # registered rules run unless disabled; those named in ALL_RULES also obey ``enabled``
        off = self.config.disabled | (frozenset(R.ALL_RULES) - en)
        self.rulebook: list[Rule] = active_rules(off, self.config.rule_settings, self.config)
        self._spoof_registered = frozenset(r.name for r in self.rulebook if r.spoof)

    # --- episodes ---------------------------------------------------------------------

    def open_episodes(self) -> list[Episode]:
        return [ep for p in self._per.values() for ep in p.episodes.values()]

    def resume(self, episodes: Iterable[ResumedEpisode]) -> None:
        """Episodes open before a restart, to continue (see module doc). Those of drones
        without a UAS ID or serial cannot be recognised again: they close at the next tick."""
        for r in episodes:
            idents = [f"id:{r.uas_id}" if r.uas_id else "", f"sn:{r.serial}" if r.serial else ""]
            for ident in [i for i in idents if i] or [f"track:{r.track_id}"]:
                self._resumed[(r.rule, r.zone_id or "", ident)] = r

    def _claim(self, rule: str, zone: str, track: Track) -> ResumedEpisode | None:
        for ident in (f"id:{track.uas_id}", f"sn:{track.serial}"):
            r = self._resumed.get((rule, zone, ident))
            if r is not None:
                for k in [k for k, v in self._resumed.items() if v is r]:
                    del self._resumed[k]
                return r
        return None

    def _expire_resumed(self, now: float, out: list[Alert]) -> None:
        window = self.config.resume_window_s
        done: dict[str, ResumedEpisode] = {}
        for r in self._resumed.values():
            if now - r.last_time >= window or not (r.uas_id or r.serial):
                done[r.alert_id] = r
        if not done:
            return
        self._resumed = {k: v for k, v in self._resumed.items() if v.alert_id not in done}
        for r in sorted(done.values(), key=lambda r: (r.opened, r.alert_id)):
            where = f" ('{r.zone_name}')" if r.zone_name else ""
            who = r.uas_id or r.serial or f"track {r.track_id}"
            out.append(Alert(
                alert_id=r.alert_id, rule=r.rule, severity=r.severity,
                status=AlertStatus.CLOSED, track_id=r.track_id, time=now,
                message=f"{r.rule}{where} for drone {who} closed: not heard again after "
                "the server restarted",
                uas_id=r.uas_id, serial=r.serial, zone=r.zone_name, details=dict(r.details),
            ))

    def _emit(
        self, ep: Episode, status: AlertStatus, track: Track, now: float, message: str
    ) -> Alert:
        return Alert(
            alert_id=ep.alert_id,
            rule=ep.rule,
            severity=ep.severity,
            status=status,
            track_id=track.track_id,
            time=now,
            message=message,
            uas_id=track.uas_id,
            serial=track.serial,
            zone=ep.zone_name,
            lat=track.lat,
            lon=track.lon,
            alt=track.alt,
            operator_lat=track.operator_lat,
            operator_lon=track.operator_lon,
            details=dict(ep.details),
        )

    def _raise(
        self,
        per: _PerTrack,
        track: Track,
        rule: str,
        severity: Severity,
        now: float,
        message: Callable[[], str],
        out: list[Alert],
        zone: Zone | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """The condition of ``rule`` holds now: open, escalate or keep the episode."""
        key = (rule, zone.zone_id if zone is not None else "")
        ep = per.episodes.get(key)
        if ep is None and self._resumed:
            resumed = self._claim(rule, key[1], track)
            if resumed is not None:  # the episode it was in before the server restarted
                ep = Episode(
                    alert_id=resumed.alert_id,
                    rule=rule,
                    track_id=track.track_id,
                    zone_id=zone.zone_id if zone is not None else None,
                    zone_name=zone.name if zone is not None else resumed.zone_name,
                    severity=resumed.severity,
                    opened=resumed.opened,
                    last_true=now,
                    details={**resumed.details, **(details or {})},
                )
                per.episodes[key] = ep
                if _RANK[severity] > _RANK[ep.severity]:
                    ep.severity = severity
                    out.append(self._emit(ep, AlertStatus.UPDATE, track, now, message()))
                return
        if ep is None:
            ep = Episode(
                alert_id=alert_id(rule, track.track_id, key[1] or None, now),
                rule=rule,
                track_id=track.track_id,
                zone_id=zone.zone_id if zone is not None else None,
                zone_name=zone.name if zone is not None else None,
                severity=severity,
                opened=now,
                last_true=now,
                details=details or {},
            )
            if zone is not None:
                ep.details["zone_id"] = zone.zone_id
            per.episodes[key] = ep
            out.append(self._emit(ep, AlertStatus.OPEN, track, now, message()))
            return
        ep.last_true = max(ep.last_true, now)
        ep.clear_since = None
        if _RANK[severity] > _RANK[ep.severity]:
            ep.severity = severity
            if details:
                ep.details.update(details)
            out.append(self._emit(ep, AlertStatus.UPDATE, track, now, message()))

    def _clear(
        self,
        per: _PerTrack,
        track: Track,
        key: EpisodeKey,
        now: float,
        message: Callable[[Episode], str],
        out: list[Alert],
        hold_s: float,
    ) -> None:
        """The condition no longer holds: close after ``hold_s`` of continuous falsity."""
        ep = per.episodes.get(key)
        if ep is None:
            return
        if ep.clear_since is None:
            ep.clear_since = now
        if now - ep.clear_since >= hold_s:
            del per.episodes[key]
            out.append(self._emit(ep, AlertStatus.CLOSED, track, now, message(ep)))

    def _close_all(self, track: Track, now: float, reason: str, out: list[Alert]) -> None:
        per = self._per.pop(track.track_id, None)
        if per is None:
            return
        who = identity(track)
        for ep in sorted(per.episodes.values(), key=lambda e: (e.opened, e.rule, e.zone_id or "")):
            where = f" ('{ep.zone_name}')" if ep.zone_name else ""
            out.append(
                self._emit(ep, AlertStatus.CLOSED, track, now,
                           f"{ep.rule}{where} for drone {who} closed: {reason}")
            )

    # --- per observation --------------------------------------------------------------

    def evaluate(self, st: TrackState, obs: Observation) -> list[Alert]:
        """Rules after ``obs`` updated the track of ``st``."""
        out: list[Alert] = []
        track = st.track
        per = self._per.get(track.track_id)
        if per is None:
            per = self._per[track.track_id] = _PerTrack()
        now = track.last_seen
        cfg = self.config
        en = cfg.enabled
        if per.lost:
            per.lost = False
            for key in [k for k in per.episodes if k[0] == R.DRONE_LOST]:
                self._clear(per, track, key, now,
                            lambda ep: f"Drone {identity(track)} heard again", out, 0.0)
        if self.whitelist is not None and R.UNKNOWN_DRONE in en:
            self._unknown(per, st, now, out)
        if st.fresh_fix:
            if self._trusted(per, track, now):
                if self._zone_rules:
                    self._zones(per, track, now, out)
                if R.ALTITUDE in en:
                    self._altitude(per, track, now, out)
            self._spoof_fix(per, st, obs, now, out)
        if (
            self._zone_rules
            and R.PILOT_IN_ZONE in en
            and obs.operator_lat is not None
            and track.operator_lat is not None
            and track.operator_lon is not None
        ):
            self._pilot(per, track, now, out)
        if self.rulebook:
            self._registered(per, st, obs, now, out)
        return out

    def _registered(
        self, per: _PerTrack, st: TrackState, obs: Observation, now: float, out: list[Alert]
    ) -> None:
        """The rules of the registry (:mod:`dronewatch.alerts.registry`)."""
        track = st.track
        for rule in self.rulebook:
            memory = per.memory.get(rule.name)
            if memory is None:
                memory = per.memory[rule.name] = {}
            found = rule.check(st, obs, memory)
            if found is not None:
                self._raise(per, track, rule.name, found.severity, now,
                            lambda f=found: f.message, out, details=found.details)  # type: ignore[misc]
            elif not rule.spoof and (rule.name, "") in per.episodes:
                self._clear(per, track, (rule.name, ""), now,
                            lambda ep, r=rule: r.close_message(track),  # type: ignore[misc]
                            out, self.config.close_hold_s)

    def _unknown(self, per: _PerTrack, st: TrackState, now: float, out: list[Alert]) -> None:
        assert self.whitelist is not None
        track = st.track
        key = (R.UNKNOWN_DRONE, "")
        wl = per.wl
        if wl is None or wl[0] != track.uas_id or wl[1] != track.serial or wl[2] != track.operator_id:
            wl = per.wl = (track.uas_id, track.serial, track.operator_id,
                           self.whitelist.allows(track))
        if wl[3]:
            if key in per.episodes:
                self._clear(per, track, key, now,
                            lambda ep: f"Drone {identity(track)} is whitelisted", out, 0.0)
            return
        if key in per.episodes:
            return
        if not st.strong and now - track.first_seen < self.config.unknown_grace_s:
            return
        self._raise(per, track, R.UNKNOWN_DRONE, Severity.WARNING, now,
                    lambda: f"Unknown drone {identity(track)} (not on the whitelist)"
                    f"{pilot_phrase(track)}", out)

    def _trusted(self, per: _PerTrack, track: Track, now: float) -> bool:
        """Whether the track's new fix is physically reachable from its last trusted one.

        Fixes that are not (a teleporting spoofer's fake positions, a clone's alternating
        ones) raise the spoofing alerts but never zone or altitude alerts. A new place the
        drone keeps reporting for ``retrust_after_s`` becomes trusted (a real relocation,
        e.g. after a GPS fix).
        """
        lat, lon = track.lat, track.lon
        assert lat is not None and lon is not None
        cfg = self.config
        anchor = per.anchor
        if anchor is not None:
            dt = now - anchor[0]
            allowed = cfg.max_speed_ms * max(dt, 0.0) + cfg.jump_min_m
            dlat = abs(lat - anchor[1])
            # cheap bounds first: |dlat| + |dlon| in degrees times M_PER_DEG is never less
            # than the distance; the latitude difference alone never more
            if (dlat + abs(lon - anchor[2])) * M_PER_DEG > allowed and (
                dlat * M_PER_DEG > allowed
                or fast_distance_m(anchor[1], anchor[2], lat, lon) > allowed
            ):
                if per.suspect_since is None:
                    per.suspect_since = now
                if now - per.suspect_since < cfg.retrust_after_s:
                    return False
        per.anchor = (now, lat, lon)
        per.suspect_since = None
        return True

    def _zone_alt(self, track: Track) -> float | None:
        return track.height if track.height is not None else track.alt

    def _zones(self, per: _PerTrack, track: Track, now: float, out: list[Alert]) -> None:
        cfg = self.config
        en = cfg.enabled
        lat, lon = track.lat, track.lon
        assert lat is not None and lon is not None
        zalt = self._zone_alt(track)
        speed, direction = track.speed, track.direction
        approach = (
            R.ZONE_APPROACH in en
            and speed is not None
            and direction is not None
            and cfg.approach_min_speed_ms <= speed <= cfg.max_speed_ms
        )
        reach = cfg.exit_margin_m
        if approach:
            assert speed is not None
            reach = max(reach, speed * cfg.approach_horizon_s)
        near = self._nearby(per, lat, lon, reach)
        if not near and not per.episodes:
            return
        # one pass: inside (exact test only within a zone's bounding circle), and the zones
        # the drone could reach within the approach horizon
        inside: list[Zone] = []
        ahead: list[tuple[Zone, float, float]] = []
        for z, zlon, zkx, zlat, rb in near:
            x = (lon - zlon) * zkx
            y = (lat - zlat) * M_PER_DEG
            d2 = x * x + y * y
            if (
                d2 <= rb * rb
                and z.contains_xy(x, y)
                and z.contains_alt(zalt)
                and z.active_at(now)
            ):
                inside.append(z)
                continue
            if approach:
                rr = rb + reach
                if d2 <= rr * rr:
                    ahead.append((z, x, y))
        if R.ZONE_ENTRY in en:
            for z in inside:
                self._raise(
                    per, track, R.ZONE_ENTRY, z.severity, now,
                    lambda z=z: f"Drone {identity(track)} entered zone '{z.name}'"  # type: ignore[misc]
                    f"{alt_phrase(track)}{pilot_phrase(track)}",
                    out, zone=z,
                )
        inside_ids = {z.zone_id for z in inside} if inside else _EMPTY
        predicted: set[str] = set()
        if ahead:
            assert speed is not None and direction is not None
            self._approach(per, track, now, ahead, zalt, speed, direction, predicted, out)
        if not per.episodes:
            return
        # episodes of zones the drone is no longer in: close once clearly out, after the hold
        for key in [k for k in per.episodes if k[0] == R.ZONE_ENTRY and k[1] not in inside_ids]:
            zz = self.zones.by_id.get(key[1])
            if zz is not None and zz.active_at(now) and not self._clearly_out(zz, lat, lon, zalt):
                ep = per.episodes[key]
                ep.clear_since = None  # within the margin: still in
                ep.last_true = now
                continue
            self._clear(
                per, track, key, now,
                lambda ep: f"Drone {identity(track)} left zone '{ep.zone_name}'", out,
                cfg.close_hold_s,
            )
        for key in [k for k in per.episodes if k[0] == R.ZONE_APPROACH and k[1] not in predicted]:
            if key[1] in inside_ids:  # it got there: the entry alert takes over
                self._clear(per, track, key, now,
                            lambda ep: f"Drone {identity(track)} approach to zone "
                            f"'{ep.zone_name}' over: it is inside (see the zone entry alert)",
                            out, 0.0)
            else:
                self._clear(per, track, key, now,
                            lambda ep: f"Drone {identity(track)} no longer heading for zone "
                            f"'{ep.zone_name}'", out, cfg.close_hold_s)

    def _approach(
        self, per: _PerTrack, track: Track, now: float, ahead: list[tuple[Zone, float, float]],
        zalt: float | None, speed: float, direction: float, predicted: set[str],
        out: list[Alert],
    ) -> None:
        cfg = self.config
        horizon = cfg.approach_horizon_s
        b = math.radians(direction)
        ve, vn = speed * math.sin(b), speed * math.cos(b)
        for z, x, y in ahead:
            if not z.contains_alt(zalt) or not z.active_at(now):
                continue
            tte = z.time_to_entry_xy(x, y, ve, vn, horizon)
            if tte is None or tte <= 0.0:
                continue
            predicted.add(z.zone_id)
            sev = Severity.CRITICAL if tte <= cfg.approach_critical_s else Severity.WARNING
            self._raise(
                per, track, R.ZONE_APPROACH, sev, now,
                lambda z=z, tte=tte: f"Drone {identity(track)} heading for zone "  # type: ignore[misc]
                f"'{z.name}', entry in about {tte:.0f} s at {speed:.0f} m/s"
                f"{alt_phrase(track)}{pilot_phrase(track)}",
                out, zone=z, details={"time_to_entry_s": round(tte, 1)},
            )

    def _nearby(self, per: _PerTrack, lat: float, lon: float, reach: float) -> _Near:
        """Every zone within ``reach`` metres of (lat, lon), from a per-track cache, as
        ``(zone, lon0, kx, lat0, r_bound)`` (the zone's local frame, unpacked for speed).

        The cache holds the zones within ``reach + zone_cache_m`` of where it was built and
        stays valid while the track is close enough that nothing within ``reach`` of it can
        be missing; so the spatial index is queried only every few hundred metres. It also
        knows the radius of the zone-free disc around its centre: inside that, no zone is
        within reach and the per-zone loop is skipped.
        """
        c = per.zcache
        if c is not None:
            dx = (lon - c[1]) * c[4]
            dy = (lat - c[0]) * M_PER_DEG
            d2 = dx * dx + dy * dy
            room = c[2] - reach
            if room > 0.0 and d2 <= room * room:
                free = c[5] - reach
                if free > 0.0 and d2 < free * free:
                    return ()
                return c[3]
        radius = reach + self.config.zone_cache_m
        near: list[tuple[Zone, float, float, float, float]] = []
        free = radius
        for z in self.zones.candidates_near(lat, lon, radius):
            gap = fast_distance_m(z.lat0, z.lon0, lat, lon) - z.r_bound
            if gap <= radius:
                near.append((z, z.lon0, z.kx, z.lat0, z.r_bound))
                free = min(free, gap)
        zones = tuple(near)
        per.zcache = (lat, lon, radius, zones, M_PER_DEG * math.cos(math.radians(lat)),
                      max(0.0, free))
        return zones if free - reach <= 0.0 else ()

    def replace_whitelist(self, whitelist: Whitelist | None) -> None:
        self.whitelist = whitelist
        for per in self._per.values():
            per.wl = None

    def replace_zones(self, zones: ZoneSet) -> None:
        """Use another zone set (cached lookups are dropped; episodes close on their own)."""
        self.zones = zones
        for per in self._per.values():
            per.zcache = None
            per.op_pos = None
            per.op_zones = ()
        en = self.config.enabled
        self._zone_rules = bool(zones) and bool(
            en & {R.ZONE_ENTRY, R.ZONE_APPROACH, R.PILOT_IN_ZONE, R.DRONE_LOST}
        )

    def _clearly_out(self, z: Zone, lat: float, lon: float, alt: float | None) -> bool:
        cfg = self.config
        if alt is not None:
            if z.max_alt_m is not None and alt > z.max_alt_m + cfg.alt_margin_m:
                return True
            if z.min_alt_m is not None and alt < z.min_alt_m - cfg.alt_margin_m:
                return True
        return z.distance_m(lat, lon) > cfg.exit_margin_m

    def _altitude(self, per: _PerTrack, track: Track, now: float, out: list[Alert]) -> None:
        cfg = self.config
        h = track.height
        ref = "take-off"
        if h is None and track.alt is not None and track.operator_alt is not None:
            h = track.alt - track.operator_alt
            ref = "its pilot"
        if h is None:
            return
        key = (R.ALTITUDE, "")
        if h > cfg.altitude_limit_m:
            sev = Severity.CRITICAL if h > cfg.altitude_critical_m else Severity.WARNING
            hh = h
            self._raise(
                per, track, R.ALTITUDE, sev, now,
                lambda: f"Drone {identity(track)} at {hh:.0f} m above {ref} "
                f"(limit {cfg.altitude_limit_m:.0f} m){pilot_phrase(track)}",
                out, details={"height_m": round(h, 1)},
            )
        elif key in per.episodes:
            if h < cfg.altitude_limit_m - cfg.alt_margin_m:
                self._clear(per, track, key, now,
                            lambda ep: f"Drone {identity(track)} back below "
                            f"{cfg.altitude_limit_m:.0f} m", out, cfg.close_hold_s)
            else:
                per.episodes[key].clear_since = None

    def _pilot(self, per: _PerTrack, track: Track, now: float, out: list[Alert]) -> None:
        olat, olon = track.operator_lat, track.operator_lon
        assert olat is not None and olon is not None
        if per.op_pos != (olat, olon):
            per.op_pos = (olat, olon)
            per.op_zones = tuple(self.zones.containing(olat, olon))
        if not per.op_zones and not per.episodes:
            return
        active = [z for z in per.op_zones if z.active_at(now)]
        for z in active:
            self._raise(
                per, track, R.PILOT_IN_ZONE, z.severity, now,
                lambda z=z: f"Pilot of drone {identity(track)} is inside zone '{z.name}'"  # type: ignore[misc]
                f" ({olat:.5f}, {olon:.5f})",
                out, zone=z,
            )
        ids = {z.zone_id for z in active}
        for key in [k for k in per.episodes if k[0] == R.PILOT_IN_ZONE and k[1] not in ids]:
            zz = self.zones.by_id.get(key[1])
            if zz is not None and zz.active_at(now) and zz.distance_m(olat, olon) <= self.config.exit_margin_m:
                per.episodes[key].clear_since = None
                continue
            self._clear(per, track, key, now,
                        lambda ep: f"Pilot of drone {identity(track)} left zone '{ep.zone_name}'",
                        out, self.config.close_hold_s)

    def _spoof_fix(
        self, per: _PerTrack, st: TrackState, obs: Observation, now: float, out: list[Alert]
    ) -> None:
        cfg = self.config
        en = cfg.enabled
        track = st.track
        lat, lon = track.lat, track.lon
        assert lat is not None and lon is not None
        if R.SPOOF_MOTION in en:
            d, dt = st.jump_dist_m, st.jump_dt_s
            if d >= cfg.jump_min_m and (dt <= 0.0 or d / dt > cfg.max_speed_ms):
                v = d / dt if dt > 0 else math.inf
                self._raise(
                    per, track, R.SPOOF_MOTION, Severity.CRITICAL, now,
                    lambda: f"Drone {identity(track)} jumped {format_distance(d)} in {dt:.1f} s"
                    + (f" ({v:.0f} m/s)" if math.isfinite(v) else "")
                    + ": position spoofing?",
                    out, details={"jump_m": round(d, 1), "dt_s": round(dt, 3)},
                )
            elif obs.speed is not None and obs.speed > cfg.max_speed_ms:
                sp = obs.speed
                self._raise(
                    per, track, R.SPOOF_MOTION, Severity.WARNING, now,
                    lambda: f"Drone {identity(track)} reports an impossible speed of "
                    f"{sp:.0f} m/s: spoofing?",
                    out, details={"reported_speed_ms": sp},
                )
        if R.SPOOF_CLONE in en:
            d, dt = st.clone_dist_m, st.clone_dt_s
            if d >= cfg.clone_min_m and d > cfg.max_speed_ms * dt + cfg.clone_min_m:
                self._raise(
                    per, track, R.SPOOF_CLONE, Severity.CRITICAL, now,
                    lambda: f"Drone {identity(track)} transmitted from two places "
                    f"{format_distance(d)} apart "
                    + ("at the same time" if dt < 0.05 else f"within {dt:.1f} s")
                    + ": cloned identity?",
                    out, details={"distance_m": round(d, 1), "dt_s": round(dt, 3)},
                )

    # --- time passing -----------------------------------------------------------------

    def tick(self, now: float, states: Iterable[TrackState]) -> list[Alert]:
        """Drone lost, spoofing episodes without new evidence, held closes, episodes from
        before a restart not met again."""
        out: list[Alert] = []
        cfg = self.config
        if self._resumed:
            self._expire_resumed(now, out)
        lost_on = R.DRONE_LOST in cfg.enabled and bool(self.zones)
        for st in states:
            track = st.track
            if track.state == "ended":
                continue
            per = self._per.get(track.track_id)
            if per is None:
                continue
            silent = now - track.last_seen
            if lost_on and not per.lost and silent >= cfg.lost_after_s:
                per.lost = True
                self._lost(per, track, now, silent, out)
            for key, ep in list(per.episodes.items()):
                if (ep.rule in R.SPOOF_RULES or ep.rule in self._spoof_registered) and (
                        now - ep.last_true >= cfg.spoof_hold_s):
                    del per.episodes[key]
                    out.append(self._emit(ep, AlertStatus.CLOSED, track, now,
                                          f"{ep.rule} for drone {identity(track)}: "
                                          "no new evidence"))
                elif ep.clear_since is not None and now - ep.clear_since >= cfg.close_hold_s:
                    del per.episodes[key]
                    out.append(self._emit(ep, AlertStatus.CLOSED, track, now,
                                          _close_message(ep, track)))
        return out

    def _lost(
        self, per: _PerTrack, track: Track, now: float, silent: float, out: list[Alert]
    ) -> None:
        if per.anchor is not None:  # the last trusted position, not a spoofer's claim
            lat, lon = per.anchor[1], per.anchor[2]
        elif track.lat is not None and track.lon is not None:
            lat, lon = track.lat, track.lon
        else:
            return
        best: tuple[float, str, Zone] | None = None
        for z in self.zones.candidates_near(lat, lon, self.config.lost_near_m):
            if not z.active_at(track.last_seen):
                continue
            d = z.distance_m(lat, lon)
            if d <= self.config.lost_near_m and (best is None or (d, z.zone_id) < best[:2]):
                best = (d, z.zone_id, z)
        if best is None:
            return
        d, _, z = best
        where = "inside" if d <= 0.0 else f"{format_distance(d)} from"
        self._raise(
            per, track, R.DRONE_LOST, Severity.WARNING, now,
            lambda: f"Drone {identity(track)} lost {where} zone '{z.name}' "
            f"(silent for {silent:.0f} s{alt_phrase(track)})",
            out, zone=z, details={"distance_m": round(d, 1), "last_seen": track.last_seen},
        )

    def track_ended(self, track: Track, now: float, reason: str = "track ended") -> list[Alert]:
        """Close every open episode of ``track``."""
        out: list[Alert] = []
        self._close_all(track, now, reason, out)
        return out

    def track_merged(self, gone_id: str, survivor: Track, now: float) -> list[Alert]:
        """Close the episodes of a track merged into ``survivor`` (they continue there)."""
        out: list[Alert] = []
        per = self._per.get(gone_id)
        if per is None:
            return out
        ghost = Track(track_id=gone_id, first_seen=survivor.first_seen, last_seen=now,
                      uas_id=survivor.uas_id, serial=survivor.serial, lat=survivor.lat,
                      lon=survivor.lon, alt=survivor.alt, operator_lat=survivor.operator_lat,
                      operator_lon=survivor.operator_lon)
        self._close_all(ghost, now, f"merged into track {survivor.track_id}", out)
        return out
