"""The FastAPI application: ``create_app(settings)``.

The app owns the store, the live event bus and (unless ``settings.run_pipeline`` is off) the
pipeline service, started and stopped with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dronewatch import __version__
from dronewatch.server.context import AppContext
from dronewatch.server.settings import Settings
from dronewatch.store import StoreError

log = logging.getLogger(__name__)

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
DOCS_OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# Swagger UI vendored from npm (see its README): FastAPI's default page loads it from a CDN,
# which the offline machines dronewatch runs on cannot reach.
SWAGGER_UI_DIR = "/static/vendor/swagger-ui"


def static_dir() -> Path:
    """The web map's static files (bundled in the package, no CDN)."""
    return Path(str(resources.files("dronewatch.web") / "static"))


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``limit`` bytes with 413."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        # Read the body first (it is small by definition), so an oversized one is refused
        # before any route sees it, whatever the route does with it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = b'{"detail":"request body too large (limit %d bytes)"}' % self.limit
        await _send_json(send, 413, body)


class RefuseNulInUrl:
    """ASGI middleware: 422 for a NUL character anywhere in the path or the query (``%00``).

    No database can hold one (PostgreSQL refuses it in every text parameter), so no route
    could use it; refusing it here covers every route, present and future, at once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope["query_string"])
        ):
            await _send_json(send, 422, b'{"detail":"the URL holds a NUL character (%00)"}')
            return
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def content_security_policy(
    tile_url: str | None = None, *, script_hashes: tuple[str, ...] = ()
) -> str:
    """The pages' CSP: everything from this server only (the map and the API docs load no
    other host), no inline script or style, no framing. ``tile_url``: its host may serve
    images (the map's online tiles); ``script_hashes``: inline scripts allowed by hash (the
    API docs pages' own)."""
    images = ["'self'", "data:", "blob:"]
    if tile_url:
        images.append(_image_source(tile_url))
    scripts = ["'self'", *(f"'{h}'" for h in script_hashes)]
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _image_source(tile_url: str) -> str:
    """A CSP source for a tile URL template: ``https://{s}.tile.example.org/{z}/{x}/{y}.png``
    -> ``https://*.tile.example.org``; a host that is all template -> the scheme only."""
    parts = urlsplit(tile_url)
    scheme = parts.scheme or "https"
    host = re.sub(r"^\{[^}]*\}\.", "*.", parts.netloc)
    if not host or "{" in host or "}" in host or not re.fullmatch(r"[\w.*:\[\]-]+", host):
        return f"{scheme}:"
    return f"{scheme}://{host}"


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """CSP hashes (``sha256-...``) of the inline scripts of a page."""
    return tuple(
        "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        for body in re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    )


class SecurityHeaders:
    """ASGI middleware: the security headers of every response.

    CSP (unless the route set its own), no framing, no MIME sniffing, no referrer; API
    responses (everything but the static files) are never stored by a cache; over TLS,
    browsers are told to keep to HTTPS."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.common: list[tuple[bytes, bytes]] = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in self.common if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.csp))
                if not static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


WATCHDOG_INTERVAL_S = 1.0


async def _watchdog_loop(ctx: AppContext) -> None:
    """Restart a pipeline or writer thread that died (every ``WATCHDOG_INTERVAL_S``)."""
    while True:
        await asyncio.sleep(WATCHDOG_INTERVAL_S)
        try:
            ctx.watchdog()
        except Exception:  # the watchdog itself must keep watching
            log.exception("watchdog failed")


def create_app(settings: Settings) -> FastAPI:
    """The dronewatch web application for ``settings``."""
    from dronewatch.server.routes import router

    ctx = AppContext(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        ctx.bus.bind(loop)
        if settings.run_pipeline:
            ctx.start_pipeline(loop)
        retention = asyncio.create_task(ctx.retention_loop())
        watchdog = asyncio.create_task(_watchdog_loop(ctx))
        try:
            yield
        finally:
            watchdog.cancel()
            retention.cancel()
            await asyncio.to_thread(ctx.stop_pipeline)

    app = FastAPI(
        title="dronewatch",
        version=__version__,
        description="Drone detection and identification: live tracks, alerts, zones, history. "
        "See docs/api.md. Every /api route needs `Authorization: Bearer TOKEN`.",
        lifespan=lifespan,
        openapi_url=OPENAPI_URL,
        # Replaced by _install_api_docs (local assets). No ReDoc: it would be a CDN page too.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.ctx = ctx
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RefuseNulInUrl)
    # Outermost: every response carries the headers, the middlewares' refusals included.
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.tile_url))
    _install_error_handlers(app)
    app.include_router(router)

    static = static_dir()
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = static / "index.html"
        if not page.is_file():
            return JSONResponse({"detail": "the web map is not installed"}, status_code=404)
        return FileResponse(page, media_type="text/html")

    _install_api_docs(app)
    return app


def _install_api_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the package's own files. Open, like ``/openapi.json``:
    the page holds no data, and every call made from it needs a token as usual."""

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs(request: Request) -> HTMLResponse:
        # Behind a proxy that mounts the app under a prefix, every URL carries the prefix.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + OPENAPI_URL,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI_DIR}/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
            oauth2_redirect_url=root + DOCS_OAUTH2_REDIRECT_URL,
            # Belt and braces: Swagger UI's validator badge (absent from the layout FastAPI
            # uses) would fetch an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _with_inline_scripts_allowed(page)

    @app.get(DOCS_OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def api_docs_oauth2_redirect() -> HTMLResponse:
        return _with_inline_scripts_allowed(get_swagger_ui_oauth2_redirect_html())


def _with_inline_scripts_allowed(page: HTMLResponse) -> HTMLResponse:
    """FastAPI's docs pages start Swagger UI from an inline script: the page's CSP allows
    exactly those scripts (by hash), nothing else inline."""
    html = bytes(page.body).decode()
    page.headers["content-security-policy"] = content_security_policy(
        script_hashes=inline_script_hashes(html)
    )
    return page


def _install_error_handlers(app: FastAPI) -> None:
    async def store_error(request: Request, exc: Exception) -> Response:
        ctx: AppContext = request.app.state.ctx
        ctx.counters.db_errors += 1
        log.error("database error on %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    async def validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    import sqlalchemy.exc

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        StoreError: store_error,
        sqlalchemy.exc.OperationalError: store_error,  # locked, full, server gone
        sqlalchemy.exc.InterfaceError: store_error,
        sqlalchemy.exc.TimeoutError: store_error,  # connection pool exhausted
        RequestValidationError: validation,
        Exception: unexpected,
    }
    for exc_type, handler in handlers.items():
        app.add_exception_handler(exc_type, handler)
    _ = StarletteHTTPException  # default handler keeps {"detail": ...}
