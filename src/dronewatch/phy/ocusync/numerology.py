"""OcuSync DroneID OFDM numerology and burst layouts (LTE 10 MHz-like).

Everything the modulator and the receiver need is declared here once, at the processing rate
of 15.36 MS/s (FFT 1024, 15 kHz subcarriers, 600 used carriers plus an empty DC carrier).

Two burst layouts exist. The 9-symbol layout (OcuSync 2: Mini 2, Mavic Air 2, ...) starts with
a symbol carrying the bare scrambler sequence; the 8-symbol ("legacy") layout is the same burst
with that first symbol omitted. Both share the *core*: symbols 1..8 of the 9-symbol layout,
with Zadoff-Chu reference symbols at core positions 2 and 4 and data everywhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FS: float = 15.36e6  # processing sample rate
#: Widest capture rate the receiver reads (an Ettus X310 records 200 MS/s): its window store
#: grows with the rate (about 0.8 GB a GS/s), so a wider one is refused before allocating.
MAX_SAMPLE_RATE_HZ: float = 250e6
NFFT: int = 1024
SUBCARRIER_HZ: float = 15e3
N_CARRIERS: int = 600  # used carriers, DC excluded
N_CARRIERS_DC: int = 601  # "601 carriers" counting DC
BANDWIDTH_HZ: float = N_CARRIERS_DC * SUBCARRIER_HZ  # 9.015 MHz: the in-band SNR bandwidth
BITS_PER_SYMBOL: int = 2 * N_CARRIERS  # QPSK
N_DATA_SYMBOLS: int = 6
CODED_BITS: int = N_DATA_SYMBOLS * BITS_PER_SYMBOL  # 7200
ZC_ROOTS: tuple[int, int] = (600, 147)
ZC_LEN: int = 601
SCRAMBLER_C_INIT: int = 0x12345678

#: FFT bin of every used carrier, ascending frequency -300..-1, +1..+300, as FFT indices.
CARRIER_OFFSETS: npt.NDArray[np.int64] = np.concatenate(
    [np.arange(-300, 0), np.arange(1, 301)]
).astype(np.int64)
CARRIER_BINS: npt.NDArray[np.int64] = CARRIER_OFFSETS % NFFT


class Layout(enum.IntEnum):
    """Burst layout by its number of OFDM symbols."""

    SYM8 = 8
    SYM9 = 9


class SymbolKind(enum.Enum):
    SCRAMBLER = "scrambler"  # known QPSK: the scrambler sequence c(0..1199)
    ZC1 = "zc1"  # Zadoff-Chu root 600
    ZC2 = "zc2"  # Zadoff-Chu root 147
    DATA = "data"


@dataclass(slots=True, frozen=True)
class LayoutSpec:
    layout: Layout
    kinds: tuple[SymbolKind, ...]
    cp: tuple[int, ...]  # CP length of each symbol at 15.36 MS/s

    @property
    def n_symbols(self) -> int:
        return len(self.kinds)

    @property
    def length(self) -> int:
        """Burst length in samples at 15.36 MS/s."""
        return sum(self.cp) + NFFT * self.n_symbols

    def fft_starts(self) -> tuple[int, ...]:
        """Start of each symbol's FFT window, in samples from the burst start."""
        out = []
        pos = 0
        for cp in self.cp:
            pos += cp
            out.append(pos)
            pos += NFFT
        return tuple(out)

    def indices(self, kind: SymbolKind) -> tuple[int, ...]:
        return tuple(i for i, k in enumerate(self.kinds) if k is kind)

    @property
    def core_offset(self) -> int:
        """Samples from the burst start to the start of the core (the CP of core symbol 0)."""
        return 0 if self.layout is Layout.SYM8 else self.cp[0] + NFFT


_S, _Z1, _Z2, _D = SymbolKind.SCRAMBLER, SymbolKind.ZC1, SymbolKind.ZC2, SymbolKind.DATA

LAYOUTS: dict[Layout, LayoutSpec] = {
    Layout.SYM9: LayoutSpec(
        Layout.SYM9,
        (_S, _D, _D, _Z1, _D, _Z2, _D, _D, _D),
        (80, 72, 72, 72, 72, 72, 72, 72, 80),
    ),
    Layout.SYM8: LayoutSpec(
        Layout.SYM8,
        (_D, _D, _Z1, _D, _Z2, _D, _D, _D),
        (72, 72, 72, 72, 72, 72, 72, 80),
    ),
}

#: The core (the 8-symbol layout): what every burst has, used for timing.
CORE: LayoutSpec = LAYOUTS[Layout.SYM8]


def burst_duration_s(layout: Layout) -> float:
    return LAYOUTS[layout].length / FS
