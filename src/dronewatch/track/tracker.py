"""Observations -> tracks: one track per drone, fused across transports, sensors and MACs.

Identity
--------
An observation names its drone with *strong* keys and at most one *weak* key:

* strong: ``id:<UAS ID>`` (Remote ID Basic ID, French ID), ``sn:<serial>`` (DJI serial, Remote
  ID ID type "serial number", French beacon serial), ``ss:<session ID>`` (DJI UUID);
* weak: ``mac:<transmitter address>``.

Every strong key belongs to exactly one live track. An observation whose strong keys point to
several tracks merges them (the oldest survives): this is how a Remote ID Basic ID of ID type
serial number links with the DJI DroneID of the same serial, and how a message pack carrying
both a UAS ID and a serial ties them together.

A Remote ID transmitter sends Basic ID and Location in separate frames (Bluetooth legacy
adverts, single-message Wi-Fi beacons): the MAC is linked to the track its last strong-keyed
frame named, and frames without identity (Location, System...) from that MAC join that track
(the link expires after ``mac_link_ttl_s``). A MAC that has never announced an identity starts
a provisional track; when its first identity arrives the provisional track takes it, or merges
into the track that already holds it (MAC randomisation: the same UAS ID under a new MAC stays
the same track). A MAC is never a reason to merge two tracks that both have strong identities.

Determinism
-----------
A track id is a hash of the key that created it and the whole second it was first seen, so a
replay gives the same ids, and a drone flying again after its track ended gets a new track.

Time
----
Observations may arrive out of order (several sensors, network delays) and duplicated (message
packs repeat messages; two sensors hear the same frame). An older fix is inserted in the history
but never moves the track's current state; a duplicate fix is not stored twice.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dronewatch.model import Observation, Track, TrackPoint, Transport
from dronewatch.track.geo import bearing_deg, fast_distance_m

if TYPE_CHECKING:
    from dronewatch.track.rf_locate import RfEstimate


@dataclass(slots=True)
class TrackerConfig:
    """Tunables of the tracker. Times in seconds, distances in metres."""

    max_positions: int = 3600  # position history kept per track (about 1 h at 1 Hz)
    stale_after_s: float = 15.0  # silence after which a track is "stale"
    end_after_s: float = 120.0  # silence after which a track "ended"
    forget_after_s: float = 1800.0  # ended tracks are dropped from memory after this
    mac_link_ttl_s: float = 120.0  # a MAC stays linked to its announced identity this long
    duplicate_window_s: float = 0.25  # same position within this time: one point
    derive_min_dt_s: float = 0.5  # speed/heading derived over at least this time
    takeoff_height_m: float = 2.0  # above take-off/ground: airborne
    source_memory_s: float = 30.0  # per-transmitter last fixes kept this long (clone check)
    clone_window_s: float = 3.0  # two transmitters' fixes this close in time are compared


@dataclass(slots=True)
class TrackerStats:
    observations: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count
    out_of_order: int = 0
    duplicates: int = 0
    merges: int = 0
    tracks_created: int = 0

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


class TrackState:
    """The tracker's working state of one track (the public part is ``track``)."""

    __slots__ = (
        "clone_dist_m",
        "clone_dt_s",
        "ended_at",
        "fix_by_source",
        "fix_time",
        "fresh_fix",
        "ids",
        "jump_dist_m",
        "jump_dt_s",
        "keys",
        "last_sender_skew_s",
        "operator_time",
        "rf",
        "strong",
        "track",
    )

    def __init__(self, track: Track) -> None:
        self.track = track
        self.keys: set[str] = set()
        self.strong = False  # has a strong identity
        self.ids: dict[str, str] = {}  # identity kind (ID type, "serial") -> value
        self.fix_time = -math.inf  # time of the current position
        self.operator_time = -math.inf
        self.ended_at: float | None = None
        # transmitter key -> (time, lat, lon) of its last fix
        self.fix_by_source: dict[str, tuple[float, float, float]] = {}
        # Per-update facts for the rules (reset on every observation):
        self.fresh_fix = False  # this observation moved the current position
        self.jump_dist_m = 0.0  # distance from this transmitter's previous fix
        self.jump_dt_s = 0.0
        self.clone_dist_m = 0.0  # distance to another transmitter's fix at about the same time
        self.clone_dt_s = 0.0
        self.last_sender_skew_s: float | None = None  # sender time - capture time
        self.rf: RfEstimate | None = None  # the RF position estimate (set by the pipeline)


_TRANSPORT_VALUE: dict[Transport, str] = {t: t.value for t in Transport}


def identity_keys(obs: Observation) -> list[str]:
    """The strong identity keys of an observation, in precedence order."""
    keys: list[str] = []
    if obs.uas_id:
        keys.append("id:" + obs.uas_id)
    if obs.serial:
        keys.append("sn:" + obs.serial)
    if obs.session_id:
        keys.append("ss:" + obs.session_id)
    return keys


def typed_ids(obs: Observation) -> dict[str, str]:
    """The observation's identities by kind: the ID type of its UAS ID, and ``serial``."""
    out: dict[str, str] = {}
    if obs.uas_id:
        out[obs.id_type or "uas"] = obs.uas_id
    if obs.serial:
        out["serial"] = obs.serial
    return out


def compatible(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """Two identity sets can be one drone: no kind of ID with two different values.

    (A Remote ID drone may send two Basic IDs, e.g. a serial number and a registration ID,
    but never two serial numbers.)
    """
    if len(a) > len(b):
        a, b = b, a
    for kind, value in a.items():
        other = b.get(kind)
        if other is not None and other != value:
            return False
    return True


def make_track_id(key: str, first_seen: float) -> str:
    """Deterministic track id from the creating key and the second it was first seen."""
    digest = hashlib.sha1(f"{key}@{math.floor(first_seen)}".encode()).hexdigest()
    return digest[:16]


class Tracker:
    """Fuses observations into tracks. Not thread-safe: feed it from one thread."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.stats = TrackerStats()
        self._states: dict[str, TrackState] = {}
        self._tracks: dict[str, Track] = {}
        self._index: dict[str, str] = {}  # strong key -> track id
        self._mac: dict[str, tuple[str, float]] = {}  # mac -> (track id, linked at)
        # (uas_id, id_type, serial, session_id, mac) -> track id, for observations whose
        # identity resolved by the fast path; cleared whenever the index or a MAC link changes
        self._memo: dict[tuple[str | None, ...], str] = {}
        self.merged: dict[str, str] = {}  # removed track id -> surviving track id
        self._last_merged: list[tuple[str, str]] = []

    # --- public -----------------------------------------------------------------------

    @property
    def tracks(self) -> Mapping[str, Track]:
        return self._tracks

    def state(self, track_id: str) -> TrackState | None:
        return self._states.get(track_id)

    def states(self) -> Iterable[TrackState]:
        return self._states.values()

    def pop_merges(self) -> list[tuple[str, str]]:
        """``(removed, survivor)`` track ids merged since the last call."""
        out = self._last_merged
        if out:
            self._last_merged = []
        return out

    def update(self, obs: Observation, hint: str | None = None) -> TrackState | None:
        """Fold one observation into its track; ``None`` if it names no drone at all.

        ``hint``: the track of another message of the same frame (a message pack describes
        one drone), joined unless identities contradict.
        """
        self.stats.observations += 1
        t = obs.time
        if not math.isfinite(t):  # NaN / inf capture time
            self.stats.drop("bad-time")
            return None
        state = self._resolve(obs, hint)
        if state is None:
            self.stats.drop("no-identity")
            return None
        self._apply(state, obs)
        return state

    def tick(self, now: float) -> tuple[list[Track], list[Track]]:
        """Age tracks at ``now``: returns (tracks that went stale, tracks that ended)."""
        cfg = self.config
        stale: list[Track] = []
        ended: list[Track] = []
        forget: list[str] = []
        for tid, st in self._states.items():
            tr = st.track
            silence = now - tr.last_seen
            if tr.state == "ended":
                if st.ended_at is not None and now - st.ended_at >= cfg.forget_after_s:
                    forget.append(tid)
                continue
            if silence >= cfg.end_after_s:
                tr.state = "ended"
                st.ended_at = now
                self._unindex(st)
                ended.append(tr)
            elif silence >= cfg.stale_after_s and tr.state == "active":
                tr.state = "stale"
                stale.append(tr)
        for tid in forget:
            del self._states[tid]
            del self._tracks[tid]
        if forget and self.merged:
            gone = set(forget)
            self.merged = {k: v for k, v in self.merged.items() if v not in gone}
        return stale, ended

    # --- identity resolution ----------------------------------------------------------

    def _live(self, tid: str | None) -> TrackState | None:
        if tid is None:
            return None
        st = self._states.get(tid)
        if st is None or st.track.state == "ended":
            return None
        return st

    def _resolve(self, obs: Observation, hint: str | None) -> TrackState | None:
        mac = obs.source
        memo_key = (obs.uas_id, obs.id_type, obs.serial, obs.session_id, mac)
        if hint is None:
            # fastest path: the same identity fields resolved before, nothing changed since
            tid = self._memo.get(memo_key)
            if tid is not None:
                st0 = self._states[tid]
                if mac is not None:
                    self._mac[mac] = (tid, obs.time)
                return st0
        keys = identity_keys(obs)
        index = self._index
        if keys and hint is None:
            # fast path: every key already belongs to one live track, the MAC too
            tid = index.get(keys[0])
            if tid is not None:
                st0 = self._states[tid]
                if st0.track.state != "ended" and all(index.get(k) == tid for k in keys[1:]):
                    link = self._mac.get(mac) if mac is not None else None
                    if mac is None or (link is not None and link[0] == tid):
                        if mac is not None:
                            self._mac[mac] = (tid, obs.time)
                        if len(self._memo) >= 100_000:
                            self._memo.clear()
                        self._memo[memo_key] = tid
                        return st0
        mac_state: TrackState | None = None
        if mac is not None:
            link = self._mac.get(mac)
            if link is not None and obs.time - link[1] <= self.config.mac_link_ttl_s:
                mac_state = self._live(link[0])
        hint_state = self._live(hint)
        if not keys:
            if hint_state is not None:
                return hint_state
            if mac_state is not None:
                return mac_state
            if mac is None:
                return None
            st = self._create("mac:" + mac, obs.time)
            st.keys.add("mac:" + mac)
            self._link_mac(mac, st.track.track_id, obs.time)
            return st

        ids = typed_ids(obs)
        found: list[TrackState] = []
        for k in keys:
            tid = index.get(k)
            if tid is not None:
                st2 = self._live(tid)
                if st2 is not None and st2 not in found:
                    if found and not compatible(found[0].ids, st2.ids):
                        continue
                    found.append(st2)
        # The previous message of the same frame (message pack), or the track this MAC
        # announced, is the same drone unless their identities contradict this one's.
        for cand in (hint_state, mac_state):
            if cand is None or cand in found:
                continue
            if not cand.strong or (
                compatible(cand.ids, ids) and all(compatible(cand.ids, f.ids) for f in found)
            ):
                found.append(cand)
        if not found:
            st = self._create(keys[0], obs.time)
        elif len(found) == 1:
            st = found[0]
        else:
            found.sort(key=lambda s: (s.track.first_seen, s.track.track_id))
            st = found[0]
            for other in found[1:]:
                self._merge(st, other)
        for k in keys:
            if k not in st.keys:
                st.keys.add(k)
                index[k] = st.track.track_id
                self._memo.clear()
        for kind, value in ids.items():
            st.ids.setdefault(kind, value)
        st.strong = True
        if mac is not None:
            self._link_mac(mac, st.track.track_id, obs.time)
        return st

    def _link_mac(self, mac: str, tid: str, time: float) -> None:
        old = self._mac.get(mac)
        if old is not None and old[0] != tid:
            self._memo.clear()  # resolutions through this MAC may change
        self._mac[mac] = (tid, time)

    def _create(self, key: str, time: float) -> TrackState:
        tid = make_track_id(key, time)
        n = 1
        base = tid
        while tid in self._states:  # same key and second, previous track ended: suffix
            n += 1
            tid = f"{base}-{n}"
        self._memo.clear()
        track = Track(track_id=tid, first_seen=time, last_seen=time)
        st = TrackState(track)
        self._states[tid] = st
        self._tracks[tid] = track
        self.stats.tracks_created += 1
        return st

    def _unindex(self, st: TrackState) -> None:
        self._memo.clear()
        tid = st.track.track_id
        for k in st.keys:
            if self._index.get(k) == tid:
                del self._index[k]
        for mac in st.track.sources:  # every MAC linked to it is one of its sources
            link = self._mac.get(mac)
            if link is not None and link[0] == tid:
                del self._mac[mac]

    def _merge(self, keep: TrackState, gone: TrackState) -> None:
        """Fold ``gone`` into ``keep`` and forget ``gone``."""
        a, b = keep.track, gone.track
        self.stats.merges += 1
        self._memo.clear()
        if b.positions:
            merged = sorted(a.positions + b.positions, key=lambda p: p.time)
            a.positions[:] = merged[-self.config.max_positions :]
        a.first_seen = min(a.first_seen, b.first_seen)
        a.transports |= b.transports
        a.sensors |= b.sensors
        a.sources |= b.sources
        for s, r in b.rssi_by_sensor.items():
            a.rssi_by_sensor.setdefault(s, r)
        for name in ("uas_id", "serial", "operator_id", "ua_type", "product", "takeoff_time"):
            if getattr(a, name) is None:
                setattr(a, name, getattr(b, name))
        if b.max_alt is not None and (a.max_alt is None or b.max_alt > a.max_alt):
            a.max_alt = b.max_alt
        if gone.fix_time > keep.fix_time:
            for name in ("lat", "lon", "alt", "height", "speed", "direction", "vspeed"):
                setattr(a, name, getattr(b, name))
            keep.fix_time = gone.fix_time
        if gone.operator_time > keep.operator_time:
            a.operator_lat, a.operator_lon, a.operator_alt = b.operator_lat, b.operator_lon, b.operator_alt
            keep.operator_time = gone.operator_time
        if a.home_lat is None:
            a.home_lat, a.home_lon = b.home_lat, b.home_lon
        a.last_seen = max(a.last_seen, b.last_seen)
        for src, fix in gone.fix_by_source.items():
            keep.fix_by_source.setdefault(src, fix)
        keep.strong = keep.strong or gone.strong
        for kind, value in gone.ids.items():
            keep.ids.setdefault(kind, value)
        gid, kid = b.track_id, a.track_id
        for k in gone.keys:
            keep.keys.add(k)
            if k.startswith("mac:"):
                continue
            self._index[k] = kid
        for mac in b.sources:
            link = self._mac.get(mac)
            if link is not None and link[0] == gid:
                self._mac[mac] = (kid, link[1])
        del self._states[gid]
        del self._tracks[gid]
        for old, new in self.merged.items():
            if new == gid:
                self.merged[old] = kid
        self.merged[gid] = kid
        self._last_merged.append((gid, kid))

    # --- state update -----------------------------------------------------------------

    def _apply(self, st: TrackState, obs: Observation) -> None:
        cfg = self.config
        tr = st.track
        t = obs.time
        st.fresh_fix = False
        st.jump_dist_m = st.jump_dt_s = st.clone_dist_m = st.clone_dt_s = 0.0
        if tr.state != "active":
            tr.state = "active"
        if t > tr.last_seen:
            tr.last_seen = t
        if t < tr.first_seen:
            tr.first_seen = t
        tv = _TRANSPORT_VALUE[obs.transport]
        tr.transports.add(tv)
        tr.sensors.add(obs.sensor_id)
        if obs.source is not None:
            tr.sources.add(obs.source)
        if obs.rssi_dbm is not None:
            tr.rssi_by_sensor[obs.sensor_id] = obs.rssi_dbm
        if obs.uas_id is not None and tr.uas_id is None:
            tr.uas_id = obs.uas_id
        if obs.serial is not None and tr.serial is None:
            tr.serial = obs.serial
        if obs.operator_id is not None:
            tr.operator_id = obs.operator_id
        if obs.ua_type is not None:
            tr.ua_type = obs.ua_type
        if obs.product is not None:
            tr.product = obs.product
        if obs.sender_time is not None:
            st.last_sender_skew_s = obs.sender_time - t
        if obs.operator_lat is not None and obs.operator_lon is not None and t >= st.operator_time:
            tr.operator_lat = obs.operator_lat
            tr.operator_lon = obs.operator_lon
            if obs.operator_alt is not None:
                tr.operator_alt = obs.operator_alt
            st.operator_time = t
        if obs.home_lat is not None and obs.home_lon is not None:
            tr.home_lat = obs.home_lat
            tr.home_lon = obs.home_lon
        lat, lon = obs.lat, obs.lon
        if lat is None or lon is None:
            return
        alt = obs.alt_geo if obs.alt_geo is not None else obs.alt_baro
        if alt is not None and (tr.max_alt is None or alt > tr.max_alt):
            tr.max_alt = alt
        src = (obs.source or obs.sensor_id) + "|" + tv
        positions = tr.positions
        if t < st.fix_time:
            self._insert_old(tr, TrackPoint(t, lat, lon, alt))
            prev = st.fix_by_source.get(src)
            if prev is None or t > prev[0]:
                st.fix_by_source[src] = (t, lat, lon)
            return
        # duplicate of the current fix (message pack repeats, two sensors, same frame)
        if positions:
            last = positions[-1]
            if (
                t - last.time <= cfg.duplicate_window_s
                and last.lat == lat
                and last.lon == lon
                and last.alt == alt
            ):
                self.stats.duplicates += 1
                st.fix_by_source[src] = (t, lat, lon)
                return
        # consistency facts for the rules: this transmitter's previous fix, others' fixes
        fbs = st.fix_by_source
        prev = fbs.get(src)
        if prev is not None:
            st.jump_dt_s = t - prev[0]
            st.jump_dist_m = fast_distance_m(prev[1], prev[2], lat, lon)
        elif positions and t - positions[-1].time > cfg.clone_window_s:
            # a new transmitter (e.g. a new random MAC) continues the track: compare with
            # where the track was; within the clone window the clone check does that
            last = positions[-1]
            st.jump_dt_s = t - last.time
            st.jump_dist_m = fast_distance_m(last.lat, last.lon, lat, lon)
        if len(fbs) > 1 or (prev is None and fbs):
            horizon = t - cfg.clone_window_s
            far = 0.0
            far_dt = 0.0
            stale_keys: list[str] | None = None
            for key, (ft, flat, flon) in fbs.items():
                if key == src:
                    continue
                if ft < t - cfg.source_memory_s:
                    if stale_keys is None:
                        stale_keys = []
                    stale_keys.append(key)
                    continue
                if ft >= horizon:
                    d = fast_distance_m(flat, flon, lat, lon)
                    if d > far:
                        far, far_dt = d, t - ft
            if stale_keys:
                for key in stale_keys:
                    del fbs[key]
            st.clone_dist_m, st.clone_dt_s = far, far_dt
        fbs[src] = (t, lat, lon)

        # derived speed / heading against the previous stored point
        speed, direction = obs.speed, obs.direction
        if (speed is None or direction is None) and positions:
            last = positions[-1]
            dt = t - last.time
            if dt >= cfg.derive_min_dt_s:
                d = fast_distance_m(last.lat, last.lon, lat, lon)
                if speed is None:
                    speed = d / dt
                if direction is None and d > 1.0:
                    direction = bearing_deg(last.lat, last.lon, lat, lon)
        tr.lat, tr.lon = lat, lon
        tr.alt = alt
        tr.height = obs.height
        tr.speed = speed
        tr.direction = direction
        tr.vspeed = obs.vspeed
        st.fix_time = t
        st.fresh_fix = True
        if (
            tr.takeoff_time is None
            and obs.height is not None
            and obs.height >= cfg.takeoff_height_m
        ):
            tr.takeoff_time = t
        positions.append(TrackPoint(t, lat, lon, alt))
        if len(positions) > cfg.max_positions + 64:
            del positions[: len(positions) - cfg.max_positions]

    def _insert_old(self, tr: Track, point: TrackPoint) -> None:
        """Insert an out-of-order fix in time order (unless it duplicates a stored one)."""
        self.stats.out_of_order += 1
        positions = tr.positions
        if len(positions) >= self.config.max_positions and positions and point.time < positions[0].time:
            return  # older than the whole bounded history
        i = bisect.bisect_left(positions, point.time, key=lambda p: p.time)
        for j in (i - 1, i):
            if 0 <= j < len(positions):
                q = positions[j]
                if (
                    abs(q.time - point.time) <= self.config.duplicate_window_s
                    and q.lat == point.lat
                    and q.lon == point.lon
                ):
                    self.stats.duplicates += 1
                    return
        positions.insert(i, point)
        if len(positions) > self.config.max_positions + 64:
            del positions[: len(positions) - self.config.max_positions]
