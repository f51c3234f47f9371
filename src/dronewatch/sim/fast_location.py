"""Many ASTM Location messages at once (numpy), for the simulator's throughput.

The bytes are exactly those of :func:`dronewatch.protocols.astm.encode` (the test suite checks
it on random states): a template message made by the ASTM encoder supplies the constant
bytes (header, height type, accuracies), and the per-sample fields are written with the same
scaling and rounding as the ASTM field codecs (numpy ``rint`` rounds half to even, like
Python's ``round``).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from dronewatch.protocols.astm import codec as astm
from dronewatch.protocols.astm.enums import HeightType, Status
from dronewatch.protocols.astm.messages import Location

FloatArray = npt.NDArray[np.float64]

# Constant fields of every simulated Location message.
ACCURACY = {
    "horiz_accuracy": 3.0,
    "vert_accuracy": 3.0,
    "baro_accuracy": 3.0,
    "speed_accuracy": 0.3,
    "timestamp_accuracy": 0.1,
}


@functools.cache
def _template() -> npt.NDArray[np.uint8]:
    """The ASTM encoder's bytes for the constant fields (made once, on first use)."""
    return np.frombuffer(
        astm.encode(
            Location(
                status=Status.AIRBORNE,
                height_type=HeightType.ABOVE_TAKEOFF,
                horiz_accuracy=ACCURACY["horiz_accuracy"],
                vert_accuracy=ACCURACY["vert_accuracy"],
                baro_accuracy=ACCURACY["baro_accuracy"],
                speed_accuracy=ACCURACY["speed_accuracy"],
                timestamp_accuracy=ACCURACY["timestamp_accuracy"],
            )
        ),
        dtype=np.uint8,
    )


def _alt_raw(v: FloatArray) -> npt.NDArray[np.int64]:
    clipped = np.clip(v, -1000.0 + 0.5, 0xFFFF * 0.5 - 1000.0)
    return np.where(np.isfinite(v), np.rint((clipped + 1000.0) / 0.5), 0).astype(np.int64)


def _put_le(out: npt.NDArray[np.uint8], col: int, raw: npt.NDArray[np.int64], size: int) -> None:
    u = raw.astype(np.int64) & ((1 << (8 * size)) - 1)
    for k in range(size):
        out[:, col + k] = (u >> (8 * k)) & 0xFF


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
    :data:`ACCURACY`); equal to ``astm.encode(Location(...))`` sample by sample."""
    n = len(lat)
    template = _template()
    out = np.tile(template, (n, 1))
    # direction: whole degrees, east/west bit adds 180; unknown = 181 + bit
    finite = np.isfinite(direction)
    deg = np.where(finite, np.rint(np.where(finite, direction, 0.0)) % 360, 361).astype(np.int64)
    ew = (deg >= 180).astype(np.int64)
    dir_byte = deg - 180 * ew
    # speed: 0.25 m/s up to 63.75, then 0.75 m/s steps with the multiplier bit
    sp = np.where(np.isfinite(speed), speed, -1.0)
    low = sp <= 63.75
    sp_byte = np.where(
        low, np.rint(np.maximum(sp, 0.0) / 0.25), np.rint((np.minimum(sp, 254.25) - 63.75) / 0.75)
    ).astype(np.int64)
    mult = (~low).astype(np.int64)
    unknown_sp = ~np.isfinite(speed)
    sp_byte = np.where(unknown_sp, 255, sp_byte)
    mult = np.where(unknown_sp, 1, mult)
    vs = np.where(np.isfinite(vspeed), np.rint(np.clip(vspeed, -62.0, 62.0) / 0.5), 126)
    status = np.where(airborne, int(Status.AIRBORNE), int(Status.GROUND)).astype(np.int64)
    out[:, 1] = (status << 4) | (int(template[1]) & 0x0C) | (ew << 1) | mult
    out[:, 2] = dir_byte
    out[:, 3] = sp_byte
    out[:, 4] = vs.astype(np.int64) & 0xFF
    _put_le(out, 5, np.rint(np.clip(lat, -90.0, 90.0) * 1e7).astype(np.int64), 4)
    _put_le(out, 9, np.rint(np.clip(lon, -180.0, 180.0) * 1e7).astype(np.int64), 4)
    _put_le(out, 13, _alt_raw(alt_baro), 2)
    _put_le(out, 15, _alt_raw(alt_geo), 2)
    _put_le(out, 17, _alt_raw(height), 2)
    ts = np.where(np.isfinite(timestamp), np.rint(np.clip(timestamp, 0.0, 3600.0) * 10), 0xFFFF)
    _put_le(out, 21, ts.astype(np.int64), 2)
    raw = out.tobytes()
    return [raw[i : i + 25] for i in range(0, 25 * n, 25)]
