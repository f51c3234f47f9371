"""Atheris harness for the Remote ID codec (run by test_astm_errors.py for a few seconds).

Standalone: .venv/bin/python tests/protocols/astm/fuzz_astm_harness.py -max_total_time=60

Property: ``decode`` raises nothing but DecodeError subclasses; whatever it returns can be
encoded again (unless it holds a text field that was not printable ASCII) and re-decodes
to messages of the same types.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from dronewatch.errors import DecodeError
    from dronewatch.protocols.astm import decode, encode


def test_one_input(data: bytes) -> None:
    try:
        messages = decode(data)
    except DecodeError:
        return
    for msg in messages:
        try:
            raw = encode(msg)
        except ValueError as exc:
            if "ASCII" in str(exc):
                continue
            raise
        (again,) = decode(raw)
        assert type(again) is type(msg)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
