"""dronewatch: open drone detection and identification.

The package reads as its pipeline, one folder per stage:

    sources/    captures, interfaces, SDR files, brokers  -> Frame
    phy/        IQ sample processing (DJI OcuSync receiver and transmitter)
    protocols/  pure decoders and encoders: Frame.payload -> typed messages
    track/      observations -> tracks (one per drone, with its pilot)
    alerts/     zones and rules -> alerts
    store/      SQLite / PostgreSQL persistence
    server/     HTTP API and live stream
    web/        the browser map
    sim/        scenario simulator (synthetic captures)
    cli/        the ``dronewatch`` command
"""

from dronewatch.errors import Corrupt, DecodeError, NotMine, Truncated, Unsupported
from dronewatch.model import Decoded, Frame, Message, Transport

__version__ = "0.1.0"

__all__ = [
    "Corrupt",
    "DecodeError",
    "Decoded",
    "Frame",
    "Message",
    "NotMine",
    "Transport",
    "Truncated",
    "Unsupported",
    "__version__",
]
