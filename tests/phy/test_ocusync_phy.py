"""Unit tests of the OcuSync PHY building blocks: numerology, scrambler, ZC, OFDM, resampling,
channel model, detector."""

from __future__ import annotations

import numpy as np
import pytest

from dronewatch.phy.ocusync.channel import Impairments, apply, noise_variance
from dronewatch.phy.ocusync.detect import detect
from dronewatch.phy.ocusync.numerology import (
    BANDWIDTH_HZ,
    CARRIER_OFFSETS,
    CODED_BITS,
    CORE,
    LAYOUTS,
    Layout,
    SymbolKind,
)
from dronewatch.phy.ocusync.ofdm import build_grid, demodulate_at, modulate, qpsk_hard, qpsk_map
from dronewatch.phy.ocusync.resample import rational_ratio, resample
from dronewatch.phy.ocusync.scrambler import (
    descramble_llrs,
    gold_sequence,
    scramble,
    scrambler_bits,
)
from dronewatch.phy.ocusync.transmitter import transmit
from dronewatch.phy.ocusync.zc import zc_carriers, zc_sequence


def test_layout_tables() -> None:
    s9, s8 = LAYOUTS[Layout.SYM9], LAYOUTS[Layout.SYM8]
    assert s9.length == 9880 and s8.length == 8776
    assert s9.indices(SymbolKind.ZC1) == (3,) and s9.indices(SymbolKind.ZC2) == (5,)
    assert s8.indices(SymbolKind.ZC1) == (2,) and s8.indices(SymbolKind.ZC2) == (4,)
    assert s9.indices(SymbolKind.DATA) == (1, 2, 4, 6, 7, 8)
    assert s8.indices(SymbolKind.DATA) == (0, 1, 3, 5, 6, 7)
    assert s9.core_offset == 1104 and CORE is s8
    assert s9.fft_starts()[0] == 80 and s9.fft_starts()[1] == 80 + 1024 + 72
    assert len(CARRIER_OFFSETS) == 600 and 0 not in CARRIER_OFFSETS
    assert pytest.approx(9.015e6) == BANDWIDTH_HZ


def test_gold_sequence_known_prefix() -> None:
    # TS 36.211 7.2 with c_init = 0: x2 stays zero, so c(n) = x1(n + 1600).
    c0 = gold_sequence(64, 0)
    x1 = np.zeros(1700, np.uint8)
    x1[0] = 1
    for n in range(1700 - 31):
        x1[n + 31] = x1[n + 3] ^ x1[n]
    assert np.array_equal(c0, x1[1600:1664])
    # The DroneID scrambler: balanced and deterministic.
    c = scrambler_bits()
    assert c.shape == (CODED_BITS,)
    assert abs(int(c.sum()) - CODED_BITS // 2) < 200
    assert np.packbits(c[:32]).tobytes().hex() == np.packbits(gold_sequence(32)).tobytes().hex()


def test_scramble_is_involution_and_matches_llr_flip() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, CODED_BITS, dtype=np.uint8)
    assert np.array_equal(scramble(scramble(bits)), bits)
    llr = (1.0 - 2.0 * scramble(bits)).astype(np.float32)  # +1 for bit 0
    assert np.array_equal((descramble_llrs(llr) < 0).astype(np.uint8), bits)


def test_zc_properties() -> None:
    z600, z1 = zc_sequence(600), zc_sequence(1)
    assert np.allclose(z600, np.conj(z1))
    assert np.allclose(np.abs(zc_carriers(147)), 1.0)
    assert zc_carriers(600).shape == (600,)
    # CAZAC: zero cyclic autocorrelation off the peak.
    z = zc_sequence(147)
    corr = np.array([abs(np.vdot(z, np.roll(z, k))) for k in range(1, 20)])
    assert np.all(corr < 1e-6)


def test_qpsk_lte_mapping() -> None:
    sym = qpsk_map(np.array([0, 0, 0, 1, 1, 0, 1, 1], np.uint8))
    assert np.allclose(sym * np.sqrt(2), [1 + 1j, 1 - 1j, -1 + 1j, -1 - 1j])
    assert list(qpsk_hard(sym)) == [0, 0, 0, 1, 1, 0, 1, 1]


@pytest.mark.parametrize("layout", [Layout.SYM9, Layout.SYM8])
def test_ofdm_modulate_demodulate_exact(layout: Layout) -> None:
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, CODED_BITS, dtype=np.uint8)
    grid = build_grid(bits, layout)
    x = modulate(grid, layout)
    spec = LAYOUTS[layout]
    assert len(x) == spec.length
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, rel=0.02)
    back = demodulate_at(x, list(spec.fft_starts()))
    assert np.allclose(back, grid, atol=1e-4)
    data = back[list(spec.indices(SymbolKind.DATA))].ravel()
    assert np.array_equal(qpsk_hard(data), bits)
    if layout is Layout.SYM9:  # symbol 0 = QPSK of the bare scrambler sequence
        assert np.array_equal(qpsk_hard(back[0]), scrambler_bits(1200))
    # The cyclic prefix is a copy of the symbol's tail.
    cp, start = spec.cp[1], spec.fft_starts()[1]
    assert np.allclose(x[start - cp : start], x[start + 1024 - cp : start + 1024], atol=1e-6)


@pytest.mark.parametrize(
    ("fs", "ratio"),
    [(50e6, (192, 625)), (30.72e6, (1, 2)), (61.44e6, (1, 4)), (20e6, (96, 125)),
     (15.36e6, (1, 1))],
)
def test_rational_ratio(fs: float, ratio: tuple[int, int]) -> None:
    assert rational_ratio(fs, 15.36e6) == ratio


def test_resample_preserves_inband_tone() -> None:
    fs = 50e6
    n = np.arange(50000)
    x = np.exp(2j * np.pi * 3.1e6 / fs * n).astype(np.complex64)
    y = resample(x, fs)
    assert len(y) == pytest.approx(len(x) * 192 / 625, abs=2)
    mid = y[2000:-2000]
    assert np.mean(np.abs(mid)) == pytest.approx(1.0, abs=0.01)
    ref = np.exp(2j * np.pi * 3.1e6 / 15.36e6 * np.arange(len(y)))[2000:-2000]
    assert abs(np.vdot(ref, mid)) / len(mid) > 0.99  # time-aligned, no group delay
    # An out-of-band tone (aliases into the burst band if not filtered) is suppressed.
    z = resample(np.exp(2j * np.pi * 10.5e6 / fs * n).astype(np.complex64), fs)
    assert np.mean(np.abs(z[2000:-2000])) < 0.01


def test_channel_noise_definition() -> None:
    rng = np.random.default_rng(2)
    assert noise_variance(1.0, 0.0, BANDWIDTH_HZ) == pytest.approx(1.0)
    x = apply(np.ones(200000, np.complex64), 50e6, Impairments(snr_db=10.0), rng)
    noise = x - 1.0
    assert np.var(noise) == pytest.approx(0.1 * 50e6 / BANDWIDTH_HZ, rel=0.02)


def test_detector_finds_simultaneous_channels() -> None:
    rng = np.random.default_rng(3)
    fs = 50e6
    a = transmit(bytes(173), sample_rate=fs, freq_offset_hz=-14e6)
    b = transmit(bytes(range(173)), sample_rate=fs, freq_offset_hz=6e6, layout=Layout.SYM8)
    x = np.zeros(120000, np.complex64)
    x[10000 : 10000 + len(a)] += a
    x[30000 : 30000 + len(b)] += b
    x = apply(x, fs, Impairments(snr_db=5.0), rng)
    cands = detect(x, fs)
    freqs = sorted(c.freq_hz for c in cands[:2])
    assert len(cands) >= 2
    assert freqs[0] == pytest.approx(-14e6, abs=0.5e6)
    assert freqs[1] == pytest.approx(6e6, abs=0.5e6)
    starts = sorted(c.start for c in cands[:2])
    assert abs(starts[0] - 10000) < 5000 and abs(starts[1] - 30000) < 5000


def test_detector_quiet_on_noise_and_silence() -> None:
    rng = np.random.default_rng(4)
    x = apply(np.zeros(200000, np.complex64), 50e6, Impairments(snr_db=0.0), rng)
    x += (rng.standard_normal(len(x)) * 0.1).astype(np.complex64)
    assert detect(x, 50e6) == []
    assert detect(np.zeros(100000, np.complex64), 50e6) == []
    assert detect(np.zeros(10, np.complex64), 50e6) == []


def test_detector_ignores_wide_signals_but_keeps_droneid_next_to_them() -> None:
    rng = np.random.default_rng(5)
    fs = 50e6
    x = np.zeros(150000, np.complex64)
    # A 20 MHz-wide, 600 us long noise burst (Wi-Fi-like) centred at -10 MHz.
    wide = rng.standard_normal(30000) + 1j * rng.standard_normal(30000)
    spec = np.fft.fft(wide)
    f = np.fft.fftfreq(len(wide), 1 / fs)
    spec[np.abs(f) > 10e6] = 0
    wide = np.fft.ifft(spec) * np.exp(2j * np.pi * -10e6 / fs * np.arange(len(wide)))
    x[10000:40000] += (3 * wide).astype(np.complex64)
    # A DroneID burst right next to it at +12.5 MHz.
    b = transmit(bytes(range(173)), sample_rate=fs, freq_offset_hz=12.5e6)
    x[20000 : 20000 + len(b)] += b
    x = apply(x, fs, Impairments(snr_db=10.0), rng)
    cands = detect(x, fs)
    assert len(cands) == 1
    assert cands[0].freq_hz == pytest.approx(12.5e6, abs=0.5e6)
