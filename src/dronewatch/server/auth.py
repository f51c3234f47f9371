"""Bearer-token authentication and role checks (FastAPI dependencies)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from fastapi import HTTPException, Request, status

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


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def require(role: Role) -> Callable[[Request], Principal]:
    """A dependency: the request's principal, 401 without a valid token, 403 if too low."""

    def dependency(request: Request) -> Principal:
        tokens: Mapping[str, Principal] = request.app.state.settings.tokens
        principal = lookup(tokens, bearer(request))
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
