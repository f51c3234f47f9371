"""Where is the transmitter really? RF position estimates from the RSSI at several sensors.

Every sensor at a known site that hears a track's frames gives one RSSI per frame. The model
is the log-distance one the radio follows on average::

    rssi = P - 10 * n * log10(d) + shadowing + fading

with ``d`` the 3-D distance from the transmitter to the sensor's antenna, ``n`` the path-loss
exponent (configured, :class:`RfConfig`) and ``P`` the transmitter's power at 1 m, *unknown*
(transmitters differ): it is estimated with the position.

Shadowing is correlated in space (tens of metres): frames sent from about the same place are
not independent evidence. The samples of the window are therefore pooled per sensor into
*bins* (``bin_m`` apart along the path, or ``static_bin_s`` apart in time for a transmitter that
broadcasts no position); a bin's mean RSSI has the variance ``shadowing_db**2 +
fading_db**2 / count`` and bins are treated as independent.

Two models, over a sliding window (``window_s``) refitted every ``update_every_s``:

* **broadcast offset** -- the track broadcasts positions: the transmitter is assumed to be
  where it claims plus an unknown constant offset ``(dx, dy)`` over the window (the claimed
  motion gives the shape, the signal the place). A drone moving through the sensor field
  thereby collects independent shadowing along its path;
* **static** -- no position broadcast (a DJI frame without GPS fix, a Wi-Fi drone known by
  its MAC): the transmitter is assumed still over a shorter window (``static_window_s``).

The fit: a grid search of the profile likelihood (``P`` solved in closed form for each grid
point), refined by ``scipy.optimize.least_squares`` with a robust loss (``soft_l1``: one sensor
with a wall in the way does not drag the fix). The covariance of the position, ``s^2 (J^T
J)^-1``, gives the uncertainty ellipse and the 1-sigma radius ``error_m = sqrt(trace)``.

The spoof test (broadcast offset model only) is a likelihood-ratio test: ``lr_stat`` is the
drop of the robust cost (twice the negative log-likelihood) from "the signal comes from the
broadcast positions" (``dx = dy = 0``, ``P`` free) to the best offset, divided by the residual
variance factor ``s^2 >= 1`` (model misfit makes the test more careful, never bolder). For an
honest drone it follows a chi-square law with 2 degrees of freedom; a liar's grows with the
offset and with every new bin. The alert rule ``spoof_position_rf`` decides on it over time.

Bad input never raises: a sensor without a site, an RSSI missing or absurd (above
``rssi_max_dbm``), a sensor whose clock disagrees with the others that hear the track
(``clock_tolerance_s``) is counted in :attr:`RfLocator.skipped` and left out; fewer than
``min_sensors`` sensors give an estimate without a position that says why.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Observation, SensorSite
from dronewatch.track.geo import M_PER_DEG, fast_distance_m

FloatArray = npt.NDArray[np.float64]

NOT_ENOUGH_SENSORS = "not enough sensors"
CLOCK_DISAGREES = "sensor clock disagrees"


@dataclass(slots=True, frozen=True)
class RfConfig:
    """Tunables of the RF locator. Distances in metres, times in seconds, powers in dB(m)."""

    sensors: Mapping[str, SensorSite] = field(default_factory=dict)
    exponent: float = 2.2  # path-loss exponent of the site (2 free space, 2.2 air-to-ground)
    shadowing_db: float = 4.0  # assumed shadowing standard deviation
    fading_db: float = 3.0  # assumed per-frame fading standard deviation
    bin_m: float = 50.0  # samples pooled per sensor along this much of the path
    static_bin_s: float = 5.0  # ... or this much time, without broadcast positions
    window_s: float = 120.0
    static_window_s: float = 30.0
    update_every_s: float = 5.0
    min_sensors: int = 3
    rssi_min_dbm: float = -130.0
    rssi_max_dbm: float = 0.0  # stronger is absurd for a drone (a sensor glitch or a lie)
    default_height_m: float = 50.0  # transmitter height when none is broadcast
    # a weak prior on P (EIRP minus the 1 m loss, 40 dB at 2.4 GHz): drone transmitters send
    # 0-30 dBm. Without it the fit may explain a flat RSSI pattern with a far, loud transmitter
    power_prior_dbm: float = -22.0
    power_prior_db: float = 8.0
    power_max_dbm: float = -10.0  # 30 dBm EIRP: no legal 2.4 GHz drone transmitter is louder
    power_min_dbm: float = -70.0
    search_m: float = 3000.0  # how far the fit looks (offset, or around the sensors)
    grid_step_m: float = 100.0
    max_samples: int = 6000  # per track, oldest dropped first
    min_interval_s: float = 0.25  # per sensor: faster frames (DJI 5 Hz) add no evidence
    fix_max_age_s: float = 2.0  # a broadcast position this old still places a sample
    # A sensor whose frame times disagree by more than this with every other sensor that
    # heard the track lately (while those agree among themselves) has a wrong clock: its
    # samples would pair RSSI with the wrong broadcast positions, so they are left out.
    clock_tolerance_s: float = 3.0
    clock_recent_samples: int = 60  # "lately": among the track's last this many samples


@dataclass(slots=True, frozen=True)
class RfEstimate:
    """One RF position estimate of a track (``lat`` ``None``: not located, see ``reason``)."""

    time: float
    sensors: tuple[str, ...]
    model: str = ""  # "broadcast-offset" or "static"
    lat: float | None = None
    lon: float | None = None
    error_m: float | None = None  # 1-sigma radius: sqrt of the trace of the covariance
    ellipse_m: tuple[float, float, float] | None = None  # semi-major, semi-minor, bearing deg
    power_dbm: float | None = None  # estimated power at 1 m minus reference loss
    bins: int = 0
    # broadcast-offset model: the claimed position at ``time`` and the spoof test
    claimed_lat: float | None = None
    claimed_lon: float | None = None
    offset_m: float | None = None  # RF estimate - broadcast position
    lr_stat: float | None = None
    reason: str | None = None
    fit: tuple[float, float, float] | None = None  # the solution (local metres, P): warm start

    @property
    def located(self) -> bool:
        return self.lat is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time, "lat": self.lat, "lon": self.lon, "error_m": _r(self.error_m),
            "ellipse_m": [round(v, 1) for v in self.ellipse_m] if self.ellipse_m else None,
            "sensors": list(self.sensors), "model": self.model or None, "bins": self.bins,
            "power_dbm": _r(self.power_dbm), "offset_m": _r(self.offset_m),
            "lr_stat": _r(self.lr_stat), "reason": self.reason,
        }


#: A track record's fields of its RF estimate: the store's ``tracks`` columns, the API's
#: Track and ``analyze --json`` (there the estimate itself is ``rf``).
RF_FIELDS: tuple[str, ...] = ("rf_lat", "rf_lon", "rf_error_m", "rf_estimate")


def rf_fields(estimate: Mapping[str, Any] | None) -> dict[str, Any]:
    """A track's RF estimate (:meth:`RfEstimate.to_json`, or ``None``: none) as a track
    record's ``rf_lat``/``rf_lon`` (degrees) and ``rf_error_m`` (1-sigma radius, metres),
    null unless located, and ``rf_estimate``: the estimate itself."""
    if estimate is None or estimate.get("lat") is None:
        return {"rf_lat": None, "rf_lon": None, "rf_error_m": None, "rf_estimate": estimate}
    return {
        "rf_lat": estimate["lat"],
        "rf_lon": estimate["lon"],
        "rf_error_m": estimate.get("error_m"),
        "rf_estimate": estimate,
    }


def _r(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, 1)


class _Samples:
    __slots__ = ("claimed", "clock", "data", "estimate", "history", "last_fit", "last_time",
                 "seq")

    def __init__(self, maxlen: int) -> None:
        # (time, sensor index, rssi, claimed east, claimed north, height) -- NaN: no claim
        self.data: deque[tuple[float, int, float, float, float, float]] = deque(maxlen=maxlen)
        self.last_time: dict[int, float] = {}  # sensor index -> time of its last sample
        self.seq = 0  # samples offered so far
        self.clock: dict[int, tuple[float, int]] = {}  # sensor index -> (last time, seq)
        self.last_fit = -math.inf
        self.estimate: RfEstimate | None = None
        self.history: deque[RfEstimate] = deque(maxlen=64)
        self.claimed: tuple[float, float] | None = None


class RfLocator:
    """Per-track RSSI windows and RF position estimates. Feed it every observation with its
    track's broadcast position (:meth:`observe`); read :meth:`estimate`."""

    def __init__(self, config: RfConfig) -> None:
        self.config = config
        self.skipped: dict[str, int] = {}
        ids: list[str] = []
        sites: list[SensorSite] = []
        for sid, site in config.sensors.items():
            if site is None:
                continue
            ids.append(sid)
            sites.append(site)
        self.sensor_ids = tuple(ids)
        self._index = {s: i for i, s in enumerate(ids)}
        if sites:
            self.lat0 = float(np.mean([s.lat for s in sites]))
            self.lon0 = float(np.mean([s.lon for s in sites]))
        else:
            self.lat0 = self.lon0 = 0.0
        self.kx = M_PER_DEG * math.cos(math.radians(self.lat0))
        self.sx = np.array([(s.lon - self.lon0) * self.kx for s in sites], dtype=np.float64)
        self.sy = np.array([(s.lat - self.lat0) * M_PER_DEG for s in sites], dtype=np.float64)
        self.sz = np.array([s.alt_m for s in sites], dtype=np.float64)
        self._tracks: dict[str, _Samples] = {}

    # --- input ------------------------------------------------------------------------

    def set_site(self, sensor_id: str, site: SensorSite) -> bool:
        """Add a sensor, or move one (a sensor whose position became known or changed while
        running); ``False`` when nothing changed or the site is not valid."""
        if not (math.isfinite(site.lat) and math.isfinite(site.lon) and math.isfinite(site.alt_m)
                and -90.0 <= site.lat <= 90.0 and -180.0 <= site.lon <= 180.0):
            return False
        if not self.sensor_ids:  # the first site: the local frame's origin
            self.lat0, self.lon0 = site.lat, site.lon
            self.kx = M_PER_DEG * math.cos(math.radians(self.lat0))
        e, n = self.en(site.lat, site.lon)
        idx = self._index.get(sensor_id)
        if idx is None:
            self._index[sensor_id] = len(self.sensor_ids)
            self.sensor_ids = (*self.sensor_ids, sensor_id)
            self.sx = np.append(self.sx, e)
            self.sy = np.append(self.sy, n)
            self.sz = np.append(self.sz, site.alt_m)
            return True
        if (self.sx[idx], self.sy[idx], self.sz[idx]) == (e, n, site.alt_m):
            return False
        self.sx[idx], self.sy[idx], self.sz[idx] = e, n, site.alt_m
        return True

    def _skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def en(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG

    def latlon(self, e: float, n: float) -> tuple[float, float]:
        return self.lat0 + n / M_PER_DEG, self.lon0 + e / self.kx

    def observe(
        self,
        track_id: str,
        obs: Observation,
        claimed: tuple[float, float, float | None] | None,
    ) -> RfEstimate | None:
        """Add ``obs``'s RSSI at its sensor; ``claimed``: the track's broadcast ``(lat, lon,
        height)`` at that time, or ``None``. Returns the estimate when it was refitted."""
        rssi = obs.rssi_dbm
        cfg = self.config
        if rssi is None:
            return None
        idx = self._index.get(obs.sensor_id)
        if idx is None:
            self._skip("sensor without a position")
            return None
        if not (cfg.rssi_min_dbm <= rssi <= cfg.rssi_max_dbm) or rssi != rssi:
            self._skip("absurd rssi")
            return None
        t = obs.time
        if not math.isfinite(t):
            self._skip("bad time")
            return None
        st = self._tracks.get(track_id)
        if st is None:
            st = self._tracks[track_id] = _Samples(cfg.max_samples)
        st.seq += 1
        wrong_clock = self._clock_disagrees(st, idx, t)
        st.clock[idx] = (t, st.seq)
        if wrong_clock:
            self._skip(CLOCK_DISAGREES)
            return None
        last = st.last_time.get(idx)
        if last is not None and 0.0 <= t - last < cfg.min_interval_s:
            return None  # another message of the same frame, or too soon to tell more
        st.last_time[idx] = t
        if claimed is not None:
            e, n = self.en(claimed[0], claimed[1])
            h = claimed[2] if claimed[2] is not None else cfg.default_height_m
            st.claimed = (claimed[0], claimed[1])
        else:
            e = n = math.nan
            h = cfg.default_height_m
        st.data.append((t, idx, float(rssi), e, n, max(h, 0.0)))
        if t - st.last_fit >= cfg.update_every_s:
            st.last_fit = t
            est = self._fit(st, t)
            st.estimate = est
            st.history.append(est)
            return est
        return None

    def _clock_disagrees(self, st: _Samples, idx: int, t: float) -> bool:
        """Whether sensor ``idx``'s time ``t`` is off from every other sensor that heard the
        track lately, while at least two of those agree with each other."""
        cfg = self.config
        tol = cfg.clock_tolerance_s
        recent = [tj for j, (tj, seq) in st.clock.items()
                  if j != idx and st.seq - seq <= cfg.clock_recent_samples]
        if len(recent) < 2 or any(abs(t - tj) <= tol for tj in recent):
            return False
        return any(abs(a - b) <= tol for a, b in itertools.combinations(recent, 2))

    def estimate(self, track_id: str) -> RfEstimate | None:
        st = self._tracks.get(track_id)
        return st.estimate if st is not None else None

    def history(self, track_id: str) -> list[RfEstimate]:
        st = self._tracks.get(track_id)
        return list(st.history) if st is not None else []

    def retain(self, live: Container[str]) -> None:
        """Drop the windows of tracks not in ``live``."""
        for tid in [t for t in self._tracks if t not in live]:
            del self._tracks[tid]

    # --- the fit ----------------------------------------------------------------------

    def _fit(self, st: _Samples, now: float) -> RfEstimate:
        cfg = self.config
        rows = [s for s in st.data if s[0] >= now - cfg.window_s]
        claimed = [s for s in rows if s[3] == s[3]]
        offset_model = len(claimed) >= 0.8 * len(rows)
        rows = claimed if offset_model else [s for s in rows
                                             if s[0] >= now - cfg.static_window_s]
        arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
        used = sorted({int(i) for i in arr[:, 1]})
        sensors = tuple(self.sensor_ids[i] for i in used)
        if len(used) < cfg.min_sensors:
            return RfEstimate(time=now, sensors=sensors,
                              reason=f"{NOT_ENOUGH_SENSORS} ({len(used)} of {cfg.min_sensors})")
        bins = self._bins(arr, offset_model)
        return self._solve(bins, now, sensors, offset_model, st)

    def _bins(self, arr: FloatArray, offset_model: bool) -> FloatArray:
        """Rows (sensor, mean rssi, mean east, mean north, mean height, count)."""
        cfg = self.config
        if offset_model:
            kx = np.floor(arr[:, 3] / cfg.bin_m)
            ky = np.floor(arr[:, 4] / cfg.bin_m)
        else:
            kx = np.floor(arr[:, 0] / cfg.static_bin_s)
            ky = np.zeros(len(arr))
        keys = np.stack([arr[:, 1], kx, ky], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        count = np.bincount(inv).astype(np.float64)
        out = np.empty((len(uniq), 6))
        out[:, 0] = uniq[:, 0]
        for col, src in ((1, 2), (2, 3), (3, 4), (4, 5)):
            out[:, col] = np.bincount(inv, weights=arr[:, src]) / count
        out[:, 5] = count
        return out

    def _solve(self, bins: FloatArray, now: float, sensors: tuple[str, ...],
               offset_model: bool, st: _Samples) -> RfEstimate:
        from scipy.optimize import least_squares

        cfg = self.config
        idx = bins[:, 0].astype(np.int64)
        rssi = bins[:, 1]
        base_e = bins[:, 2] if offset_model else np.zeros(len(bins))
        base_n = bins[:, 3] if offset_model else np.zeros(len(bins))
        dz2 = (bins[:, 4] - self.sz[idx]) ** 2
        sx, sy = self.sx[idx], self.sy[idx]
        w = 1.0 / np.sqrt(cfg.shadowing_db ** 2 + cfg.fading_db ** 2 / bins[:, 5])
        k = 10.0 * cfg.exponent

        def logd(dx: FloatArray, dy: FloatArray) -> FloatArray:
            ex = base_e[None, :] + dx[:, None] - sx[None, :]
            ny = base_n[None, :] + dy[:, None] - sy[None, :]
            out: FloatArray = 0.5 * np.log10(np.maximum(ex * ex + ny * ny + dz2[None, :], 1.0))
            return out

        # grid search of the profile likelihood (P in closed form per point)
        if offset_model:
            cx = cy = 0.0
        else:
            cx, cy = float(np.mean(self.sx)), float(np.mean(self.sy))
        model = "broadcast-offset" if offset_model else "static"
        prev = st.estimate
        warm = prev.fit if prev is not None and prev.model == model else None
        if warm is None:  # the whole search area at grid_step_m
            steps = np.arange(-cfg.search_m, cfg.search_m + 1e-9, cfg.grid_step_m)
            mx, my = np.meshgrid(steps + cx, steps + cy)
            gx, gy = mx.ravel(), my.ravel()
        else:  # coarse over the whole area, fine around the previous fix
            coarse = np.arange(-cfg.search_m, cfg.search_m + 1e-9, 3 * cfg.grid_step_m)
            fine = np.arange(-6, 7) * cfg.grid_step_m
            mx, my = np.meshgrid(coarse + cx, coarse + cy)
            fx, fy = np.meshgrid(fine + warm[0], fine + warm[1])
            gx = np.concatenate([mx.ravel(), fx.ravel()])
            gy = np.concatenate([my.ravel(), fy.ravel()])
        w2 = w * w
        p0, wp2 = cfg.power_prior_dbm, 1.0 / cfg.power_prior_db ** 2
        y = rssi[None, :] + k * logd(gx, gy)  # = P + residual
        p = ((y * w2).sum(axis=1) + p0 * wp2) / (w2.sum() + wp2)
        p = np.clip(p, cfg.power_min_dbm, cfg.power_max_dbm)
        cost = (((y - p[:, None]) ** 2) * w2).sum(axis=1) + (p - p0) ** 2 * wp2
        best = int(np.argmin(cost))
        x0 = np.array([gx[best], gy[best], p[best]])
        sp = math.sqrt(wp2)

        def resid(x: FloatArray) -> FloatArray:
            pred = x[2] - k * logd(x[:1], x[1:2])[0]
            out: FloatArray = np.append((rssi - pred) * w, (x[2] - p0) * sp)
            return out

        jk = k / math.log(10.0)

        def jacobian(x: FloatArray) -> FloatArray:
            ex = base_e + x[0] - sx
            ny = base_n + x[1] - sy
            r2 = np.maximum(ex * ex + ny * ny + dz2, 1.0)
            out: FloatArray = np.empty((len(rssi) + 1, 3))
            out[:-1, 0] = w * jk * ex / r2
            out[:-1, 1] = w * jk * ny / r2
            out[:-1, 2] = -w
            out[-1] = (0.0, 0.0, sp)
            return out

        lo = np.array([cx - cfg.search_m, cy - cfg.search_m, cfg.power_min_dbm])
        hi = np.array([cx + cfg.search_m, cy + cfg.search_m, cfg.power_max_dbm])
        # refined from the grid's best point, and from the previous fix and (offset model)
        # the broadcast itself: the likelihood may have a second, far valley
        starts = [x0]
        if warm is not None:
            starts.append(np.array(warm))
        if offset_model:
            starts.append(np.array([0.0, 0.0, x0[2]]))
        res = None
        tried: list[FloatArray] = []
        for start in starts:
            if any(math.hypot(*(start[:2] - t[:2])) < cfg.grid_step_m for t in tried):
                continue
            tried.append(start)
            r = least_squares(resid, np.clip(start, lo + 1e-6, hi - 1e-6), jac=jacobian,
                              loss="soft_l1", f_scale=1.0, method="trf",
                              x_scale=np.array([100.0, 100.0, 3.0]), bounds=(lo, hi))
            if res is None or r.cost < res.cost - 1e-9:
                res = r
        assert res is not None
        n_bins = len(bins)
        c1 = 2.0 * float(res.cost)
        scale = max(1.0, c1 / (n_bins - 3)) if n_bins > 3 else 1.0
        cov: FloatArray | None
        try:
            jac = np.asarray(res.jac, dtype=np.float64)
            cov = np.asarray(np.linalg.inv(jac.T @ jac)[:2, :2] * scale, dtype=np.float64)
        except np.linalg.LinAlgError:
            cov = None
        error_m: float | None = None
        ellipse: tuple[float, float, float] | None = None
        if cov is not None and np.all(np.isfinite(cov)):
            vals, vecs = np.linalg.eigh(cov)
            vals = np.maximum(vals, 0.0)
            error_m = float(math.sqrt(vals.sum()))
            major = vecs[:, 1]
            ellipse = (float(math.sqrt(vals[1])), float(math.sqrt(vals[0])),
                       float(math.degrees(math.atan2(major[0], major[1])) % 180.0))
        dx, dy, power = (float(v) for v in res.x)
        if offset_model:
            # the claimed position at the end of the window, and the test against it
            last = st.data[-1]
            ce, cn = (last[3], last[4]) if last[3] == last[3] else (float(bins[-1, 2]),
                                                                    float(bins[-1, 3]))
            lat, lon = self.latlon(ce + dx, cn + dy)
            clat, clon = self.latlon(ce, cn)
            res0 = least_squares(lambda x: resid(np.array([0.0, 0.0, x[0]])),
                                 np.array([power]), loss="soft_l1", f_scale=1.0,
                                 jac=lambda x: jacobian(np.array([0.0, 0.0, x[0]]))[:, 2:],
                                 bounds=([cfg.power_min_dbm], [cfg.power_max_dbm]))
            lr = max(0.0, (2.0 * float(res0.cost) - c1) / scale)
            return RfEstimate(
                time=now, sensors=sensors, model="broadcast-offset", lat=lat, lon=lon,
                error_m=error_m, ellipse_m=ellipse, power_dbm=power, bins=n_bins,
                claimed_lat=clat, claimed_lon=clon, offset_m=math.hypot(dx, dy), lr_stat=lr,
                fit=(dx, dy, power),
            )
        lat, lon = self.latlon(dx, dy)
        return RfEstimate(time=now, sensors=sensors, model="static", lat=lat, lon=lon,
                          error_m=error_m, ellipse_m=ellipse, power_dbm=power, bins=n_bins,
                          fit=(dx, dy, power))


def distance_to_claim_m(est: RfEstimate) -> float | None:
    """Distance between the RF estimate and the broadcast position it was tested against."""
    if est.lat is None or est.lon is None or est.claimed_lat is None or est.claimed_lon is None:
        return None
    return fast_distance_m(est.lat, est.lon, est.claimed_lat, est.claimed_lon)
