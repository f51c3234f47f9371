"""The DroneID transport-block chain: encode_block / decode_llrs and rate matching."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dronewatch.phy.ocusync.coding import (
    BLOCK_BYTES,
    CODED_BITS,
    PAYLOAD_BYTES,
    BlockDecode,
    apriori_llrs,
    decode_llrs,
    deratematch_llrs,
    encode_block,
)
from dronewatch.phy.ocusync.crc import append_crc24a
from dronewatch.phy.ocusync.ratematch import (
    COLUMN_PERMUTATION,
    circular_buffer,
    derate_match,
    rate_match,
    rate_match_map,
)
from dronewatch.phy.ocusync.turbo import turbo_encode

D = 1412
SYSTEMATIC_AT = 4148  # droneid.md §1.6: e[4148 ... 5559] is the whole systematic stream


def _real_payloads(data_dir: Path) -> list[bytes]:
    entries = json.loads((data_dir / "mavic_air_2.expected.json").read_text())
    return [bytes.fromhex(e["block_hex"])[:PAYLOAD_BYTES] for e in entries]


def _awgn(
    bits: npt.NDArray[np.uint8], esn0_db: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    sigma2 = 10 ** (-esn0_db / 10) / 2
    amp = 1 / np.sqrt(2)
    y = amp * (1.0 - 2.0 * bits) + rng.normal(0.0, np.sqrt(sigma2), bits.size)
    out: npt.NDArray[np.float32] = (2 * amp * y / sigma2).astype(np.float32)
    return out


def _v0_order() -> list[int]:
    """Systematic sub-block interleaver output (TS 36.212 §5.1.4.1.1), dummies dropped."""
    rows = 45
    nd = rows * 32 - D
    out = []
    for col in COLUMN_PERMUTATION:
        for r in range(rows):
            pos = col + 32 * r
            if pos >= nd:
                out.append(pos - nd)
    return out


def test_constants() -> None:
    assert (BLOCK_BYTES, PAYLOAD_BYTES, CODED_BITS) == (176, 173, 7200)


def test_circular_buffer_shape() -> None:
    w = circular_buffer(D)
    assert w.size == 4320
    assert int((w >= 0).sum()) == 4236
    assert sorted(w[w >= 0].tolist()) == list(range(3 * D))
    # The first two columns read (0 and 16) start with a dummy: k0 = 90 is non-dummy index 88.
    assert w[0] == -1 and w[45] == -1


def test_rate_match_map_layout() -> None:
    m = rate_match_map(D, CODED_BITS, 0)
    v0 = _v0_order()
    assert len(v0) == D
    assert m[SYSTEMATIC_AT : SYSTEMATIC_AT + D].tolist() == v0
    assert m[:1324].tolist() == v0[88:]  # the repeated systematic copies come first
    assert (m[1324:SYSTEMATIC_AT] >= D).all()
    assert (m[SYSTEMATIC_AT + D :] >= D).all()
    counts = np.bincount(m, minlength=3 * D)
    assert counts.min() == 1 and counts.max() == 2
    assert int((counts == 2).sum()) == CODED_BITS - 3 * D
    with pytest.raises(ValueError):
        rate_match_map(D, CODED_BITS, 4)


def test_encode_block_real_payload_systematic_bits(data_dir: Path) -> None:
    for payload in _real_payloads(data_dir):
        coded = encode_block(payload)
        assert coded.shape == (CODED_BITS,) and coded.dtype == np.uint8
        assert set(np.unique(coded).tolist()) <= {0, 1}
        block_bits = np.unpackbits(np.frombuffer(append_crc24a(payload), dtype=np.uint8))
        # What DroneSecurity reads: deinterleave e[4148 : 5560], drop 4 tail bits.
        systematic = np.empty(D, dtype=np.uint8)
        systematic[_v0_order()] = coded[SYSTEMATIC_AT : SYSTEMATIC_AT + D]
        assert np.array_equal(systematic[: BLOCK_BYTES * 8], block_bits)
        assert np.packbits(systematic[: BLOCK_BYTES * 8]).tobytes()[:PAYLOAD_BYTES] == payload


# The 7200 descrambled hard decisions of the three real bursts in mavic_air_2.cf32 (30 dB
# SNR, zero bit errors), recorded with the OcuSync receiver: sha256 of the packed bits and
# their first 16 bytes. Equal to what encode_block makes of the decoded payloads, which
# pins the parity streams, QPP interleaver, tail bits and rate matching to a real drone.
REAL_CODED = (
    (
        "dd2237b5c5b3e52ff125fa6fb14af8e10984cd51422539b19a5894003fa10226",
        "000000000c508000000197000000000d",
    ),
    (
        "450fb7517a90f1257716492f267951f504db0b2bcd5f7c5b1a021f987bca84eb",
        "311480000c5ab478000197411482000d",
    ),
    (
        "ca66d00d25d273a5afd09ce428f7cd36b708d032152f4e93ab2d5330375905a1",
        "319482000c4abc78000197411480000d",
    ),
)


def test_encode_block_matches_real_bursts(data_dir: Path) -> None:
    for payload, (digest, head) in zip(_real_payloads(data_dir), REAL_CODED, strict=True):
        packed = np.packbits(encode_block(payload)).tobytes()
        assert packed[:16].hex() == head
        assert hashlib.sha256(packed).hexdigest() == digest


def test_encode_block_not_scrambled_and_checked() -> None:
    assert not encode_block(bytes(PAYLOAD_BYTES)).any()
    with pytest.raises(ValueError):
        encode_block(bytes(172))


def test_rate_match_inverse() -> None:
    rng = np.random.default_rng(5)
    streams = turbo_encode(rng.integers(0, 2, 1408).astype(np.uint8))
    e = rate_match(streams, CODED_BITS)
    soft = derate_match(1.0 - 2.0 * e.astype(np.float32), D)
    counts = np.bincount(rate_match_map(D, CODED_BITS), minlength=3 * D).reshape(3, D)
    assert np.array_equal(soft, (1.0 - 2.0 * streams) * counts)


def test_decode_real_payloads_noiseless(data_dir: Path) -> None:
    for payload in _real_payloads(data_dir):
        llrs = (1.0 - 2.0 * encode_block(payload)).astype(np.float32) * 4.0
        result = decode_llrs(llrs)
        assert result == BlockDecode(payload=payload, crc_ok=True, iterations=1)


def test_decode_sign_convention(data_dir: Path) -> None:
    payload = _real_payloads(data_dir)[1]
    llrs = (1.0 - 2.0 * encode_block(payload)).astype(np.float32) * 4.0
    inverted = decode_llrs(-llrs, max_iterations=2)  # negative LLR means bit 1
    assert not inverted.crc_ok and inverted.payload is None


@pytest.mark.parametrize(("esn0_db", "minimum"), [(0.0, 10), (-2.5, 9)])
def test_decode_awgn(data_dir: Path, esn0_db: float, minimum: int) -> None:
    # droneid.md §4.4: turbofec soft, 8 iterations, decodes 100 % at -2.5 dB Es/N0.
    rng = np.random.default_rng(11)
    payload = _real_payloads(data_dir)[2]
    coded = encode_block(payload)
    ok = 0
    for _ in range(10):
        result = decode_llrs(_awgn(coded, esn0_db, rng))
        if result.crc_ok:
            assert result.payload == payload
            ok += 1
    assert ok >= minimum


def test_apriori_known_bits(data_dir: Path) -> None:
    # droneid.md §5.1 (7b): a tracked drone's telemetry repeats most bytes of its previous
    # block. Known: all of seq 589's payload except sequence, height/velocity/yaw and CRC-16.
    prev, cur = _real_payloads(data_dir)[1:]
    mask = bytearray(b"\xff" * PAYLOAD_BYTES)
    for i in [3, 4, *range(31, 51), 89, 90]:
        mask[i] = 0
    prior = apriori_llrs(prev, bytes(mask))
    assert prior.shape == (BLOCK_BYTES * 8,) and prior.dtype == np.float32
    assert prior[:8].tolist() == [8.0, -8.0, 8.0, -8.0, -8.0, 8.0, 8.0, 8.0]  # 0x58 = 01011000
    assert not prior[3 * 8 : 5 * 8].any() and not prior[-24:].any()
    rng = np.random.default_rng(21)
    coded = encode_block(cur)
    plain = helped = 0
    for _ in range(10):
        llrs = _awgn(coded, -5.5, rng)
        plain += decode_llrs(llrs).crc_ok
        result = decode_llrs(llrs, apriori=prior)
        if result.crc_ok:
            assert result.payload == cur
            helped += 1
    assert plain <= 1 and helped >= 9
    # A wrong guess can cost sensitivity but never yields a wrong payload.
    wrong = decode_llrs(_awgn(coded, -1.0, rng), apriori=-prior)
    assert wrong.payload in (None, cur)


def test_apriori_argument_errors() -> None:
    llrs = np.zeros(CODED_BITS, dtype=np.float32)
    for bad in (np.zeros(1407), np.zeros(1408, dtype=np.complex64), np.array(["a"] * 1408)):
        with pytest.raises(ValueError):
            decode_llrs(llrs, apriori=bad)
    with pytest.raises(ValueError):
        apriori_llrs(bytes(177), b"")
    with pytest.raises(ValueError):
        apriori_llrs(b"", b"", llr=0.0)


def test_decode_hard_bits_with_errors(data_dir: Path) -> None:
    # Hard decisions (constant magnitude) with 6 % bit errors: the repeats and parity fix them.
    rng = np.random.default_rng(12)
    payload = _real_payloads(data_dir)[0]
    coded = encode_block(payload)
    flips = rng.random(CODED_BITS) < 0.06
    llrs = (1.0 - 2.0 * (coded ^ flips)).astype(np.float32)
    for algorithm in ("log-map", "max-log-map"):
        result = decode_llrs(llrs, algorithm=algorithm)
        assert result.crc_ok and result.payload == payload


def test_decode_no_information() -> None:
    assert decode_llrs(np.zeros(CODED_BITS, dtype=np.float32)) == BlockDecode(None, False, 8)
    nan = decode_llrs(np.full(CODED_BITS, np.nan, dtype=np.float32), max_iterations=1)
    assert not nan.crc_ok


def test_decode_clean_errors() -> None:
    for bad in (
        np.zeros(7199, dtype=np.float32),
        np.zeros(7201, dtype=np.float32),
        np.zeros((2, 3600), dtype=np.float32),
        np.zeros(CODED_BITS, dtype=np.complex64),
        np.array(["x"] * CODED_BITS),
    ):
        with pytest.raises(ValueError):
            decode_llrs(bad)
    with pytest.raises(ValueError):
        decode_llrs(np.zeros(CODED_BITS), max_iterations=0)
    with pytest.raises(ValueError):
        deratematch_llrs(np.zeros(10))


def test_decode_extreme_values(data_dir: Path) -> None:
    payload = _real_payloads(data_dir)[0]
    llrs = (1.0 - 2.0 * encode_block(payload)) * np.inf  # +-inf
    llrs[::97] = np.nan
    result = decode_llrs(llrs)
    assert result.crc_ok and result.payload == payload
    huge = decode_llrs((1.0 - 2.0 * encode_block(payload)) * 1e38)
    assert huge.payload == payload


@settings(max_examples=10, deadline=None)
@given(st.binary(min_size=PAYLOAD_BYTES, max_size=PAYLOAD_BYTES).filter(any))
def test_round_trip(payload: bytes) -> None:
    llrs = (1.0 - 2.0 * encode_block(payload)).astype(np.float32) * 3.0
    assert decode_llrs(llrs) == BlockDecode(payload=payload, crc_ok=True, iterations=1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hnp.arrays(
        np.float32,
        CODED_BITS,
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    )
)
def test_fuzz_decode_llrs(llrs: npt.NDArray[np.float32]) -> None:
    result = decode_llrs(llrs, max_iterations=2)
    assert isinstance(result, BlockDecode)
    assert (result.payload is not None) == result.crc_ok
    if result.payload is not None:
        assert len(result.payload) == PAYLOAD_BYTES
