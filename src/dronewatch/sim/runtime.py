"""What the simulator's emitters work on: a drone's runtime state and a batch of its states
at emission times; and the registry of emitters by drone kind (:mod:`.emitters` fills it,
:mod:`.engine` runs them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dronewatch.model import Transport
from dronewatch.sim.flight import FloatArray, Track
from dronewatch.sim.scenario import Drone


@dataclass(slots=True, frozen=True)
class Claimed:
    """What the drone claims at a batch of times (after any spoofing), as arrays."""

    east: FloatArray
    north: FloatArray
    lat: FloatArray
    lon: FloatArray
    height: FloatArray
    alt: FloatArray
    v_east: FloatArray
    v_north: FloatArray
    v_up: FloatArray
    heading: FloatArray
    pilot_east: FloatArray
    pilot_north: FloatArray
    pilot_lat: FloatArray
    pilot_lon: FloatArray
    true_east: FloatArray
    true_north: FloatArray


@dataclass(slots=True)
class Batch:
    """The state of one drone at a batch of emission times, as plain lists."""

    time: list[float]  # UTC epoch seconds
    tag: list[int]  # which stream
    lat: list[float]
    lon: list[float]
    height: list[float]  # above take-off, m
    alt: list[float]  # above mean sea level, m
    v_east: list[float]
    v_north: list[float]
    v_up: list[float]
    speed: list[float]
    direction: list[float]
    airborne: list[bool]
    pilot_lat: list[float]
    pilot_lon: list[float]
    arrays: Claimed  # the same state as numpy arrays, for vectorised encoders
    epoch: FloatArray  # ``time`` as an array
    tags: npt.NDArray[np.int64]


@dataclass(slots=True)
class DroneRuntime:
    index: int
    drone: Drone
    kind: str
    transport: Transport
    uas_id: str
    serial: str
    operator_id: str | None
    uuid: str | None
    product_type: int
    track: Track
    pilot: Track
    tx_end: float  # scenario seconds
    home_lat: float
    home_lon: float
    ground_alt: float
    pilot_alt: float
    mac_seed: bytes
    streams: list[float]  # intervals; the index is the tag
    phases: list[float]
    rng: np.random.Generator
    tx_power_dbm: float
    channel: int
    teleport: tuple[float, float] | None = None  # east, north offset (m) while teleported
    pilot_offset: tuple[float, float] | None = None
    counters: dict[Any, int] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    def count(self, key: Any) -> int:
        """The next value of a per-key 8/16-bit-agnostic counter (starts at 0)."""
        n = self.counters.get(key, 0)
        self.counters[key] = n + 1
        return n


Emitter = Callable[[DroneRuntime, Batch], list[tuple[int, Transport, bytes, int | None, int]]]
"""Builds, for each row of a batch, ``(row, transport, payload, counter, channel)`` (rows may
be left out or repeated)."""

EMITTERS: dict[str, Emitter] = {}


def register_emitter(kind: str) -> Callable[[Emitter], Emitter]:
    """Register the payload builder of a drone kind (another module may replace one, e.g. an
    OcuSync emitter that also writes IQ)."""

    def wrap(fn: Emitter) -> Emitter:
        EMITTERS[kind] = fn
        return fn

    return wrap
