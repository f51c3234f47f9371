"""The table engine: one declaration per layout drives decoders, encoders and the
simulator's vectorised encoder; the generated code can be read."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.protocols import tables
from dronewatch.protocols.astm import fields as f
from dronewatch.protocols.astm.layout import LOCATION, SYSTEM

_numbers = st.one_of(
    st.just(math.nan), st.floats(allow_nan=False, allow_infinity=True, width=64),
    st.floats(-2000, 40000), st.sampled_from([0.0, -0.0, 0.125, 0.25, 63.75, 63.76, 254.25,
                                              359.5, 180.0, 3600.0, 62.0, -62.0]),
)
_CODECS = {
    "direction": f.Direction(), "speed": f.Speed(), "vspeed": f.VerticalSpeed(),
    "lat": f.Coordinate(90), "lon": f.Coordinate(180), "alt": f.Altitude(),
    "timestamp": f.HourTimestamp(),
}


@pytest.mark.parametrize("name", sorted(_CODECS))
@settings(max_examples=60, deadline=None)
@given(values=st.lists(_numbers, min_size=1, max_size=20))
def test_encode_many_matches_encode(name: str, values: list[float]) -> None:
    codec = _CODECS[name]
    many = codec.encode_many(np.array(values))
    for i, v in enumerate(values):
        want = codec.encode(None if math.isnan(v) else v)
        assert tuple(int(np.asarray(raw)[i]) for raw in many) == want, (name, v)


def test_vector_encoder_writes_the_encoders_bytes() -> None:
    from dronewatch.protocols.astm import HeightType, Location, Status, encode

    rows = [Location(status=Status.AIRBORNE, direction=200.0, speed=70.0, vspeed=-1.5,
                     lat=48.5, lon=2.25, alt_baro=120.0, alt_geo=None, height=30.0,
                     horiz_accuracy=3.0, timestamp=1799.9),
            Location(status=Status.GROUND, direction=None, speed=None, lat=-33.25, lon=151.0,
                     height_type=HeightType.ABOVE_GROUND, timestamp=None)]
    names = [n for n in Location.__struct_fields__]
    values = {
        n: np.array([math.nan if getattr(r, n) is None else float(getattr(r, n)) for r in rows])
        for n in names
    }
    for n in ("protocol_version", "status", "height_type"):
        values[n] = np.array([int(getattr(r, n)) for r in rows])
    raw = tables.compile_vector_encoder(LOCATION)(values, len(rows))
    assert raw == b"".join(encode(r) for r in rows)
    with pytest.raises(ValueError, match="version-gated"):  # System's timestamp is gated
        tables.compile_vector_encoder(SYSTEM)


def test_generated_code_can_be_printed() -> None:
    text = tables.show("astm.location")
    assert "def _decode(data):" in text and "def _encode(m):" in text
    assert "def _encode_many(v, n):" in text
    assert tables.show("dji.telemetry_v2").count("def ") >= 2
    assert "!= (1," in tables.show("fr.beacon")  # the TLV headers are checked
    names = set(tables.layouts())
    assert {"astm.basic_id", "astm.location", "dji.telemetry_v1", "fr.beacon"} <= names
    with pytest.raises(KeyError, match="known"):
        tables.show("no.such")
    out = subprocess.run([sys.executable, "-m", "dronewatch.protocols.tables", "--show",
                          "astm.location"], capture_output=True, text=True, check=True).stdout
    assert "def _decode(data):" in out


def test_one_engine_generates_every_decoder() -> None:
    """ASTM, DJI and the French beacon decoders all come from the engine (no other exec)."""
    from dronewatch.protocols import dji_droneid, fr_beacon
    from dronewatch.protocols.astm import codec

    for fn in (codec._DECODERS[1], dji_droneid._TELEMETRY_DECODERS[2][1],
               fr_beacon._compile_shape(fr_beacon._FULL_SHAPE)):
        assert fn.__code__.co_filename.startswith("<") and "decoder" in fn.__code__.co_filename
        assert fn.__doc__ and fn.__doc__.startswith("def _decode(data):")
