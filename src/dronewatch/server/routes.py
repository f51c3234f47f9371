"""The HTTP API and the live WebSocket stream (see docs/api.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, WebSocket, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect

from dronewatch import __version__
from dronewatch.alerts import zones as zone_format
from dronewatch.alerts.zones import ZoneError, parse_feature
from dronewatch.server import auth, metrics
from dronewatch.server.context import AppContext, new_zone_id, store_zone
from dronewatch.server.exports import iter_csv, to_geojson, to_kml
from dronewatch.server.health import report as health_report
from dronewatch.server.inputs import BodyError, SafeStr, load_json
from dronewatch.server.settings import Principal
from dronewatch.store import BBox
from dronewatch.store.store import TRAIL_POINTS
from dronewatch.track.rf_locate import rf_fields

router = APIRouter()

Viewer = Annotated[Principal, Depends(auth.viewer)]
Operator = Annotated[Principal, Depends(auth.operator)]
Admin = Annotated[Principal, Depends(auth.admin)]

MAX_WINDOW_S = 31 * 86400.0
Limit = Annotated[int, Query(ge=1, le=10000)]
Epoch = Annotated[float | None, Query(ge=0, le=1e11)]
#: A track, alert or zone id in a path (NUL anywhere in the URL is refused by the app).
PathId = Annotated[str, Path(min_length=1, max_length=256)]


def ctx_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def parse_bbox(text: str | None) -> BBox | None:
    """``minlon,minlat,maxlon,maxlat`` -> tuple; 400 with the reason if malformed."""
    if text is None or text == "":
        return None
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise HTTPException(400, "bbox must be 4 numbers: minlon,minlat,maxlon,maxlat")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise HTTPException(
            400, "bbox must satisfy -180<=minlon<=maxlon<=180, -90<=minlat<=maxlat<=90"
        )
    return min_lon, min_lat, max_lon, max_lat


def window(ctx: AppContext, start: float | None, end: float | None) -> tuple[float, float]:
    if end is None:
        end = ctx.store.newest_time() or time.time()
        if start is not None and start > end:
            end = start + 3600.0
    if start is None:
        start = end - 3600.0
    if start > end:
        raise HTTPException(400, "'from' must not be after 'to'")
    if end - start > MAX_WINDOW_S:
        raise HTTPException(400, "the time window may not exceed 31 days")
    return start, end


# ---- open ----------------------------------------------------------------------------------


@router.get("/health", tags=["open"])
def health(request: Request) -> JSONResponse:
    """Liveness and degradation (open: holds no personal data): status ``ok``, ``degraded``
    or ``failing`` (HTTP 503) with its causes, every thread, source and sensor."""
    code, body = health_report(ctx_of(request))
    return JSONResponse(body, status_code=code)


@router.get(
    "/metrics",
    tags=["auth"],
    response_class=Response,
    responses={200: {"content": {metrics.CONTENT_TYPE: {}}}},
)
def prometheus_metrics(request: Request, _: Viewer) -> Response:
    """Prometheus text format: every counter of the server, ``dronewatch_`` metrics (see
    docs/api.md, "Metrics"). Scrape it with a viewer token (``authorization`` in the
    scrape config)."""
    return Response(metrics.render(ctx_of(request)), media_type=metrics.CONTENT_TYPE)


# ---- identity and config -----------------------------------------------------------------


@router.get("/basemap/{z}/{x}/{y}", tags=["open"])
def basemap_tile(request: Request, z: int, x: int, y: int) -> Response:
    """A tile of the offline basemap (``serve --basemap FILE``), as stored in the file (open:
    a map of the area, no personal data; the browser loads tiles without a token)."""
    bm = ctx_of(request).basemap
    data = bm.tile(z, x, y) if bm is not None else None
    if bm is None or data is None:
        return Response(status_code=204 if bm is not None else 404)
    headers = {"Cache-Control": "public, max-age=3600"}
    if bm.gzipped and data[:2] == b"\x1f\x8b":
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=bm.media_type, headers=headers)


@router.get("/api/me", tags=["auth"])
def me(who: Viewer) -> dict[str, str]:
    return {"role": who.role.label, "name": who.name}


@router.get("/api/config", tags=["auth"])
def config(request: Request, _: Viewer) -> dict[str, Any]:
    s = ctx_of(request).settings
    return {
        "tile_url": s.tile_url,
        "tile_attribution": s.tile_attribution,
        "basemap": ctx_of(request).basemap_info(),
        "center": list(s.center),
        "zoom": s.zoom,
        "version": __version__,
    }


@router.get("/api/stats", tags=["auth"])
def stats(request: Request, _: Viewer) -> dict[str, Any]:
    ctx = ctx_of(request)
    out = ctx.counters.to_json()
    out["write_queue"] = ctx.writer.queue.qsize() if ctx.writer is not None else 0
    b = ctx.bus.counters
    out["stream"] = {
        "clients": len(ctx.bus.clients),
        "published": b.published,
        "delivered": b.delivered,
        "dropped": b.dropped,
        "disconnected_slow": b.disconnected_slow,
    }
    out["tables"] = ctx.store.counts()
    return out


# ---- drones ------------------------------------------------------------------------------


@router.get("/api/drones", tags=["drones"])
def drones(
    request: Request,
    _: Viewer,
    active: bool | None = None,
    since: Epoch = None,
    until: Epoch = None,
    bbox: str | None = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 1000,
) -> list[dict[str, Any]]:
    ctx = ctx_of(request)
    box = parse_bbox(bbox)
    tracks = ctx.store.list_tracks(
        active=active, since=since, until=until, bbox=box, q=q, limit=limit
    )
    wl = ctx.whitelist()
    for t in tracks:
        t["whitelisted"] = any(
            v is not None and v in wl for v in (t["uas_id"], t["serial"], t["operator_id"])
        )
    return tracks


@router.get("/api/drones/{track_id}", tags=["drones"])
def drone(request: Request, _: Viewer, track_id: PathId, limit: Limit = 10000) -> dict[str, Any]:
    ctx = ctx_of(request)
    track = ctx.store.get_track(track_id, limit=limit)
    if track is None:
        raise HTTPException(404, f"no track {track_id!r}")
    track["trail"] = track["positions"][-TRAIL_POINTS:]
    live = ctx.rf_estimate(track_id)
    if live is not None:  # newer than the stored one (written with the track's last flush)
        track.update(rf_fields(live))
    wl = ctx.whitelist()
    track["whitelisted"] = any(
        v is not None and v in wl for v in (track["uas_id"], track["serial"], track["operator_id"])
    )
    return track


@router.get("/api/drones/{track_id}/alerts", tags=["drones"])
def drone_alerts(
    request: Request, _: Viewer, track_id: PathId, limit: Limit = 1000
) -> list[dict[str, Any]]:
    return ctx_of(request).store.list_alerts(status="all", track_id=track_id, limit=limit)


# ---- alerts ------------------------------------------------------------------------------


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: SafeStr | None = Field(default=None, max_length=2000)


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: SafeStr = Field(min_length=1, max_length=2000)


@router.get("/api/alerts", tags=["alerts"])
def alerts(
    request: Request,
    _: Viewer,
    status: Annotated[str, Query(pattern="^(open|all)$")] = "open",
    since: Epoch = None,
    track_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Limit = 1000,
) -> list[dict[str, Any]]:
    return ctx_of(request).store.list_alerts(
        status=status, since=since, track_id=track_id, limit=limit
    )


@router.get("/api/alerts/{alert_id}", tags=["alerts"])
def alert(request: Request, _: Viewer, alert_id: PathId) -> dict[str, Any]:
    found = ctx_of(request).store.get_alert(alert_id)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return found


@router.post("/api/alerts/{alert_id}/ack", tags=["alerts"])
def ack(
    request: Request, who: Operator, alert_id: PathId, body: AckBody | None = None
) -> dict[str, Any]:
    comment = body.comment.strip() if body is not None and body.comment else None
    found = ctx_of(request).store.ack_alert(alert_id, who.name, comment or None)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return found


@router.post("/api/alerts/{alert_id}/comments", tags=["alerts"])
def comment(request: Request, who: Operator, alert_id: PathId, body: CommentBody) -> dict[str, Any]:
    text = body.text.strip()
    if not text:
        raise HTTPException(422, "comment text is empty")
    found = ctx_of(request).store.add_comment(alert_id, who.name, text)
    if found is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return found


# ---- zones -------------------------------------------------------------------------------


@router.get("/api/zones", tags=["zones"])
def zones(
    request: Request, _: Viewer, airports: bool = False, bbox: str | None = None
) -> dict[str, Any]:
    ctx = ctx_of(request)
    features = ctx.store.list_zones()
    if airports:
        features = ctx.zones.builtin_features(parse_bbox(bbox)) + features
    return {"type": "FeatureCollection", "features": features}


@router.get("/api/zones/{zone_id}", tags=["zones"])
def zone(request: Request, _: Viewer, zone_id: PathId) -> dict[str, Any]:
    found = ctx_of(request).store.get_zone(zone_id)
    if found is None:
        raise HTTPException(404, f"no zone {zone_id!r}")
    return found


def _zone_body_schema() -> dict[str, Any]:
    """The zone body (a GeoJSON Feature, docs/api.md "Zone") as a JSON schema for the OpenAPI
    document: the zone routes read their body themselves (bounded, see server/inputs.py), so
    FastAPI cannot derive it. The zone parser stays the judge; this documents its rules."""
    position = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}
    ring = {"type": "array", "items": position, "minItems": 4}
    polygon = {"type": "array", "items": ring, "minItems": 1}

    def geometry(kind: str, coordinates: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {"type": {"enum": [kind]}, "coordinates": coordinates},
        }

    def text(key: str) -> dict[str, Any]:
        limit = zone_format.MAX_CHARS.get(key, zone_format.MAX_SHORT_CHARS)
        return {"type": "string", "maxLength": limit}

    height = {
        "type": ["number", "null"],
        "minimum": -zone_format.MAX_ABS_ALT_M,
        "maximum": zone_format.MAX_ABS_ALT_M,
    }
    window = {
        "type": "object",
        "required": ["start", "end"],
        "properties": {
            "start": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$"},
            "end": {"type": "string", "pattern": "^[0-2]?[0-9]:[0-5][0-9]$"},
            "days": {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
            "tz": text("tz"),
        },
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "A zone: a GeoJSON Feature (Polygon, MultiPolygon, or Point with "
        "properties.radius_m). See docs/api.md, Zone.",
        "required": ["type", "geometry"],
        "properties": {
            "type": {"enum": ["Feature"]},
            "id": {"type": ["string", "integer"]},
            "geometry": {
                "oneOf": [
                    geometry("Point", position),
                    geometry("Polygon", polygon),
                    geometry("MultiPolygon", {"type": "array", "items": polygon, "minItems": 1}),
                ]
            },
            "properties": {
                "type": "object",
                "properties": {
                    "name": {**text("name"), "minLength": 1},
                    "id": {"type": ["string", "integer"]},
                    "severity": {"enum": ["info", "warning", "critical"]},
                    "min_alt_m": height,
                    "max_alt_m": height,
                    "radius_m": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "maximum": zone_format.MAX_RADIUS_M,
                    },
                    "active": {"type": "array", "items": window, "maxItems": zone_format.MAX_WINDOWS},
                    "tz": text("tz"),
                    "description": text("description"),
                    "color": text("color"),
                    "kind": text("kind"),
                },
                "additionalProperties": False,
            },
            "bbox": {"type": "array", "items": {"type": "number"}},
        },
        "additionalProperties": False,
    }


_ZONE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _zone_body_schema()}},
    }
}


def _parse_zone(body: Any, zone_id: str) -> Any:
    if not isinstance(body, dict):
        raise HTTPException(422, "expected a GeoJSON Feature object")
    feat = dict(body)
    props = feat.get("properties")
    if isinstance(props, dict) and "id" in props:
        props = {k: v for k, v in props.items() if k != "id"}
        feat["properties"] = props
    feat["id"] = zone_id
    try:
        return parse_feature(feat, where="zone")
    except ZoneError as exc:
        raise HTTPException(422, str(exc)) from None


async def _json_body(request: Request) -> Any:
    try:
        return load_json(await request.body())
    except BodyError as exc:
        raise HTTPException(exc.status, exc.detail) from None


def _check_zone_id(ctx: AppContext, zone_id: str) -> None:
    if not zone_id or len(zone_id) > 128:
        raise HTTPException(422, "zone id must be 1..128 characters")
    if zone_id in ctx.zones.builtin_ids:
        raise HTTPException(409, f"zone {zone_id!r} is built in and cannot be changed")


@router.post(
    "/api/zones", tags=["zones"], status_code=status.HTTP_201_CREATED, openapi_extra=_ZONE_BODY
)
async def create_zone(request: Request, _: Admin) -> dict[str, Any]:
    ctx = ctx_of(request)
    body = await _json_body(request)
    given = body.get("id") if isinstance(body, dict) else None
    if given is None and isinstance(body, dict) and isinstance(body.get("properties"), dict):
        given = body["properties"].get("id")
    zone_id = (
        str(given)
        if isinstance(given, str | int) and not isinstance(given, bool)
        else new_zone_id()
    )
    _check_zone_id(ctx, zone_id)
    parsed = _parse_zone(body, zone_id)
    if await run_in_threadpool(ctx.store.get_zone, zone_id) is not None:
        raise HTTPException(409, f"zone {zone_id!r} exists: use PUT to replace it")
    out = await run_in_threadpool(store_zone, ctx.store, parsed)
    await run_in_threadpool(ctx.zones_changed)
    return out


@router.put("/api/zones/{zone_id}", tags=["zones"], openapi_extra=_ZONE_BODY)
async def replace_zone(request: Request, _: Admin, zone_id: PathId) -> dict[str, Any]:
    ctx = ctx_of(request)
    _check_zone_id(ctx, zone_id)
    parsed = _parse_zone(await _json_body(request), zone_id)
    out = await run_in_threadpool(store_zone, ctx.store, parsed)
    await run_in_threadpool(ctx.zones_changed)
    return out


@router.delete("/api/zones/{zone_id}", tags=["zones"], status_code=status.HTTP_204_NO_CONTENT)
def delete_zone(request: Request, _: Admin, zone_id: PathId) -> Response:
    ctx = ctx_of(request)
    _check_zone_id(ctx, zone_id)
    if not ctx.store.delete_zone(zone_id):
        raise HTTPException(404, f"no zone {zone_id!r}")
    ctx.zones_changed()
    return Response(status_code=204)


# ---- whitelist, sensors --------------------------------------------------------------------


class WhitelistBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[Annotated[SafeStr, Field(max_length=128)]] = Field(max_length=100_000)


@router.get("/api/whitelist", tags=["whitelist"])
def get_whitelist(request: Request, _: Viewer) -> dict[str, list[str]]:
    return {"ids": ctx_of(request).store.get_whitelist()}


@router.put("/api/whitelist", tags=["whitelist"])
def put_whitelist(request: Request, _: Admin, body: WhitelistBody) -> dict[str, list[str]]:
    for i in body.ids:
        if any(c.isspace() for c in i.strip()):
            raise HTTPException(422, f"an ID may not contain spaces: {i!r}")
    ctx = ctx_of(request)
    ids = ctx.store.set_whitelist(body.ids)
    ctx.whitelist_changed()
    return {"ids": ids}


@router.get("/api/sensors", tags=["sensors"])
def sensors(request: Request, _: Viewer) -> list[dict[str, Any]]:
    """Every sensor: position (``lat``, ``lon``, ``alt`` m), stored counters and, for this
    server's own receivers and sensors that publish their status, ``online``, ``sources``
    (state, frames/s, drops, channel, last error of each) and their totals."""
    return ctx_of(request).sensors.list()


# ---- history and exports -------------------------------------------------------------------


FromQ = Annotated[float | None, Query(alias="from", ge=0, le=1e11)]
ToQ = Annotated[float | None, Query(alias="to", ge=0, le=1e11)]


@router.get("/api/time-range", tags=["history"])
def time_range(request: Request, _: Viewer) -> dict[str, Any]:
    """The stored data's time span on the data clock: ``first`` and ``last`` (epoch s, null
    while nothing is stored) and this server's wall clock ``server_time``. A page follows
    the data clock with it (after a replay has ended, the data stops at ``last``).
    ``feeding``: whether a source still brings data (live receivers, MQTT, a scenario or a
    replay still playing); false once a replay has ended or without a pipeline."""
    ctx = ctx_of(request)
    span = ctx.store.time_range()
    service = ctx.service
    return {
        "first": span[0] if span else None,
        "last": span[1] if span else None,
        "server_time": time.time(),
        "feeding": service is not None and not service.sources_done.is_set(),
    }


@router.get("/api/history", tags=["history"])
def history(
    request: Request,
    _: Viewer,
    start: FromQ = None,
    end: ToQ = None,
    bbox: str | None = None,
    q: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    ctx = ctx_of(request)
    box = parse_bbox(bbox)
    start, end = window(ctx, start, end)
    return {"from": start, "to": end, "tracks": ctx.store.history(start, end, bbox=box, q=q)}


@router.get("/api/export.geojson", tags=["history"])
def export_geojson(request: Request, _: Viewer, start: FromQ = None, end: ToQ = None) -> Response:
    ctx = ctx_of(request)
    start, end = window(ctx, start, end)
    body = json.dumps(to_geojson(ctx.store.history(start, end)))
    return Response(
        body,
        media_type="application/geo+json",
        headers={"Content-Disposition": 'attachment; filename="dronewatch.geojson"'},
    )


@router.get("/api/export.kml", tags=["history"])
def export_kml(request: Request, _: Viewer, start: FromQ = None, end: ToQ = None) -> Response:
    ctx = ctx_of(request)
    start, end = window(ctx, start, end)
    return Response(
        to_kml(ctx.store.history(start, end)),
        media_type="application/vnd.google-earth.kml+xml",
        headers={"Content-Disposition": 'attachment; filename="dronewatch.kml"'},
    )


@router.get("/api/export.csv", tags=["history"])
def export_csv(
    request: Request, _: Viewer, start: FromQ = None, end: ToQ = None
) -> StreamingResponse:
    ctx = ctx_of(request)
    start, end = window(ctx, start, end)
    return StreamingResponse(
        iter_csv(ctx.store.iter_observations(start, end)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="dronewatch.csv"'},
    )


# ---- live stream ---------------------------------------------------------------------------


@router.websocket("/api/stream")
async def stream(websocket: WebSocket) -> None:
    ctx: AppContext = websocket.app.state.ctx
    try:
        token = auth.query_token(websocket.scope["query_string"])
    except auth.QueryTokenError as refused:
        await websocket.accept()
        await websocket.close(code=4400, reason=str(refused))
        return
    if token is None:  # non-browser clients may send the header instead
        scheme, _, value = websocket.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    principal = auth.lookup(ctx.settings.tokens, token)
    await websocket.accept()
    if principal is None:
        await websocket.close(code=4401, reason="missing or invalid token")
        return
    client = ctx.bus.subscribe()
    try:
        await websocket.send_text(
            json.dumps({"kind": "hello", "role": principal.role.label, "time": time.time()})
        )

        async def sender() -> None:
            while True:
                text = await client.next()
                if client.dropped:
                    n, client.dropped = client.dropped, 0
                    await websocket.send_text(json.dumps({"kind": "dropped", "count": n}))
                await websocket.send_text(text)

        async def receiver() -> None:
            while True:
                msg = await websocket.receive_text()
                try:
                    data = json.loads(msg)
                except json.JSONDecodeError:
                    continue
                if isinstance(data, dict) and data.get("kind") == "ping":
                    client.push_urgent(json.dumps({"kind": "pong"}))

        tasks = [
            asyncio.create_task(sender()),
            asyncio.create_task(receiver()),
            asyncio.create_task(client.overflow.wait()),
        ]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if client.overflow.is_set():
            with contextlib.suppress(Exception):
                await websocket.close(code=1013, reason="client too slow")
        for t in done:
            exc = t.exception()
            if exc is not None and not isinstance(exc, WebSocketDisconnect):
                raise exc
    except WebSocketDisconnect:
        pass
    finally:
        ctx.bus.unsubscribe(client)
