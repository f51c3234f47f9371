"""DJI DroneID channel plan and hopping for an SDR (pure functions; no radio here).

DroneID bursts are 9 MHz wide and sent on a few centre frequencies in the 2.4 and 5.8 GHz
bands (docs/droneid.md, "Channel plan and hopping": the lists seen by DroneSecurity, proto17,
BEN and LUY; their union is :data:`DRONEID_CHANNELS_HZ`). A drone sends one burst pair every
600-640 ms and hops between these channels independently of its video link.

* :func:`plan_tunings` covers a set of channels with the fewest SDR tunings: at 50-61.44 MS/s
  one capture holds several 9 MHz channels (the usable span is :data:`USABLE_FRACTION` of the
  sample rate, away from the anti-alias filter's edges). Covering points on a line with the
  fewest fixed-width windows is solved exactly by the greedy sweep from the lowest channel.
* :class:`Hopper` visits the tunings in turn, each for ``dwell_s`` (default 0.7 s: longer than
  the 640 ms burst period, so a drone sending on a tuned channel is heard on every visit);
  a tuning where bursts were heard in the last ``hold_s`` is *hot* and gets ``hot_factor``
  times the dwell (the drone is followed), while the others are still visited (new drones
  are found).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MHZ = 1e6
BAND_24_HZ: tuple[float, ...] = tuple(f * MHZ for f in (
    2399.5, 2414.5, 2429.5, 2444.5, 2459.5, 2474.5))
BAND_58_HZ: tuple[float, ...] = tuple(f * MHZ for f in (
    5721.5, 5731.5, 5741.5, 5756.5, 5761.5, 5771.5, 5776.5, 5786.5, 5796.5, 5801.5, 5816.5,
    5831.5))
DRONEID_CHANNELS_HZ: tuple[float, ...] = BAND_24_HZ + BAND_58_HZ
BURST_BANDWIDTH_HZ = 9e6  # occupied by a DroneID burst (601 carriers of 15 kHz)
USABLE_FRACTION = 0.8  # of the sample rate, clear of the SDR's anti-alias filter
EDGE_GUARD_HZ = 0.5e6  # kept between a burst's edge and the usable span's edge
DEFAULT_DWELL_S = 0.7  # > the 600-640 ms burst period
BURST_PERIOD_S = 0.64
NAMED = {"2.4": BAND_24_HZ, "5.8": BAND_58_HZ, "all": DRONEID_CHANNELS_HZ}


@dataclass(slots=True, frozen=True)
class Tuning:
    """One SDR centre frequency and the DroneID channels its capture holds."""

    center_hz: float
    channels_hz: tuple[float, ...]


def parse_channels(text: str) -> list[float]:
    """``--sdr-channels``: ``2.4``, ``5.8``, ``all`` or centre frequencies in MHz
    (``2414.5,2429.5``), combined with commas; sorted, in Hz. ``ValueError`` otherwise."""
    out: set[float] = set()
    for part in text.split(","):
        item = part.strip().lower()
        if not item:
            continue
        if item in NAMED:
            out.update(NAMED[item])
            continue
        try:
            mhz = float(item)
        except ValueError:
            raise ValueError(
                f"--sdr-channels: {part.strip()!r} is not 2.4, 5.8, all or a frequency in MHz"
            ) from None
        if not 70.0 <= mhz <= 7000.0:
            raise ValueError(f"--sdr-channels: {mhz:g} MHz is no SDR frequency (give MHz)")
        out.add(mhz * MHZ)
    if not out:
        raise ValueError("--sdr-channels: no channel given")
    return sorted(out)


def half_span_hz(sample_rate: float) -> float:
    """How far from the tuning centre a burst's centre may sit and still be received whole."""
    return USABLE_FRACTION * sample_rate / 2 - BURST_BANDWIDTH_HZ / 2 - EDGE_GUARD_HZ


def plan_tunings(channels_hz: Iterable[float], sample_rate: float) -> list[Tuning]:
    """The fewest tunings whose captures hold every channel (greedy sweep, optimal), each
    centred between its lowest and highest channel. ``ValueError`` if the rate is too low
    to hold even one burst."""
    half = half_span_hz(sample_rate)
    if half < 0:
        raise ValueError(
            f"sample rate {sample_rate / MHZ:g} MS/s cannot hold a 9 MHz DroneID burst "
            f"(need >= {(BURST_BANDWIDTH_HZ + 2 * EDGE_GUARD_HZ) / USABLE_FRACTION / MHZ:.2f} MS/s)"
        )
    chans = sorted(set(channels_hz))
    out: list[Tuning] = []
    i = 0
    while i < len(chans):
        lo = chans[i]
        j = i
        while j + 1 < len(chans) and chans[j + 1] - lo <= 2 * half:
            j += 1
        group = tuple(chans[i : j + 1])
        out.append(Tuning((group[0] + group[-1]) / 2, group))
        i = j + 1
    return out


def channels_per_tuning(sample_rate: float, spacing_hz: float = 15e6) -> int:
    """How many channels ``spacing_hz`` apart one capture holds (for the docs and the CLI)."""
    return int(2 * half_span_hz(sample_rate) // spacing_hz) + 1 if half_span_hz(
        sample_rate) >= 0 else 0


@dataclass(slots=True)
class Hopper:
    """Which tuning to listen on, when to move (see the module doc). Times are monotonic s."""

    tunings: Sequence[Tuning]
    dwell_s: float = DEFAULT_DWELL_S
    hot_factor: float = 3.0
    hold_s: float = 10.0
    index: int = 0
    since_s: float = 0.0  # when the current tuning began
    heard_s: dict[int, float] = field(default_factory=dict)  # tuning -> last burst time

    def __post_init__(self) -> None:
        if not self.tunings:
            raise ValueError("no tuning to hop over")
        if self.dwell_s <= 0:
            raise ValueError("--sdr-dwell must be positive")

    @property
    def current(self) -> Tuning:
        return self.tunings[self.index]

    @property
    def hops(self) -> bool:
        return len(self.tunings) > 1

    def hot(self, index: int, now_s: float) -> bool:
        t = self.heard_s.get(index)
        return t is not None and now_s - t <= self.hold_s

    def dwell_for(self, index: int, now_s: float) -> float:
        return self.dwell_s * (self.hot_factor if self.hot(index, now_s) else 1.0)

    def heard(self, now_s: float, freq_hz: float | None = None) -> None:
        """A burst was decoded on the current tuning (at absolute ``freq_hz`` if known)."""
        index = self.index
        if freq_hz is not None:
            for k, t in enumerate(self.tunings):
                if any(abs(freq_hz - c) < 2e6 for c in t.channels_hz):
                    index = k
                    break
        self.heard_s[index] = now_s

    def due(self, now_s: float) -> bool:
        return self.hops and now_s - self.since_s >= self.dwell_for(self.index, now_s)

    def advance(self, now_s: float) -> Tuning:
        """Move to the next tuning (round robin) and return it."""
        self.index = (self.index + 1) % len(self.tunings)
        self.since_s = now_s
        return self.current

    def start(self, now_s: float) -> Tuning:
        self.since_s = now_s
        return self.current

    def cycle_s(self, now_s: float) -> float:
        """How long one round over every tuning takes now."""
        return sum(self.dwell_for(k, now_s) for k in range(len(self.tunings)))
