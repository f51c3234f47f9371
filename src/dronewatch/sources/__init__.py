"""Sources: everything that produces :class:`~dronewatch.model.Frame` objects.

``open_capture`` picks the reader by file content (magic bytes), falling back to the file
extension, so ``dronewatch decode`` takes any capture kind:

* pcap / pcapng (Wi-Fi and Bluetooth link types)  -> ``dronewatch.sources.pcap_frames``
* SigMF recordings and raw IQ files                -> ``dronewatch.sources.iq``
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dronewatch.errors import NotMine
from dronewatch.model import Frame
from dronewatch.stats import DecodeStats


@dataclass(slots=True, frozen=True)
class CaptureOptions:
    """How to read a capture. IQ options apply to raw IQ files only (SigMF carries its own)."""

    sensor_id: str = "local"
    strict: bool = False
    iq_format: str | None = None  # cf32, cf64, ci16, ci8
    sample_rate_hz: float | None = None
    center_freq_hz: float | None = None


class CaptureReader(Protocol):
    def __call__(
        self, path: Path, options: CaptureOptions, stats: DecodeStats
    ) -> Iterator[Frame]: ...


PCAP_MAGICS = (
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\xc3\xd4",
    b"\x4d\x3c\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x0a\x0d\x0d\x0a",
)
PCAP_SUFFIXES = {".pcap", ".pcapng", ".cap"}
IQ_SUFFIXES = {".sigmf-meta", ".sigmf-data", ".sigmf", ".cf32", ".cf64", ".ci16", ".ci8",
               ".cs16", ".cs8", ".iq", ".raw", ".bin", ".fc32", ".cfile"}


def capture_kind(path: Path) -> str:
    """``"pcap"`` or ``"iq"`` for ``path``; ``NotMine`` if it is neither."""
    if path.suffix.lower() in IQ_SUFFIXES:
        return "iq"
    if path.suffix.lower() in PCAP_SUFFIXES:
        if not path.is_file():  # a pipe, a FIFO, a device: reading its magic would eat it
            return "pcap"
    elif path.exists() and not path.is_file():
        raise NotMine(f"{path}: a stream is read by its name: give it a .pcap, .pcapng or IQ "
                      "suffix", reason="unknown-file-type")
    with path.open("rb") as fh:
        head = fh.read(4)
    if head in PCAP_MAGICS:
        return "pcap"
    if path.suffix.lower() in PCAP_SUFFIXES:
        return "pcap"  # let the pcap reader say what is wrong with it
    raise NotMine(f"{path}: not a pcap, pcapng, SigMF or raw IQ file", reason="unknown-file-type")


_READERS = {
    "pcap": "dronewatch.sources.pcap_frames",
    "iq": "dronewatch.sources.iq",
}


def open_capture(
    path: str | Path, options: CaptureOptions | None = None, stats: DecodeStats | None = None
) -> Iterator[Frame]:
    """Frames from any capture file, in file order; failures are counted in ``stats``."""
    path = Path(path)
    options = options or CaptureOptions()
    stats = stats if stats is not None else DecodeStats()
    module = importlib.import_module(_READERS[capture_kind(path)])
    reader: CaptureReader = module.read_frames
    return reader(path, options, stats)
