"""Helpers over decoded Remote ID messages that need more than one message or a clock."""

from __future__ import annotations

from collections.abc import Iterable

from dronewatch.protocols.astm.constants import AUTH_MAX_PAGES
from dronewatch.protocols.astm.messages import Authentication

__all__ = ["auth_payload", "location_time"]

_HOUR = 3600.0


def location_time(timestamp: float | None, received: float) -> float | None:
    """The UTC epoch time of a Location ``timestamp`` (seconds after the full hour).

    The Location message carries only the position within the hour; the hour is the one
    that puts the result nearest to ``received`` (the reception time, UTC epoch seconds),
    so a fix sent at 10:59:59.9 and received at 11:00:00.1 resolves to 10:59:59.9.
    """
    if timestamp is None:
        return None
    hour_start = received - received % _HOUR
    candidate = hour_start + timestamp
    if candidate - received > _HOUR / 2:
        candidate -= _HOUR
    elif received - candidate > _HOUR / 2:
        candidate += _HOUR
    return candidate


def auth_payload(pages: Iterable[Authentication]) -> bytes | None:
    """Reassemble the authentication data of one set of Authentication pages.

    Returns the ``length`` bytes announced by page 0, or ``None`` while the set is
    incomplete (page 0 or any page up to ``last_page_index`` missing) or inconsistent
    (pages of different authentication types). Extra pages beyond ``length`` (e.g.
    forward error correction data) are not included.
    """
    by_page: dict[int, Authentication] = {}
    for page in pages:
        by_page[page.page_number] = page
    first = by_page.get(0)
    if first is None or first.last_page_index is None or first.length is None:
        return None
    last = min(first.last_page_index, AUTH_MAX_PAGES - 1)
    data = bytearray()
    for number in range(last + 1):
        part = by_page.get(number)
        if part is None or part.auth_type != first.auth_type:
            return None
        data += part.auth_data
    if len(data) < first.length:
        return None
    return bytes(data[: first.length])
