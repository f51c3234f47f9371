"""The simulator's vectorised Location encoder writes exactly the ASTM encoder's bytes."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dronewatch.protocols.astm import codec as astm
from dronewatch.protocols.astm.enums import Status
from dronewatch.protocols.astm.messages import Location
from dronewatch.sim.fast_location import ACCURACY, encode_locations

_f = st.floats(allow_nan=False, allow_infinity=False)


def _reference(row: dict[str, float]) -> bytes:
    direction = None if math.isnan(row["direction"]) else row["direction"]
    return astm.encode(Location(
        status=Status.AIRBORNE if row["airborne"] else Status.GROUND, direction=direction,
        speed=row["speed"], vspeed=row["vspeed"], lat=row["lat"], lon=row["lon"],
        alt_baro=row["alt_baro"], alt_geo=row["alt_geo"], height=row["height"],
        timestamp=row["timestamp"], **ACCURACY,  # type: ignore[arg-type]
    ))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({
    "airborne": st.booleans(),
    "direction": st.one_of(st.just(math.nan), st.floats(-720, 720)),
    "speed": st.one_of(st.floats(-5, 300), st.integers(0, 1200).map(lambda v: v / 4)),
    "vspeed": st.one_of(st.floats(-80, 80), st.integers(-300, 300).map(lambda v: v / 4)),
    "lat": st.floats(-95, 95), "lon": st.floats(-185, 185),
    "alt_baro": st.floats(-1500, 34000), "alt_geo": st.integers(-4000, 8000).map(lambda v: v / 4),
    "height": st.floats(-100, 3000),
    "timestamp": st.integers(0, 36000).map(lambda v: v / 10),
}), min_size=1, max_size=40))
def test_same_bytes_as_astm_encoder(rows: list[dict[str, float]]) -> None:
    cols = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    got = encode_locations(
        airborne=cols["airborne"].astype(bool), direction=cols["direction"],
        speed=cols["speed"], vspeed=cols["vspeed"], lat=cols["lat"], lon=cols["lon"],
        alt_baro=cols["alt_baro"], alt_geo=cols["alt_geo"], height=cols["height"],
        timestamp=cols["timestamp"],
    )
    assert got == [_reference(r) for r in rows]
