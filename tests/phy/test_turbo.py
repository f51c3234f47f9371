"""LTE turbo code: QPP interleaver, encoder against a spec-literal reference, soft decoder."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.phy.ocusync.crc import append_crc24a
from dronewatch.phy.ocusync.turbo import Algorithm, qpp_interleaver, turbo_decode, turbo_encode

K = 1408


def _reference_rsc(bits: list[int]) -> tuple[list[int], list[int], list[int]]:
    """TS 36.212 §5.1.3.2.1/2 written out: shift register D1, D2, D3."""
    d1 = d2 = d3 = 0
    z = []
    for c in bits:
        a = c ^ d2 ^ d3  # feedback g0 = 1 + D^2 + D^3
        z.append(a ^ d1 ^ d3)  # feed-forward g1 = 1 + D + D^3
        d1, d2, d3 = a, d1, d2
    xt, zt = [], []
    for _ in range(3):  # the switch in the lower position: input = feedback
        x = d2 ^ d3
        xt.append(x)
        zt.append(0 ^ d1 ^ d3)
        d1, d2, d3 = 0, d1, d2
    assert (d1, d2, d3) == (0, 0, 0)
    return z, xt, zt


def _reference_encode(bits: list[int]) -> list[list[int]]:
    k = len(bits)
    f1, f2 = 43, 88
    inter = [bits[(f1 * i + f2 * i * i) % k] for i in range(k)]
    z, x, zt = _reference_rsc(bits)
    z2, x2, zt2 = _reference_rsc(inter)
    d0 = [*bits, x[0], zt[1], x2[0], zt2[1]]
    d1 = [*z, zt[0], x[2], zt2[0], x2[2]]
    d2 = [*z2, x[1], zt[2], x2[1], zt2[2]]
    return [d0, d1, d2]


def _block_bits(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    payload = rng.integers(0, 256, 173, dtype=np.uint8).tobytes()
    return np.unpackbits(np.frombuffer(append_crc24a(payload), dtype=np.uint8))


def _awgn_llrs(
    streams: npt.NDArray[np.uint8], esn0_db: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """QPSK bit LLRs: amplitude 1/sqrt(2) per bit, noise variance N0/2 per dimension."""
    sigma2 = 10 ** (-esn0_db / 10) / 2
    amp = 1 / np.sqrt(2)
    y = amp * (1.0 - 2.0 * streams) + rng.normal(0.0, np.sqrt(sigma2), streams.shape)
    out: npt.NDArray[np.float32] = (2 * amp * y / sigma2).astype(np.float32)
    return out


def test_qpp_interleaver_k1408() -> None:
    perm = qpp_interleaver(K)
    assert perm.shape == (K,)
    assert sorted(perm.tolist()) == list(range(K))
    assert perm[:4].tolist() == [0, 131, 438, 921]  # (43 i + 88 i^2) mod 1408
    with pytest.raises(ValueError):
        qpp_interleaver(1000)  # no table entry
    with pytest.raises(ValueError):
        qpp_interleaver(40, 2, 10)  # not a permutation


def test_encoder_matches_spec_reference() -> None:
    rng = np.random.default_rng(7)
    for _ in range(3):
        bits = _block_bits(rng)
        streams = turbo_encode(bits)
        assert streams.shape == (3, K + 4)
        assert streams.dtype == np.uint8
        assert streams.tolist() == _reference_encode(bits.tolist())


def test_encoder_is_linear_and_systematic() -> None:
    rng = np.random.default_rng(8)
    a = rng.integers(0, 2, K).astype(np.uint8)
    b = rng.integers(0, 2, K).astype(np.uint8)
    ea, eb = turbo_encode(a), turbo_encode(b)
    assert np.array_equal(turbo_encode(a ^ b), ea ^ eb)
    assert np.array_equal(ea[0, :K], a)
    assert not turbo_encode(np.zeros(K, dtype=np.uint8)).any()


@pytest.mark.parametrize("algorithm", ["log-map", "max-log-map"])
def test_decoder_noiseless(algorithm: Algorithm) -> None:
    rng = np.random.default_rng(1)
    bits = _block_bits(rng)
    llrs = (1.0 - 2.0 * turbo_encode(bits)).astype(np.float32) * 6.0
    result = turbo_decode(llrs, algorithm=algorithm)
    assert result.crc_ok
    assert result.iterations == 1
    assert np.array_equal(result.bits, bits)


@pytest.mark.parametrize("algorithm", ["log-map", "max-log-map"])
def test_decoder_moderate_noise_rate_one_third(algorithm: Algorithm) -> None:
    # Plain rate 1/3 (no repetition) at Es/N0 = 0 dB, i.e. Eb/N0 = 1.8 dB: above the waterfall.
    rng = np.random.default_rng(2)
    for _ in range(5):
        bits = _block_bits(rng)
        result = turbo_decode(_awgn_llrs(turbo_encode(bits), 0.0, rng), algorithm=algorithm)
        assert result.crc_ok
        assert np.array_equal(result.bits, bits)


def test_decoder_needs_parity_to_correct_errors() -> None:
    # Without early stop all 8 iterations run; hard errors in the systematic stream are fixed.
    rng = np.random.default_rng(3)
    bits = _block_bits(rng)
    llrs = (1.0 - 2.0 * turbo_encode(bits)).astype(np.float32) * 2.0
    flip = rng.choice(K, 60, replace=False)
    llrs[0, flip] *= -1.0
    result = turbo_decode(llrs, early_stop_crc24a=False)
    assert result.iterations == 8
    assert result.crc_ok
    assert np.array_equal(result.bits, bits)


def test_decoder_rejects_zero_codeword_and_noise() -> None:
    zero = turbo_decode(np.zeros((3, K + 4), dtype=np.float32))
    assert not zero.crc_ok
    assert zero.iterations == 8
    rng = np.random.default_rng(4)
    noise = turbo_decode(rng.normal(0, 3, (3, K + 4)).astype(np.float32), max_iterations=2)
    assert not noise.crc_ok


def test_decoder_argument_errors() -> None:
    good = np.zeros((3, K + 4), dtype=np.float32)
    with pytest.raises(ValueError):
        turbo_decode(np.zeros((2, K + 4), dtype=np.float32))
    with pytest.raises(ValueError):
        turbo_decode(good, algorithm="viterbi")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        turbo_decode(good, max_iterations=0)
    with pytest.raises(ValueError):
        turbo_decode(good, max_iterations=10**9)
    with pytest.raises(ValueError):
        turbo_encode(np.zeros((2, 8), dtype=np.uint8))


@settings(max_examples=15, deadline=None)
@given(st.binary(min_size=173, max_size=173))
def test_turbo_round_trip(payload: bytes) -> None:
    bits = np.unpackbits(np.frombuffer(append_crc24a(payload), dtype=np.uint8))
    llrs = (1.0 - 2.0 * turbo_encode(bits)).astype(np.float32)
    result = turbo_decode(llrs)
    if bits.any():
        assert result.crc_ok
    assert np.array_equal(result.bits, bits)
