"""The OcuSync receiver end to end: real Mavic Air 2 capture, transmitter round trips,
impairments, streaming and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dronewatch.phy.ocusync.channel import Impairments, apply, awgn, noise_variance
from dronewatch.phy.ocusync.numerology import CODED_BITS, FS, Layout
from dronewatch.phy.ocusync.receiver import (
    BurstResult,
    Receiver,
    ReceiverConfig,
    decode_baseband,
    rate_hint,
    receive,
)
from dronewatch.phy.ocusync.transmitter import burst_baseband, transmit


def _expected(data_dir: Path) -> list[bytes]:
    blocks = json.loads((data_dir / "mavic_air_2.expected.json").read_text())
    return [bytes.fromhex(b["block_hex"]) for b in blocks]


def _payloads(data_dir: Path) -> dict[str, bytes]:
    real = [b[:173] for b in _expected(data_dir)]
    rng = np.random.default_rng(42)
    infp = bytes([0x87, 0x10]) + b"INFP" + bytes(rng.integers(0, 256, 167, dtype=np.uint8))
    return {
        "serial-0x11": real[0],
        "telemetry-0x10": real[1],
        "encrypted-infp": infp,
        # (the all-zero block is the zero codeword; the decoder rightly refuses it)
        "mostly-zero": bytes([0x01]) + bytes(172),
        "ones": b"\xff" * 173,
    }


def _capture(
    payload: bytes, fs: float, *, layout: Layout = Layout.SYM9, freq: float = 0.0,
    imp: Impairments | None = None, seed: int = 0, pad_s: float = 0.6e-3,
) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    burst = transmit(payload, sample_rate=fs, freq_offset_hz=freq, layout=layout)
    pad = int(pad_s * fs)
    x = apply(burst, fs, imp or Impairments(snr_db=30.0), rng, pad_before=pad,
              pad_after=int(0.6e-3 * fs))
    return x, pad


def test_real_mavic_air_2_all_three_bursts(data_dir: Path) -> None:
    x = np.fromfile(data_dir / "mavic_air_2.cf32", dtype=np.complex64)
    results = receive(x, 50e6)
    ok = [r for r in results if r.crc_ok]
    assert [r.payload for r in ok] == [b[:173] for b in _expected(data_dir)]
    assert all(r.layout is Layout.SYM9 for r in ok)
    assert all(r.snr_db > 20 for r in ok)
    # Two channels, ~14.48 MHz apart (+2.007 MHz and -12.470 MHz from the capture centre).
    assert ok[0].freq_offset_hz == pytest.approx(2.0074e6, abs=5e3)
    assert ok[1].freq_offset_hz == pytest.approx(2.0074e6, abs=5e3)
    assert ok[2].freq_offset_hz == pytest.approx(-12.4702e6, abs=5e3)
    assert [round(r.time_s * 1e3, 2) for r in ok] == [1.86, 2.57, 3.31]
    assert len(results) == 3  # nothing else in the capture looks like DroneID


def test_a_wrong_sample_rate_is_named_by_the_rate_the_real_bursts_decode_at(data_dir: Path) -> None:
    # The real 50 MS/s Mavic capture read at other rates decodes nothing; rate_hint finds
    # the rate at which it does (CRC-checked), from below and from above; noise gives none.
    x = np.fromfile(data_dir / "mavic_air_2.cf32", dtype=np.complex64)
    for wrong in (30.72e6, 61.44e6):
        assert not any(r.crc_ok for r in receive(x, wrong))
        assert rate_hint(x, wrong) == 50e6
    assert rate_hint(x, 40e6, rates=(30.72e6, 61.44e6)) is None  # 50 MS/s not among them
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(1 << 20) + 1j * rng.standard_normal(1 << 20)).astype(np.complex64)
    assert rate_hint(noise * np.complex64(0.01), 50e6) is None


@pytest.mark.parametrize("layout", [Layout.SYM9, Layout.SYM8])
def test_roundtrip_all_record_types_bit_exact(data_dir: Path, layout: Layout) -> None:
    for i, (name, payload) in enumerate(_payloads(data_dir).items()):
        x, pad = _capture(payload, 50e6, layout=layout, freq=-7.5e6 + 3e6 * i, seed=i)
        res = receive(x, 50e6)
        assert len(res) == 1, name
        r = res[0]
        assert r.crc_ok and r.payload == payload, name
        assert r.layout is layout, name
        assert abs(r.sample_offset - pad) <= 2, name
        assert r.freq_offset_hz == pytest.approx(-7.5e6 + 3e6 * i, abs=200), name
        assert r.snr_db == pytest.approx(30.0, abs=2.0), name


@pytest.mark.parametrize("fs", [15.36e6, 20e6, 30.72e6, 61.44e6])
def test_roundtrip_other_sample_rates(fs: float) -> None:
    payload = bytes(range(173))
    x, pad = _capture(payload, fs, freq=1e6 if fs > 16e6 else 0.0,
                      imp=Impairments(snr_db=15.0, cfo_hz=9e3, phase_rad=1.0), seed=3)
    res = receive(x, fs)
    assert [r.payload for r in res] == [payload]
    assert abs(res[0].sample_offset - pad) <= 2


def test_integer_cfo_is_resolved() -> None:
    # +37 subcarriers + 4.2 kHz away from where the detector puts it: the ZC roots resolve it.
    payload = _payloads_static()
    x, _ = _capture(payload, FS, imp=Impairments(snr_db=10.0, cfo_hz=37 * 15e3 + 4.2e3), seed=5)
    res = receive(x, FS)
    assert res and res[0].payload == payload
    assert res[0].freq_offset_hz == pytest.approx(37 * 15e3 + 4.2e3, abs=100)


def test_impaired_channel_multipath_clock_offset_low_snr() -> None:
    payload = bytes(range(1, 174))
    imp = Impairments(
        snr_db=3.0, cfo_hz=-21e3, phase_rad=2.5, delay_samples=0.37, clock_ppm=20.0,
        taps=((0.0, 1.0 + 0j), (12.0, 0.4 * np.exp(0.7j)), (40.0, 0.2j)),
    )
    x, _ = _capture(payload, 50e6, freq=12.5e6, imp=imp, seed=6)
    res = receive(x, 50e6)
    assert [r.payload for r in res] == [payload]


def test_decodes_at_minus_one_db() -> None:
    payload = _payloads_static()
    ok = 0
    for seed in range(4):
        x, _ = _capture(payload, 50e6, imp=Impairments(snr_db=-1.0, cfo_hz=11e3, phase_rad=seed),
                        seed=100 + seed, layout=Layout.SYM8 if seed % 2 else Layout.SYM9)
        ok += any(r.payload == payload for r in receive(x, 50e6))
    assert ok >= 3


def _payloads_static() -> bytes:
    return bytes((7 * i + 3) % 256 for i in range(173))


def test_eight_symbol_burst_with_long_first_cp() -> None:
    # Some sources say the 8-symbol form starts with an 80-sample CP: timing anchors on the
    # core, so the extra 8 samples must not matter.
    payload = _payloads_static()
    b8 = burst_baseband(payload, Layout.SYM8)
    burst = np.concatenate([b8[1016:1024], b8])  # 8 more CP samples before symbol 0
    rng = np.random.default_rng(8)
    x = apply(burst, FS, Impairments(snr_db=20.0), rng, pad_before=9000, pad_after=9000)
    res = receive(x, FS)
    assert [r.payload for r in res] == [payload]
    assert res[0].layout is Layout.SYM8


def test_streaming_any_chunking_same_result_no_duplicates() -> None:
    fs = 50e6
    payloads = [bytes([i + 1]) * 173 for i in range(3)]
    rng = np.random.default_rng(9)
    x = np.zeros(int(0.012 * fs), np.complex64)
    starts = [int(0.001 * fs), int(0.0043 * fs), int(0.009 * fs)]
    for s, p, f in zip(starts, payloads, (-10e6, 5e6, 0.0), strict=True):
        b = transmit(p, sample_rate=fs, freq_offset_hz=f)
        x[s : s + len(b)] += b
    x = apply(x, fs, Impairments(snr_db=12.0), rng)
    # Short windows (4.8 ms hop): bursts straddle window and chunk boundaries.
    cfg_small = Receiver(fs, config=ReceiverConfig(window_s=0.002))
    got: list[BurstResult] = []
    pos = 0
    sizes = rng.integers(1, 70000, 200)
    for n in sizes:
        got += cfg_small.feed(x[pos : pos + int(n)])
        pos += int(n)
        if pos >= len(x):
            break
    got += cfg_small.feed(x[pos:]) + cfg_small.flush()
    assert [r.payload for r in got] == payloads
    assert [abs(r.sample_offset - s) <= 2 for r, s in zip(got, starts, strict=True)] == [True] * 3


def test_bad_input_never_crashes() -> None:
    fs = 50e6
    assert receive(np.zeros(0, np.complex64), fs) == []
    assert receive(np.zeros(100, np.complex64), fs) == []
    assert receive(np.full(300000, np.nan, np.complex64), fs) == []
    rng = np.random.default_rng(10)
    noise = (rng.standard_normal(400000) + 1j * rng.standard_normal(400000)).astype(np.complex64)
    assert [r for r in receive(noise, fs) if r.crc_ok] == []
    with pytest.raises(ValueError, match="too low"):
        Receiver(1e6)


def test_nan_and_clipping_in_a_burst() -> None:
    payload = _payloads_static()
    x, pad = _capture(payload, 50e6, imp=Impairments(snr_db=25.0), seed=11)
    x = x.copy()
    x[pad + 3000 : pad + 3040] = np.nan  # a dropout inside the burst
    x[5] = np.inf
    lim = 0.7 * np.sqrt(np.nanmean(np.abs(x[pad : pad + 30000]) ** 2))
    x = (np.clip(x.real, -lim, lim) + 1j * np.clip(x.imag, -lim, lim)).astype(np.complex64)
    res = receive(x, 50e6)
    assert [r.payload for r in res] == [payload]


def test_failed_crc_is_reported_not_hidden() -> None:
    # A well-formed burst whose coded bits are not a codeword: syncs, fails CRC-24A.
    rng = np.random.default_rng(12)
    bits = rng.integers(0, 2, CODED_BITS, dtype=np.uint8)
    burst = burst_baseband(bytes(173), Layout.SYM9, bits=bits)
    x = apply(burst, FS, Impairments(snr_db=20.0), rng, pad_before=8000, pad_after=8000)
    res = receive(x, FS)
    assert len(res) == 1 and not res[0].crc_ok and res[0].payload is None
    got = decode_baseband(x)
    assert got is not None and got[0].layout is Layout.SYM9


@settings(max_examples=12, deadline=None)
@given(payload=st.binary(min_size=173, max_size=173), nine=st.booleans())
def test_hypothesis_roundtrip_baseband(payload: bytes, nine: bool) -> None:
    assume(any(payload))  # the all-zero block is the zero codeword, refused by the decoder
    layout = Layout.SYM9 if nine else Layout.SYM8
    burst = burst_baseband(payload, layout)
    x = np.concatenate([np.zeros(3000, np.complex64), burst, np.zeros(3000, np.complex64)])
    got = decode_baseband(x)
    assert got is not None
    sync, start, core = got
    assert core.crc_ok and core.payload == payload
    # In digital silence a burst's first samples can be all but zero (its cyclic prefix):
    # the timing lands on the first sample or, for rare payloads, the one before it.
    assert sync.layout is layout and abs(start - 3000) <= 1


def test_chase_combining_repeated_blocks_below_threshold() -> None:
    # Two copies of the same block at -5 dB: each alone is below the turbo threshold, their
    # combined soft bits (+3 dB) decode. A different block in between does not spoil it.
    fs = 30.72e6
    rng = np.random.default_rng(21)
    payload = _payloads_static()
    other = bytes(range(173))
    x = np.zeros(int(0.02 * fs), np.complex64)
    for t, p in ((0.002, payload), (0.008, other), (0.014, payload)):
        b = transmit(p, sample_rate=fs)
        x[int(t * fs) : int(t * fs) + len(b)] += b
    x = apply(x, fs, Impairments(cfo_hz=3e3), rng)
    x += awgn(len(x), noise_variance(1.0, -5.0, fs), rng)  # unit-power bursts at -5 dB
    plain = receive(x, fs, config=ReceiverConfig(combine_depth=0))
    assert len(plain) == 3 and not any(r.crc_ok for r in plain)
    res = receive(x, fs)
    assert [(r.crc_ok, r.combined) for r in res] == [(False, 1), (False, 1), (True, 2)]
    assert res[2].payload == payload


def test_message_roundtrip_through_radio() -> None:
    # Record -> payload (protocol encoder) -> IQ -> receiver -> protocol decoder: same message.
    from dronewatch.model import Transport
    from dronewatch.protocols import decode_payload
    from dronewatch.protocols.dji_droneid import DjiSerial, make_telemetry
    from dronewatch.protocols.dji_ocusync import encode_payload

    messages = [
        make_telemetry(serial="1WNBH3900201N1", lat=51.446356, lon=7.267219, alt=141.0,
                       height=4.2, speed_north=-0.02, speed_east=0.02, speed_up=0.26,
                       yaw=-132.95, home_lat=51.446281, home_lon=7.267357,
                       operator_lat=51.44623, operator_lon=7.267104,
                       gps_time=1650542026.258, uuid="1143635532171534336", sequence=591),
        DjiSerial(serial="3NZCH9M0012345"),
    ]
    fs = 50e6
    for i, msg in enumerate(messages):
        payload = encode_payload(msg)
        for layout in (Layout.SYM9, Layout.SYM8):
            x, _ = _capture(payload, fs, layout=layout, freq=5e6 - 10e6 * i,
                            imp=Impairments(snr_db=3.0, cfo_hz=-17e3, phase_rad=2.0), seed=30 + i)
            res = receive(x, fs)
            assert [r.payload for r in res] == [payload]
            assert decode_payload(Transport.DJI_OCUSYNC, res[0].payload or b"") == [msg]


@pytest.mark.parametrize("echo_delay", [3338, -3568])
def test_echo_of_a_very_strong_burst_reported_once(echo_delay: int) -> None:
    # A burst 60 dB above the noise and an image of it 55 dB weaker at another frequency (what
    # a resampler's 70 dB stop band leaves of a 90 dB burst; bench/droneid_live.py once played
    # such bursts): one transmission, one frame, the strong one, whichever comes first.
    # The same block on another channel at about the same strength is a repeat: both kept.
    fs = 50e6
    rng = np.random.default_rng(7)
    n = int(4e-3 * fs)
    std = 1e-3
    in_band = 2 * std**2 * 9e6 / fs
    x = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) * std).astype(np.complex64)
    payload = bytes(rng.integers(0, 256, 173, dtype=np.uint8))
    strong = transmit(payload, sample_rate=fs, freq_offset_hz=-15e6,
                      amplitude=float(np.sqrt(1e6 * in_band)))
    image = transmit(payload, sample_rate=fs, freq_offset_hz=19.64e6,
                     amplitude=float(np.sqrt(10 ** 0.5 * in_band)))
    at = 60_000
    x[at : at + len(strong)] += strong
    x[at + echo_delay : at + echo_delay + len(image)] += image
    rx = Receiver(fs)
    res = [r for r in rx.feed(x) + rx.flush() if r.crc_ok]
    assert [(abs(r.sample_offset - at) <= 4, round(r.freq_offset_hz / 1e6)) for r in res] == [
        (True, -15)]
    assert rx.stats.echoes == 1
    # a repeat at a similar strength is not an echo
    twin = transmit(payload, sample_rate=fs, freq_offset_hz=19.64e6,
                    amplitude=float(np.sqrt(10**5.5 * in_band)))
    y = ((rng.standard_normal(n) + 1j * rng.standard_normal(n)) * std).astype(np.complex64)
    y[at : at + len(strong)] += strong
    y[at + echo_delay : at + echo_delay + len(twin)] += twin
    assert len([r for r in receive(y, fs) if r.crc_ok]) == 2
