"""What the API takes from clients, bounded before it reaches the pipeline or the store.

JSON bodies are parsed by :func:`load_json` (the zone routes) or by FastAPI into pydantic
models whose text fields are :data:`SafeStr`; both refuse, with 400 or 422 and a reason,
what used to surface as a 500 from deep inside: nesting deeper than the interpreter's
recursion limit, integers Python refuses to convert (over 4,300 digits), non-finite numbers,
NUL characters (PostgreSQL cannot store them) and lone surrogates (not Unicode).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from pydantic import AfterValidator

from dronewatch.text import text_problem

#: Deepest nesting a body may have (a GeoJSON MultiPolygon Feature needs 6).
MAX_JSON_DEPTH = 32
#: Longest integer literal (digits and sign): far beyond any coordinate, height or count.
MAX_INT_CHARS = 24


class BodyError(ValueError):
    """A body the API refuses: ``status`` (400 not JSON, 422 JSON with refused values)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Refused(ValueError):
    """Raised from inside the JSON parser's hooks (kept apart from JSONDecodeError)."""


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_INT_CHARS:
        raise _Refused(f"an integer of {len(literal)} characters (at most {MAX_INT_CHARS})")
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(f"the number {literal[:40]} is out of range")
    return value


def _parse_constant(literal: str) -> float:
    raise _Refused(f"{literal} is not a JSON number")


def load_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``raw`` as JSON, checked by :func:`check_json`; ``BodyError`` if refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"body is not JSON: not UTF-8 ({exc.reason})") from None
    try:
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"body is not JSON: {exc}") from None
    except _Refused as exc:
        raise BodyError(422, f"body refused: {exc}") from None
    except RecursionError:
        raise BodyError(422, f"body refused: JSON nested deeper than {max_depth}") from None
    check_json(value, max_depth=max_depth)
    return value


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """``BodyError`` (422) if ``value`` nests deeper than ``max_depth`` or holds a key or a
    string that cannot be stored. Iterative: the depth of the input costs no stack."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                raise BodyError(422, f"body refused: a string holds {problem}")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise BodyError(422, f"body refused: JSON nested deeper than {max_depth}")
            if isinstance(item, dict):
                stack.extend((k, depth + 1) for k in item)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)


def _storable(text: str) -> str:
    problem = text_problem(text)
    if problem is not None:
        raise ValueError(f"text holds {problem}")
    return text


#: A text field of a request body: refused (422) if it holds NUL or a lone surrogate.
SafeStr = Annotated[str, AfterValidator(_storable)]
