"""Bearer-token authentication and role checks (FastAPI dependencies)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Annotated
from urllib.parse import unquote_plus

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dronewatch.server.settings import Principal, Role


def lookup(tokens: Mapping[str, Principal], token: str | None) -> Principal | None:
    """The holder of ``token``, comparing in constant time; ``None`` if unknown."""
    if not token:
        return None
    found: Principal | None = None
    given = token.encode()
    for known, principal in tokens.items():
        if hmac.compare_digest(known.encode(), given):
            found = principal
    return found


class QueryTokenError(ValueError):
    """A query string that names its token parameter ambiguously."""


def query_token(query_string: bytes) -> str | None:
    """The ``token`` parameter of a raw query string (the WebSocket's, which browsers cannot
    give headers). Only the literal name ``token`` counts, once: a name that only decodes to
    it (``tok%65n``) or a repeated ``token`` is refused (``QueryTokenError``), so that what
    authenticates is what the logs redact."""
    found: str | None = None
    for part in query_string.decode("latin-1").split("&"):
        raw_name, _, raw_value = part.partition("=")
        if unquote_plus(raw_name) != "token":
            continue
        if raw_name != "token":
            raise QueryTokenError("spell the query parameter 'token' without escapes")
        if found is not None:
            raise QueryTokenError("give the query parameter 'token' once")
        found = unquote_plus(raw_value)
    return found


# The "Authorization: Bearer <token>" header; declared in the OpenAPI schema, so the API
# docs page (/docs) can send it ("Authorize"). Missing or another scheme: None (401 below).
_BEARER = HTTPBearer(auto_error=False, description="an API token (see `dronewatch serve --help`)")


def require(role: Role) -> Callable[..., Principal]:
    """A dependency: the request's principal, 401 without a valid token, 403 if too low."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> Principal:
        tokens: Mapping[str, Principal] = request.app.state.settings.tokens
        principal = lookup(tokens, credentials.credentials if credentials else None)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if principal.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=f"needs the {role.label} role (you are {principal.role.label})",
            )
        return principal

    return dependency


viewer = require(Role.VIEWER)
operator = require(Role.OPERATOR)
admin = require(Role.ADMIN)
