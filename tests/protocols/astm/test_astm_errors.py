"""Error handling: truncation, unknown versions/types, bad packs, fuzzing."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.errors import Corrupt, DecodeError, Partial, Truncated, Unsupported
from dronewatch.model import Transport
from dronewatch.protocols import decode_payload, decoder_for
from dronewatch.protocols.astm import (
    BasicId,
    Location,
    OperatorId,
    decode,
    decode_message,
    decode_with_errors,
    encode,
    encode_pack,
)

BASIC = encode(BasicId(uas_id="ABC123"))
LOC = encode(Location(lat=1.0, lon=2.0))
OPERATOR = encode(OperatorId(operator_id="OP1"))


def _reason(exc_type: type[DecodeError], payload: bytes) -> str:
    with pytest.raises(exc_type) as info:
        decode(payload)
    return info.value.reason


def test_registered_for_every_remote_id_transport() -> None:
    for transport in (
        Transport.WIFI_BEACON,
        Transport.WIFI_NAN,
        Transport.BLE_LEGACY,
        Transport.BLE_LONG_RANGE,
    ):
        assert decoder_for(transport) is decode
        assert decode_payload(transport, BASIC) == [BasicId(uas_id="ABC123")]


def test_truncated() -> None:
    assert _reason(Truncated, b"") == "astm-truncated"
    assert _reason(Truncated, BASIC[:24]) == "astm-truncated"
    assert _reason(Truncated, b"\xf2\x19") == "astm-truncated"
    pack = encode_pack([BASIC, LOC])
    assert _reason(Truncated, pack[:27]) == "astm-truncated"  # no complete message
    with pytest.raises(Truncated):
        decode_message(b"\x02")


def test_trailing_bytes_are_ignored() -> None:
    assert decode(BASIC + b"\0\0") == decode(BASIC)
    assert decode(encode_pack([BASIC]) + b"\0" * 10) == decode(BASIC)


def test_unsupported_version_and_type() -> None:
    assert _reason(Unsupported, bytes([0x03]) + BASIC[1:]) == "astm-version"
    assert _reason(Unsupported, bytes([0x6F]) + BASIC[1:]) == "astm-version"
    for mtype in range(6, 15):
        assert _reason(Unsupported, bytes([mtype << 4 | 2]) + BASIC[1:]) == "astm-type"
    assert _reason(Unsupported, b"\xf3\x19\x01" + BASIC) == "astm-version"


def test_bad_packs_are_corrupt() -> None:
    assert _reason(Corrupt, b"\xf2\x18\x01" + BASIC) == "astm-pack-size"
    assert _reason(Corrupt, b"\xf2\x19\x00") == "astm-pack-count"
    assert _reason(Corrupt, b"\xf2\x19\x0a" + BASIC * 10) == "astm-pack-count"
    nested = encode_pack([BASIC])
    assert _reason(Corrupt, b"\xf2\x19\x01" + nested[:25]) == "astm-nested-pack"


def test_pack_cut_short_keeps_its_complete_messages() -> None:
    # the count says 4, the bytes end 3 short of the 4th message (a spoofing rig's packs)
    pack = encode_pack([BASIC, LOC, OPERATOR, BASIC])[:-3]
    msgs = decode(pack)
    assert msgs == [decode(BASIC)[0], decode(LOC)[0], decode(OPERATOR)[0]]
    assert isinstance(msgs, Partial)
    assert [(type(e), e.reason) for e in msgs.errors] == [(Truncated, "astm-truncated")]
    good, errors = decode_with_errors(pack)
    assert good == msgs and [e.reason for e in errors] == ["astm-truncated"]
    # cut inside the 2nd message: one complete, one counted however many were announced
    (basic,) = decode(pack[:40])
    assert basic == decode(BASIC)[0]
    # whole packs are plain lists
    assert type(decode(encode_pack([BASIC, LOC]))) is list


def test_pack_keeps_good_messages_and_reports_bad_ones() -> None:
    bad_type = bytes([0x72]) + bytes(24)
    bad_version = bytes([0x0E]) + bytes(24)
    payload = encode_pack([BASIC, bad_type, LOC, bad_version, OPERATOR])
    msgs = decode(payload)
    assert [m.type for m in msgs] == ["basic_id", "location", "operator_id"]
    assert isinstance(msgs, Partial)  # streams count what was dropped
    assert [e.reason for e in msgs.errors] == ["astm-type", "astm-version"]
    good, errors = decode_with_errors(payload)
    assert good == msgs
    assert [e.reason for e in errors] == ["astm-type", "astm-version"]
    # nothing good: the first error propagates
    with pytest.raises(Unsupported) as info:
        decode(encode_pack([bad_type, bad_version]))
    assert info.value.reason == "astm-type"


def test_auth_last_page_index_over_15_is_corrupt() -> None:
    raw = bytearray(25)
    raw[0], raw[1], raw[2] = 0x22, 0x10, 16
    assert _reason(Corrupt, bytes(raw)) == "astm-auth-page"


def test_encode_pack_limits() -> None:
    with pytest.raises(ValueError):
        encode_pack([])
    with pytest.raises(ValueError):
        encode_pack([BASIC] * 10)
    with pytest.raises(ValueError):
        encode_pack([b"\x00" * 24])
    with pytest.raises(ValueError):
        encode_pack([BASIC], version=5)


def test_accepts_bytearray_and_memoryview() -> None:
    assert decode(bytearray(LOC)) == decode(LOC)  # type: ignore[arg-type]
    assert decode(memoryview(LOC)) == decode(LOC)  # type: ignore[arg-type]


@settings(max_examples=2000)
@given(st.binary(max_size=260))
def test_fuzz_random_bytes_only_decode_errors(data: bytes) -> None:
    try:
        msgs = decode(data)
    except DecodeError:
        return
    assert msgs


@settings(max_examples=1000)
@given(st.integers(0, 15), st.integers(0, 2), st.binary(min_size=24, max_size=24))
def test_fuzz_every_type_every_version(mtype: int, version: int, body: bytes) -> None:
    data = bytes([mtype << 4 | version]) + body
    try:
        (msg,) = decode(data)
    except DecodeError:
        return
    try:
        raw = encode(msg)
    except ValueError as exc:  # a corrupt (non-ASCII) text field cannot be re-sent
        assert "ASCII" in str(exc)
        return
    (again,) = decode(raw)
    assert type(again) is type(msg)
    assert encode(again) == raw  # the codec is idempotent after one round


@settings(max_examples=300)
@given(st.lists(st.binary(min_size=25, max_size=25), min_size=1, max_size=9), st.integers(0, 2))
def test_fuzz_packs_of_random_messages(parts: list[bytes], version: int) -> None:
    payload = bytes([0xF0 | version, 25, len(parts)]) + b"".join(parts)
    try:
        msgs, errors = decode_with_errors(payload)
    except DecodeError:
        raise AssertionError("a well-formed pack header never fails as a whole") from None
    assert len(msgs) + len(errors) == len(parts)


HARNESS = Path(__file__).with_name("fuzz_astm_harness.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_atheris_harness_runs_clean(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    # A child's peak RSS starts at this process's (Linux keeps it across fork and execve),
    # and this process may have grown in earlier tests: the harness may use 1 GB above it.
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    proc = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "-max_total_time=4",
            f"-rss_limit_mb={parent_mb + 1024}",
            f"-artifact_prefix={tmp_path}/",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done" in proc.stderr
