"""Micro-benchmark of the ASTM F3411 Remote ID codec: prints messages/s decode and encode.

Run: .venv/bin/python bench/astm_codec.py [--seconds 2.0]

Rates are per CPU second of this process (``time.process_time``, best of five trials), so
other load on the machine disturbs them less. "location" decodes distinct Location messages
(cache misses); "static (cached)" re-decodes repeating static messages as real traffic does;
"compiled decoder only" is the generated decoder without the cache; the pack is a 5-message
Wi-Fi beacon pack with a fresh Location each time and four repeating static messages.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from dronewatch.model import Message
from dronewatch.protocols.astm import (
    BasicId,
    IdType,
    Location,
    OperatorId,
    SelfId,
    Status,
    System,
    UaType,
    decode,
    encode,
    encode_pack,
)
from dronewatch.protocols.astm import codec as astm_codec


def _locations(n: int) -> list[Location]:
    return [
        Location(
            status=Status.AIRBORNE,
            direction=float(i % 360),
            speed=(i % 200) * 0.25,
            vspeed=((i % 100) - 50) * 0.5,
            lat=45.0 + i * 1e-6,
            lon=-122.0 - i * 1e-6,
            alt_baro=100.0 + (i % 50),
            alt_geo=120.0 + (i % 50),
            height=50.0,
            horiz_accuracy=10.0,
            vert_accuracy=3.0,
            speed_accuracy=1.0,
            timestamp=(i % 36000) / 10,
            timestamp_accuracy=0.1,
        )
        for i in range(n)
    ]


T = TypeVar("T")


def _rate(fn: Callable[[T], object], items: Sequence[T], seconds: float) -> float:
    """Best rate (calls/s) of five trials of ``seconds / 5`` each: robust to a busy machine."""
    best = 0.0
    for _ in range(5):
        count = 0
        start = time.process_time()
        end = start + seconds / 5
        while True:
            for item in items:
                fn(item)
            count += len(items)
            now = time.process_time()
            if now >= end:
                break
        best = max(best, count / (now - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    # More distinct Locations than the codec's message cache holds (8192, emptied when full):
    # cycling through them, every Location decode is a cache miss.
    n = 20_000
    locations = _locations(n)
    raw_locations = [encode(m) for m in locations]
    statics: list[Message] = [
        BasicId(
            id_type=IdType.SERIAL_NUMBER,
            ua_type=UaType.HELICOPTER_OR_MULTIROTOR,
            uas_id="MFG1A0123456789",
        ),
        SelfId(description="Recreational"),
        System(operator_lat=45.5, operator_lon=-122.9, system_timestamp=1.7e9),
        OperatorId(operator_id="GBR-OP-123ABCD"),
    ]
    raw_statics = [encode(m) for m in statics]
    packs = [
        encode_pack([statics[0], loc, statics[1], statics[2], statics[3]]) for loc in locations
    ]

    rate = _rate(decode, raw_locations, args.seconds)
    print(
        f"decode location (full decode):          {rate:>12,.0f} messages/s "
        f"({1e6 / rate:.2f} us/message)"
    )
    rate = _rate(decode, raw_statics, args.seconds)
    print(
        f"decode static (repeating, cached):      {rate:>12,.0f} messages/s "
        f"({1e6 / rate:.2f} us/message)"
    )
    astm_codec._cache.clear()

    def compiled_only(raw: bytes) -> object:
        decoder = astm_codec._DECODERS[raw[0] >> 4]
        assert decoder is not None
        return decoder(raw)

    rate = _rate(compiled_only, raw_statics, args.seconds)
    print(
        f"decode static (compiled decoder only):  {rate:>12,.0f} messages/s "
        f"({1e6 / rate:.2f} us/message)"
    )
    # Wi-Fi beacon style pack: Basic ID, Location, Self-ID, System, Operator ID; the
    # Location is new each time, the four static messages repeat (as in real traffic).
    rate = _rate(decode, packs, args.seconds)
    print(
        f"decode 5-message pack:                  {rate:>12,.0f} packs/s "
        f"({5 * rate:,.0f} messages/s, {1e6 / rate:.2f} us/pack)"
    )
    rate = _rate(encode, locations, args.seconds)
    print(
        f"encode location:                        {rate:>12,.0f} messages/s "
        f"({1e6 / rate:.2f} us/message)"
    )
    rate = _rate(encode, statics, args.seconds)
    print(
        f"encode static:                          {rate:>12,.0f} messages/s "
        f"({1e6 / rate:.2f} us/message)"
    )


if __name__ == "__main__":
    main()
