"""The one entry point from decoded messages to tracks and alerts.

    pipeline = TrackingPipeline(zones=load_zones("zones.geojson"), whitelist=load_whitelist(p))
    for decoded in decode_frames(frames):
        track, alerts = pipeline.feed(decoded)
    alerts = pipeline.tick(time.time())   # periodically: staleness, drone lost, closes

``feed`` never raises on bad input: a message about no drone gives ``(None, [])`` and is
counted in ``pipeline.stats``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from pathlib import Path

from dronewatch.alerts.airports import airport_zones
from dronewatch.alerts.engine import AlertEngine
from dronewatch.alerts.rules import RulesConfig
from dronewatch.alerts.whitelist import Whitelist, load_whitelist
from dronewatch.alerts.zones import ZoneSet, load_zones
from dronewatch.model import Alert, Decoded, Frame, Observation, SensorSite, Track
from dronewatch.track.observe import observe
from dronewatch.track.rf_locate import RfConfig, RfEstimate, RfLocator
from dronewatch.track.tracker import Tracker, TrackerConfig, TrackerStats

__all__ = [
    "RfConfig",
    "RulesConfig",
    "TrackerConfig",
    "TrackingPipeline",
    "Whitelist",
    "ZoneSet",
    "airport_zones",
    "load_whitelist",
    "load_zones",
    "zones_from_geojson",
]


def zones_from_geojson(obj: object, *, source: str = "<geojson>") -> ZoneSet:
    """A ZoneSet from a parsed GeoJSON FeatureCollection/Feature (``ZoneError`` if bad)."""
    return ZoneSet.from_geojson(obj, source=source)


class TrackingPipeline:
    """Observations -> tracker -> rules. Single-threaded: feed and tick from one thread.

    ``auto_tick_s``: when set, ``feed`` also runs :meth:`tick` at the observations' own time
    every that many seconds (for replaying captures, where no wall clock drives ticks).
    ``rf_config``: sensor sites and radio assumptions: every track gets an RF position
    estimate from the RSSI at those sensors (:mod:`dronewatch.track.rf_locate`).
    """

    def __init__(
        self,
        *,
        zones: ZoneSet | None = None,
        whitelist: Whitelist | None = None,
        tracker_config: TrackerConfig | None = None,
        rules_config: RulesConfig | None = None,
        auto_tick_s: float | None = None,
        rf_config: RfConfig | None = None,
    ) -> None:
        self.tracker = Tracker(tracker_config)
        self.rf = RfLocator(rf_config) if rf_config is not None and rf_config.sensors else None
        self.engine = AlertEngine(zones, whitelist, rules_config)
        self.auto_tick_s = auto_tick_s
        self._next_tick: float | None = None
        self.latest_time: float | None = None
        self.ignored_messages = 0
        self._merges: deque[tuple[str, str]] = deque(maxlen=10_000)
        self._last_frame: Frame | None = None
        self._frame_track: str | None = None

    @property
    def tracks(self) -> Mapping[str, Track]:
        """Every track in memory by id (active, stale, and ended until forgotten)."""
        return self.tracker.tracks

    @property
    def merged(self) -> Mapping[str, str]:
        """Track ids merged away -> the surviving track id (a provisional track of a new
        random MAC that turned out to be a known drone, two IDs found to be one drone).
        The merged-away track is gone from :attr:`tracks`; its alert episodes were closed."""
        return self.tracker.merged

    def pop_merges(self) -> list[tuple[str, str]]:
        """``(merged-away id, surviving id)`` pairs since the last call (the last 10,000).

        A consumer that keeps its own copy of tracks (the server) drops the merged-away
        ones: they will get no further updates."""
        out = list(self._merges)
        self._merges.clear()
        return out

    @property
    def stats(self) -> TrackerStats:
        return self.tracker.stats

    @property
    def zones(self) -> ZoneSet:
        return self.engine.zones

    def set_zones(self, zones: ZoneSet) -> None:
        """Replace the zones (e.g. after an edit); open zone episodes close on their own."""
        self.engine.replace_zones(zones)

    def set_whitelist(self, whitelist: Whitelist | None) -> None:
        """Use another whitelist (``None``: no unknown-drone rule)."""
        self.engine.replace_whitelist(whitelist)

    def feed(self, decoded: Decoded) -> tuple[Track | None, list[Alert]]:
        """One decoded message in: its track (``None`` if it is about no drone) and alerts."""
        obs = observe(decoded)
        if obs is None:
            self.ignored_messages += 1
            return None, []
        # Messages of one frame (a message pack) describe one drone.
        hint = self._frame_track if decoded.frame is self._last_frame else None
        track, alerts = self.feed_observation(obs, frame_track=hint)
        self._last_frame = decoded.frame
        self._frame_track = track.track_id if track is not None else hint
        return track, alerts

    def feed_observation(
        self, obs: Observation, *, frame_track: str | None = None
    ) -> tuple[Track | None, list[Alert]]:
        """One observation in: its track (``None`` if it names no drone) and alerts.

        ``frame_track``: the track of another message of the same frame (a message pack
        describes one drone), which the observation joins unless identities contradict.
        """
        alerts: list[Alert] | None = None
        t = obs.time
        if self.auto_tick_s is not None and t == t:
            if self._next_tick is None:
                self._next_tick = t + self.auto_tick_s
            elif t >= self._next_tick:
                alerts = self.tick(t)
                self._next_tick = t + self.auto_tick_s
        st = self.tracker.update(obs, frame_track)
        if st is None:
            return None, alerts if alerts is not None else []
        if self.latest_time is None or t > self.latest_time:
            self.latest_time = t
        if self.tracker._last_merged:
            merges = self.tracker.pop_merges()
            if alerts is None:
                alerts = []
            for gone, _survivor in merges:
                alerts.extend(self.engine.track_merged(gone, st.track, t))
            self._merges.extend(merges)
        if self.rf is not None and obs.rssi_dbm is not None:
            tr = st.track
            claimed = None
            if tr.lat is not None and tr.lon is not None and (
                    t - st.fix_time <= self.rf.config.fix_max_age_s):
                claimed = (tr.lat, tr.lon, tr.height)
            self.rf.observe(tr.track_id, obs, claimed)
            st.rf = self.rf.estimate(tr.track_id)
        out = self.engine.evaluate(st, obs)
        if alerts:
            alerts.extend(out)
            return st.track, alerts
        return st.track, out

    def tick(self, now: float) -> list[Alert]:
        """Let time pass: stale and ended tracks, drone lost, held episode closes."""
        _stale, ended = self.tracker.tick(now)
        alerts = self.engine.tick(now, self.tracker.states())
        for track in ended:
            alerts.extend(self.engine.track_ended(track, now))
        if self.rf is not None:  # tracks the tracker forgot (or merged away)
            self.rf.retain(self.tracker.tracks)
        return alerts

    def set_sensor_site(self, sensor_id: str, site: SensorSite) -> bool:
        """A sensor's position became known (or changed): RF localisation uses it from now
        on (starting the RF stage with default assumptions if there was none)."""
        if self.rf is None:
            self.rf = RfLocator(RfConfig())
        return self.rf.set_site(sensor_id, site)

    def rf_estimate(self, track_id: str) -> RfEstimate | None:
        """The track's latest RF position estimate (``None``: no sensor sites configured,
        or no RSSI heard yet)."""
        return self.rf.estimate(track_id) if self.rf is not None else None

    def finish(self) -> list[Alert]:
        """At the end of a replay: close every open episode at the last observation time."""
        alerts: list[Alert] = []
        now = self.latest_time if self.latest_time is not None else 0.0
        for st in list(self.tracker.states()):
            alerts.extend(self.engine.track_ended(st.track, now, "end of input"))
        return alerts


def load_zone_file(path: str | Path) -> ZoneSet:
    """Alias of :func:`load_zones` for callers that import everything from here."""
    return load_zones(path)
