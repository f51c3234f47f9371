"""The FastAPI application: ``create_app(settings)``.

The app owns the store, the live event bus and (unless ``settings.run_pipeline`` is off) the
pipeline service, started and stopped with the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dronewatch import __version__
from dronewatch.alerts.whitelist import Whitelist, load_whitelist
from dronewatch.alerts.zones import Zone, ZoneSet, load_zones, parse_features
from dronewatch.server.bus import EventBus, event
from dronewatch.server.service import (
    Counters,
    FrameSource,
    PipelineService,
    Processor,
    Writer,
    replay_source,
)
from dronewatch.server.settings import Settings
from dronewatch.sources.live import LiveOptions, LiveSet, LiveSource, open_live
from dronewatch.store import Store, StoreError

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
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ZoneManager:
    """Zones from the store plus built-in ones (airports); rebuilds the pipeline's zone set."""

    def __init__(self, store: Store, builtin: ZoneSet | None = None) -> None:
        self.store = store
        self.builtin = builtin if builtin is not None else ZoneSet()
        self.builtin_ids = frozenset(z.zone_id for z in self.builtin)

    def zone_set(self) -> ZoneSet:
        stored = parse_features(
            {"type": "FeatureCollection", "features": self.store.list_zones()}, source="database"
        )
        return ZoneSet([*self.builtin, *(z for z in stored if z.zone_id not in self.builtin_ids)])

    def builtin_features(
        self, bbox: tuple[float, float, float, float] | None
    ) -> list[dict[str, Any]]:
        out = []
        for z in self.builtin:
            if bbox is not None:
                b = z.bbox
                if b[2] < bbox[0] or b[0] > bbox[2] or b[3] < bbox[1] or b[1] > bbox[3]:
                    continue
            out.append(z.to_feature())
        return out


def store_zone(store: Store, zone: Zone) -> dict[str, Any]:
    """Write a parsed zone in its normalised form."""
    feat = zone.to_feature()
    return store.put_zone(zone.zone_id, feat["geometry"], feat["properties"])


def new_zone_id() -> str:
    return "zone-" + uuid.uuid4().hex[:12]


def _build_pipeline(zones: ZoneSet, whitelist: Whitelist) -> Any:
    from dronewatch.track.pipeline import TrackingPipeline

    return TrackingPipeline(zones=zones, whitelist=whitelist)


def set_pipeline_zones(pipeline: Any, zones: ZoneSet) -> None:
    pipeline.set_zones(zones)


def set_pipeline_whitelist(pipeline: Any, whitelist: Whitelist) -> None:
    pipeline.set_whitelist(whitelist)


class AppContext:
    """Everything the routes need (``app.state.ctx``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.time()
        self.store = Store.open(settings.db)
        self.bus = EventBus(settings.ws_queue_size)
        self.counters = Counters()
        builtin: ZoneSet | None = None
        if settings.airports:
            from dronewatch.alerts.airports import airport_zones

            builtin = airport_zones()
        self.zones = ZoneManager(self.store, builtin)
        if settings.zones_file is not None:
            for zone in load_zones(settings.zones_file):
                store_zone(self.store, zone)
        if settings.whitelist_file is not None:
            ids = set(self.store.get_whitelist()) | set(load_whitelist(settings.whitelist_file))
            self.store.set_whitelist(ids)
        self.service: PipelineService | None = None
        self.writer: Writer | None = None
        self.processor: Processor | None = None
        self.live = self._live_sources(settings)

    @staticmethod
    def _live_sources(settings: Settings) -> LiveSet | None:
        """The live sources the settings name (not started), or ``None`` for none."""
        sources: list[LiveSource] = []
        options = LiveOptions(sensor_id=settings.sensor_id)
        for spec in settings.live:
            sources.append(open_live(spec, options))
        if settings.mqtt is not None:
            from dronewatch.sources.mqtt import MqttSource

            sources.append(MqttSource(settings.mqtt, settings.mqtt_topic_prefix))
        if not sources:
            return None
        if settings.replay:
            # One pipeline clock: live frames run on the wall clock, a replay on its own.
            raise ValueError(
                "live sources and --replay cannot be combined: replay a recording through "
                "the broker instead ('dronewatch sensor --as-live CAPTURE')"
            )
        return LiveSet(sources)

    def whitelist(self) -> Whitelist:
        return Whitelist(self.store.get_whitelist())

    def sources(self) -> list[FrameSource]:
        s = self.settings
        out: list[FrameSource] = [replay_source(p, self.counters.decode) for p in s.replay]
        if s.scenario is not None:
            from dronewatch.server.demo import scenario_source

            out.append(scenario_source(s.scenario, seed=s.scenario_seed))
        return out

    def start_pipeline(self, loop: asyncio.AbstractEventLoop) -> None:
        s = self.settings
        self.bus.bind(loop)
        self.store.end_live_tracks()
        whitelist = self.whitelist()
        pipeline = _build_pipeline(self.zones.zone_set(), whitelist)
        self.processor = Processor(pipeline, track_rate_hz=s.track_rate_hz, counters=self.counters)
        self.processor.whitelist = whitelist
        self.writer = Writer(self.store, self.counters)
        self.writer.start()
        self.service = PipelineService(
            self.processor,
            self.writer,
            self.bus,
            self.sources(),
            live=self.live,
            speed=0.0 if self.live is not None else s.speed,  # live frames come at their pace
            loop_sources=s.loop_replay,
            realtime_clock=s.scenario is not None or self.live is not None,
            gc_freeze=s.gc_freeze,
        )
        self.service.start()

    def stop_pipeline(self) -> None:
        # Receivers last: what the pipeline took is committed, then acknowledged to them.
        if self.service is not None:
            self.service.stop()
        if self.writer is not None:
            self.writer.stop()
        if self.live is not None:
            self.live.stop()

    def zones_changed(self) -> None:
        """Rebuild the pipeline's zone set from the store and tell live clients."""
        if self.service is not None:
            zs = self.zones.zone_set()
            self.service.call(lambda proc: set_pipeline_zones(proc.pipeline, zs))
        self.bus.publish_threadsafe([event("zones")])

    def whitelist_changed(self) -> None:
        if self.service is not None:
            wl = self.whitelist()

            def apply(proc: Processor) -> None:
                proc.whitelist = wl
                set_pipeline_whitelist(proc.pipeline, wl)

            self.service.call(apply)
        self.bus.publish_threadsafe([event("whitelist")])

    async def retention_loop(self) -> None:
        days = self.settings.retention_days
        if not days:
            return
        while True:
            cutoff = time.time() - days * 86400.0
            try:
                deleted = await asyncio.to_thread(self.store.purge, cutoff)
                if any(deleted.values()):
                    log.info("retention (%g days): deleted %s", days, deleted)
            except StoreError as exc:
                self.counters.db_errors += 1
                log.error("retention purge failed: %s", exc)
            except Exception as exc:  # sqlalchemy errors outside write()
                self.counters.db_errors += 1
                log.error("retention purge failed: %s", exc)
            await asyncio.sleep(3600.0)


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
        try:
            yield
        finally:
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
        return get_swagger_ui_html(
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

    @app.get(DOCS_OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def api_docs_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


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
