"""DroneID OcuSync burst synthesis: 173-byte payload -> IQ at any sample rate and offset.

payload -> ``coding.encode_block`` (CRC-24A, turbo, rate matching: 7200 bits) -> scrambler
(c_init 0x12345678, restarted for data) -> LTE QPSK on 600 carriers -> OFDM with the ZC
reference symbols (roots 600 and 147) and, for the 9-symbol layout, the bare-scrambler
symbol first -> cyclic prefixes -> 15.36 MS/s -> polyphase resampling -> frequency shift.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dronewatch.phy.ocusync.coding import PAYLOAD_BYTES, encode_block
from dronewatch.phy.ocusync.numerology import CODED_BITS, FS, Layout
from dronewatch.phy.ocusync.ofdm import build_grid, modulate
from dronewatch.phy.ocusync.resample import resample
from dronewatch.phy.ocusync.scrambler import scramble


def coded_bits(payload: bytes) -> npt.NDArray[np.uint8]:
    """The 7200 scrambled coded bits of a 173-byte payload."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes, got {len(payload)}")
    return scramble(encode_block(payload))


def burst_baseband(
    payload: bytes, layout: Layout = Layout.SYM9, *, bits: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.complex64]:
    """One burst at 15.36 MS/s, unit mean power. ``bits`` (7200 scrambled) overrides coding."""
    scrambled = coded_bits(payload) if bits is None else np.asarray(bits, dtype=np.uint8)
    if scrambled.shape != (CODED_BITS,):
        raise ValueError(f"expected {CODED_BITS} bits")
    return modulate(build_grid(scrambled, layout), layout)


def transmit(
    payload: bytes,
    *,
    sample_rate: float = FS,
    freq_offset_hz: float = 0.0,
    layout: Layout = Layout.SYM9,
    amplitude: float = 1.0,
) -> npt.NDArray[np.complex64]:
    """One burst as IQ at ``sample_rate``, shifted by ``freq_offset_hz`` (RMS ``amplitude``).

    The result has no leading or trailing silence beyond the resampling filter's tails.
    """
    x = burst_baseband(payload, layout)
    if sample_rate != FS:
        x = resample(x, FS, sample_rate)
    if freq_offset_hz:
        if abs(freq_offset_hz) + 4.6e6 > sample_rate / 2:
            raise ValueError(f"offset {freq_offset_hz} Hz does not fit in {sample_rate} S/s")
        n = np.arange(len(x))
        x = x * np.exp(2j * np.pi * freq_offset_hz / sample_rate * n)
    return (x * amplitude).astype(np.complex64)
