"""Text from outside (API bodies and parameters, zone files): what no database can store.

PostgreSQL refuses NUL characters in text; a lone surrogate (``"\\ud800"`` in JSON) is not
Unicode and cannot be encoded for either database. Both are refused where text comes in, with
a reason, instead of failing deep inside a write.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (``"a NUL character"``, ``"a lone surrogate ..."``), or
    ``None`` if it can. In a ``str`` every surrogate code point is a lone one (a valid pair
    decodes to one astral character)."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "a NUL character"
    return f"a lone surrogate (U+{ord(found.group()):04X}, not Unicode)"
