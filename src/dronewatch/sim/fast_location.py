"""Many ASTM Location messages at once (numpy), for the simulator's throughput.

The bytes are exactly those of :func:`dronewatch.protocols.astm.encode`: both come from the one
Location layout (:data:`dronewatch.protocols.astm.layout.LOCATION`), compiled by the table
engine into the scalar encoder and into the vectorised one used here (the test suite checks
they agree on random states).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dronewatch.protocols.astm.enums import HeightType, Status
from dronewatch.protocols.astm.layout import LOCATION
from dronewatch.protocols.astm.messages import Location
from dronewatch.protocols.tables import compile_vector_encoder

FloatArray = npt.NDArray[np.float64]

# Constant fields of every simulated Location message.
ACCURACY = {
    "horiz_accuracy": 3.0,
    "vert_accuracy": 3.0,
    "baro_accuracy": 3.0,
    "speed_accuracy": 0.3,
    "timestamp_accuracy": 0.1,
}
_VERSION = Location().protocol_version


def encode_locations(
    *,
    airborne: npt.NDArray[np.bool_],
    direction: FloatArray,
    speed: FloatArray,
    vspeed: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    alt_baro: FloatArray,
    alt_geo: FloatArray,
    height: FloatArray,
    timestamp: FloatArray,
) -> list[bytes]:
    """One 25-byte Location message per sample (heights above take-off, constant
    :data:`ACCURACY`); equal to ``astm.encode(Location(...))`` sample by sample (NaN for
    ``None``)."""
    n = len(lat)
    raw = compile_vector_encoder(LOCATION)(
        {
            "protocol_version": _VERSION,
            "status": np.where(airborne, int(Status.AIRBORNE), int(Status.GROUND)),
            "height_type": HeightType.ABOVE_TAKEOFF,
            "direction": direction,
            "speed": speed,
            "vspeed": vspeed,
            "lat": lat,
            "lon": lon,
            "alt_baro": alt_baro,
            "alt_geo": alt_geo,
            "height": height,
            "timestamp": timestamp,
            **ACCURACY,
        },
        n,
    )
    return [raw[i : i + 25] for i in range(0, 25 * n, 25)]
