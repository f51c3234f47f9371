"""Frames -> decoded messages, counting what cannot be decoded instead of raising.

Two things happen to frames on the way besides decoding:

* 802.11 link-layer retransmissions are dropped and counted (``wifi: retry``): a frame with
  the retry flag whose sequence number is the last one heard from the same transmitter at
  the same sensor repeats a frame already seen (probe responses are unicast and retried
  until acknowledged). The last sequence number of at most :data:`RETRY_MEMORY`
  transmitters is kept, least recently heard forgotten first.
* A payload that is good only in part (a message pack cut short, a bad message in a pack)
  gives its good messages, and each failure is counted by its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dronewatch.errors import DecodeError, Partial
from dronewatch.model import Decoded, Frame, Message
from dronewatch.protocols import decoder_for, decoders
from dronewatch.stats import DecodeStats

#: Transmitters (per sensor) whose last 802.11 sequence number is remembered.
RETRY_MEMORY = 4096
RETRY_REASON = "wifi: retry"

# (sensor, transmitter) -> (sequence number, capture time, dropped) of its last frame
_LastSeq = dict[tuple[str, str | None], tuple[int, float, bool]]


def is_retransmission(last: _LastSeq, frame: Frame, memory: int = RETRY_MEMORY) -> bool:
    """Whether ``frame`` (one with a ``link_seq``) repeats the transmitter's last frame.

    ``last`` is the caller's memory, updated here (least recently heard transmitters are
    forgotten beyond ``memory``). The payloads of one packet (same time) share one decision.
    """
    key = (frame.sensor_id, frame.source)
    seq = frame.link_seq
    assert seq is not None
    before = last.pop(key, None)  # re-inserted below, as the most recently heard
    if before is None:
        if len(last) >= memory:
            del last[next(iter(last))]
        repeat = False
    elif before[0] != seq:
        repeat = False
    elif before[1] == frame.time:  # another payload of the packet just decided
        repeat = before[2]
    else:
        repeat = frame.link_retry
    last[key] = (seq, frame.time, repeat)
    return repeat


def decode_frame_messages(
    frames: Iterable[Frame], stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[tuple[Frame, list[Message]]]:
    """Decode every frame: each frame that gives messages, with them (in order, never an
    empty list); a frame that fails is counted in ``stats.skipped`` by reason.

    With ``strict`` the first failure raises instead. Consumers that handle a frame's
    messages together (``dronewatch decode``) take this; :func:`decode_frames` gives one
    :class:`Decoded` per message.
    """
    stats = stats if stats is not None else DecodeStats()
    # The hot loop of every decode (see bench/decode_throughput.py): one dict lookup per
    # frame, and counters kept in locals and written back per frame.
    table = decoders()
    last_seq: _LastSeq = {}
    n_frames = stats.frames_read
    n_messages = stats.messages_decoded
    try:
        for frame in frames:
            n_frames += 1
            if frame.link_seq is not None and is_retransmission(last_seq, frame):
                stats.skip(RETRY_REASON)
                continue
            decode = table.get(frame.transport)
            try:
                if decode is None:
                    decode = decoder_for(frame.transport)  # raises Unsupported
                messages = decode(frame.payload)
            except DecodeError as exc:
                if strict:
                    raise
                stats.skip(f"{frame.transport.value}: {exc.reason}")
                continue
            if type(messages) is not list:  # a Partial: its failures are counted
                _count_partial(messages, frame, stats, strict)
            n_messages += len(messages)
            stats.frames_read = n_frames
            stats.messages_decoded = n_messages
            if messages:
                yield frame, messages
    finally:
        stats.frames_read = n_frames
        stats.messages_decoded = n_messages


def decode_frames(
    frames: Iterable[Frame], stats: DecodeStats | None = None, *, strict: bool = False
) -> Iterator[Decoded]:
    """Decode every frame, one :class:`Decoded` per message; a frame that fails is counted in
    ``stats.skipped`` by reason. With ``strict`` the first failure raises instead."""
    for frame, messages in decode_frame_messages(frames, stats, strict=strict):
        for message in messages:
            yield Decoded(frame, message)


def _count_partial(messages: object, frame: Frame, stats: DecodeStats, strict: bool) -> None:
    if isinstance(messages, Partial):
        for exc in messages.errors:
            if strict:
                raise exc
            stats.skip(f"{frame.transport.value}: {exc.reason}")


def warm_up() -> None:
    """Load every link-layer parser and payload decoder and run one message through them and
    the JSON encoder, before live input: the first frame of a receiver would otherwise wait
    (a second on a busy machine) for these imports."""
    import msgspec

    from dronewatch.model import Transport
    from dronewatch.protocols import wifi
    from dronewatch.protocols.astm import codec
    from dronewatch.protocols.astm.messages import BasicId
    from dronewatch.protocols.link import frames_from_packet

    frame = Frame(codec.encode(BasicId(uas_id="WARMUP")), 0.0, Transport.WIFI_BEACON)
    packet = wifi.build_wifi_packet(frame)
    frames = frames_from_packet(wifi.LINKTYPE_IEEE802_11_RADIOTAP, packet, 0.0)
    for decoded in decode_frames(frames):
        msgspec.json.encode(decoded.to_json())
