"""The DroneID channel plan for an SDR: fewest tunings, hopping, adaptive stay (issue 11)."""

from __future__ import annotations

import itertools

import pytest

from dronewatch.sources.channel_plan import (
    BAND_24_HZ,
    BAND_58_HZ,
    BURST_BANDWIDTH_HZ,
    BURST_PERIOD_S,
    DEFAULT_DWELL_S,
    Hopper,
    Tuning,
    channels_per_tuning,
    half_span_hz,
    parse_channels,
    plan_tunings,
)

RATES = (15.36e6, 20e6, 30.72e6, 50e6, 56e6, 61.44e6)


def _fits(t: Tuning, rate: float) -> bool:
    return all(abs(c - t.center_hz) + BURST_BANDWIDTH_HZ / 2 <= 0.4 * rate for c in t.channels_hz)


def _brute_force_minimum(chans: list[float], rate: float) -> int:
    """Fewest windows of the usable width covering every channel (exhaustive over windows
    that start at a channel: an optimal cover can always be moved to such windows)."""
    width = 2 * half_span_hz(rate)
    for k in range(1, len(chans) + 1):
        for starts in itertools.combinations(chans, k):
            if all(any(s <= c <= s + width for s in starts) for c in chans):
                return k
    return len(chans)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("band", [BAND_24_HZ, BAND_58_HZ, BAND_24_HZ + BAND_58_HZ])
def test_fewest_tunings_cover_every_channel(rate: float, band: tuple[float, ...]) -> None:
    plan = plan_tunings(band, rate)
    covered = sorted(c for t in plan for c in t.channels_hz)
    assert covered == sorted(band)  # each once
    assert all(_fits(t, rate) for t in plan)
    assert len(plan) == _brute_force_minimum(sorted(band), rate)


def test_known_counts() -> None:
    # 50 MS/s: 40 MHz usable, burst centres within +-15 MHz of the tuning centre.
    assert len(plan_tunings(BAND_24_HZ, 50e6)) == 2
    assert len(plan_tunings(BAND_58_HZ, 50e6)) == 4
    assert len(plan_tunings(BAND_24_HZ, 61.44e6)) == 2
    assert len(plan_tunings(BAND_24_HZ, 20e6)) == 6  # a HackRF: one channel per tuning
    assert [t.channels_hz for t in plan_tunings([2414.5e6], 50e6)] == [(2414.5e6,)]
    assert plan_tunings([2414.5e6], 50e6)[0].center_hz == 2414.5e6
    assert channels_per_tuning(50e6) == 3 and channels_per_tuning(20e6) == 1
    with pytest.raises(ValueError, match="cannot hold"):
        plan_tunings(BAND_24_HZ, 10e6)


def test_parse_channels() -> None:
    assert parse_channels("2.4") == list(BAND_24_HZ)
    assert parse_channels("2414.5, 5756.5,2414.5") == [2414.5e6, 5756.5e6]
    assert parse_channels("all") == sorted(BAND_24_HZ + BAND_58_HZ)
    for bad in ("", "x", "2414500000", "2.4,foo"):
        with pytest.raises(ValueError, match="--sdr-channels"):
            parse_channels(bad)


def test_hopper_round_robin_and_dwell() -> None:
    plan = plan_tunings(BAND_58_HZ, 50e6)
    h = Hopper(plan)
    assert DEFAULT_DWELL_S > BURST_PERIOD_S  # a burst on a tuned channel is heard each visit
    t = 0.0
    h.start(t)
    seen = []
    for _ in range(7):
        while not h.due(t):
            t += 0.05
        seen.append(h.advance(t).center_hz)
    assert seen == [plan[(k + 1) % 4].center_hz for k in range(7)]
    assert not Hopper(plan[:1]).due(100.0)  # one tuning: never hops


def test_hopper_stays_longer_where_bursts_were_heard_but_visits_all() -> None:
    plan = plan_tunings(BAND_58_HZ, 50e6)
    h = Hopper(plan, dwell_s=0.7, hot_factor=3.0, hold_s=10.0)
    h.start(0.0)
    h.heard(0.3, freq_hz=plan[0].channels_hz[0])
    time_on = [0.0] * len(plan)
    t = 0.0
    while t < 9.0:
        time_on[h.index] += 0.05
        t += 0.05
        if h.due(t):
            h.advance(t)
    assert time_on[0] > 2.5 * time_on[1] and min(time_on) > 0
    # heard long ago: no longer hot
    assert not h.hot(0, 30.0) and h.dwell_for(0, 30.0) == 0.7
    # a burst heard on another tuning's channel marks that tuning
    h.heard(31.0, freq_hz=plan[2].channels_hz[-1])
    assert h.hot(2, 31.0)
    with pytest.raises(ValueError):
        Hopper([])
