"""What the routes need of the application (``app.state.ctx``): the store, the event bus, the
zones and the pipeline service. Apart from :mod:`.app` (which builds the FastAPI application
and includes the routes), so that the routes depend on it and not on the app.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from dronewatch.alerts.rules import RulesConfig
from dronewatch.alerts.whitelist import Whitelist, load_whitelist
from dronewatch.alerts.zones import Zone, ZoneSet, load_zones, parse_features
from dronewatch.model import SensorSite
from dronewatch.server.basemap import load as load_basemap
from dronewatch.server.bus import EventBus, event
from dronewatch.server.sensors import Sensors, position_of
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
from dronewatch.sources.pcap import capture_sensors
from dronewatch.sources.validate import FrameLimits
from dronewatch.store import Store, StoreError

log = logging.getLogger("dronewatch.server.app")


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


def _build_pipeline(
    zones: ZoneSet, whitelist: Whitelist | None, rules: RulesConfig,
    sites: dict[str, SensorSite] | None = None,
) -> Any:
    from dronewatch.alerts.pipeline import TrackingPipeline
    from dronewatch.track.rf_locate import RfConfig

    rf = RfConfig(sensors=sites) if sites else None  # RF localisation from sensor sites
    return TrackingPipeline(zones=zones, whitelist=whitelist, rules_config=rules, rf_config=rf)


def sensor_sites(sensors: list[dict[str, Any]]) -> dict[str, SensorSite]:
    """The sites of the sensors with a known position (``/api/sensors`` records)."""
    return {r["sensor_id"]: SensorSite(float(r["lat"]), float(r["lon"])) for r in sensors
            if r.get("lat") is not None and r.get("lon") is not None}


SITES_EVERY_S = 10.0  # how often newly reported sensor positions reach RF localisation
RESUME_LOOKBACK_S = 86400.0  # alert episodes older than this are not continued


def resume_alerts(store: Store, pipeline: Any) -> int:
    """Hand the alert episodes the store holds open to the new pipeline: the same drone in
    the same situation continues them instead of raising them again (``AlertEngine.resume``)."""
    from dronewatch.alerts.engine import ResumedEpisode
    from dronewatch.model import Severity

    try:
        rows = store.unclosed_alerts(time.time() - RESUME_LOOKBACK_S)
    except Exception as exc:  # a store that cannot read: the episodes are raised anew
        log.error("cannot read the open alerts to continue them: %s", exc)
        return 0
    episodes = []
    for row in rows:
        details = row.get("details") or {}
        try:
            severity = Severity(row["severity"])
        except ValueError:
            continue
        episodes.append(
            ResumedEpisode(
                alert_id=row["alert_id"],
                rule=row["rule"],
                track_id=row["track_id"],
                zone_id=details.get("zone_id") if isinstance(details, dict) else None,
                zone_name=row.get("zone"),
                severity=severity,
                opened=row["first_time"],
                last_time=row["time"],
                uas_id=row.get("uas_id"),
                serial=row.get("serial"),
                details=details if isinstance(details, dict) else {},
            )
        )
    pipeline.engine.resume(episodes)
    if episodes:
        log.info("continuing %d alert episodes open before the restart", len(episodes))
    return len(episodes)


def set_pipeline_zones(pipeline: Any, zones: ZoneSet) -> None:
    pipeline.set_zones(zones)


def set_pipeline_whitelist(pipeline: Any, whitelist: Whitelist | None) -> None:
    pipeline.set_whitelist(whitelist)


class AppContext:
    """Everything the routes need (``app.state.ctx``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.started = time.time()
        self.store = Store.open(settings.db)
        self.bus = EventBus(settings.ws_queue_size)
        self.basemap, self.basemap_error = load_basemap(settings.basemap, settings.basemap_attribution)
        self.counters = Counters()
        self.rules = self._rules_config(settings)
        known = list(self.rules.sensor_positions.values())
        if settings.center != (0.0, 0.0):
            known.append(settings.center)
        self.zones = ZoneManager(self.store, settings.alerts.airport_layer(known))
        zones = list(load_zones(settings.zones_file)) if settings.zones_file is not None else []
        for zone in [*zones, *settings.zones]:
            store_zone(self.store, zone)
        more = list(settings.whitelist_ids)
        if settings.whitelist_file is not None:
            more += list(load_whitelist(settings.whitelist_file))
        if more:
            self.store.set_whitelist(set(self.store.get_whitelist()) | set(more))
        self.service: PipelineService | None = None
        self.writer: Writer | None = None
        self.processor: Processor | None = None
        self._sites: dict[str, SensorSite] = {}  # sensor sites the pipeline was given
        self._sites_due = 0.0
        from dronewatch.sinks.settings import open_sinks

        # The streaming sinks in a process of their own: off the pipeline's GIL.
        self.sinks = open_sinks(settings.sinks, self.store, own_process=True)  # SinkError
        self.live = self._live_sources(settings)
        from dronewatch.sources.mqtt import MqttSource
        from dronewatch.sources.position import open_position

        sources = self.live.sources if self.live is not None else []
        self.sensors = Sensors(
            self.store,
            settings.sensor_id,
            [s for s in sources if not isinstance(s, MqttSource)],  # this machine's receivers
            open_position(settings.position, settings.gps),
            self.live.book if self.live is not None else None,
        )

    @staticmethod
    def _live_sources(settings: Settings) -> LiveSet | None:
        """The live sources the settings name (not started), or ``None`` for none.
        ``ValueError`` for a source, a key file or a certificate that cannot be used."""
        from dronewatch.sources.mqtt import MqttSource, SensorKeys, TlsFiles

        sources: list[LiveSource] = []
        keys = SensorKeys.load(settings.sensor_keys) if settings.sensor_keys else None
        tls = TlsFiles(settings.mqtt_tls_ca, settings.mqtt_tls_cert, settings.mqtt_tls_key)
        mqtt_options = {
            "topic_prefix": settings.mqtt_topic_prefix,
            "client_id": settings.mqtt_client_id,
            "sensor_keys": keys,
            "tls_files": tls,
        }
        options = LiveOptions(
            sensor_id=settings.sensor_id, extra={**settings.live_extra, **mqtt_options}
        )
        for spec in settings.live:
            sources.append(open_live(spec, options))
        if settings.mqtt is not None:
            sources.append(
                MqttSource(
                    settings.mqtt,
                    settings.mqtt_topic_prefix,
                    client_id=settings.mqtt_client_id,
                    session_expiry_s=settings.mqtt_session_expiry_s,
                    keys=keys,
                    tls_files=tls,
                )
            )
        if not sources:
            return None
        if settings.replay:
            # One pipeline clock: live frames run on the wall clock, a replay on its own.
            raise ValueError(
                "live sources and --replay cannot be combined: replay a recording through "
                "the broker instead ('dronewatch sensor --as-live CAPTURE')"
            )
        return LiveSet(sources)

    @staticmethod
    def _rules_config(settings: Settings) -> RulesConfig:
        """The alert options' rules; this machine's own sensor stands at ``--position``."""
        rules = settings.alerts.rules_config()
        if settings.position is not None:
            rules.sensor_positions.setdefault(
                settings.sensor_id, (settings.position[0], settings.position[1])
            )
        return rules

    def basemap_info(self) -> dict[str, Any] | None:
        """The offline basemap for the page: its tiles' URL, type, zooms and attribution, or
        ``{"error": reason}`` when the configured file cannot be used."""
        if self.basemap is not None:
            return self.basemap.describe()
        if self.basemap_error is not None:
            return {"error": self.basemap_error}
        return None

    def whitelist(self) -> Whitelist:
        return Whitelist(self.store.get_whitelist())

    def rf_estimate(self, track_id: str) -> dict[str, Any] | None:
        """The live RF position estimate of a track (``None``: none, or no live pipeline):
        lat/lon, 1-sigma radius and ellipse, the sensors used, or why it is not located."""
        proc = self.processor
        get = getattr(proc.pipeline, "rf_estimate", None) if proc is not None else None
        est = get(track_id) if get is not None else None  # a frozen record: safe to read
        return est.to_json() if est is not None else None

    def rule_whitelist(self, whitelist: Whitelist) -> Whitelist | None:
        """What the unknown_drone rule checks (``None``: the rule is off; by default while
        the whitelist is empty, so that an empty list does not flag every drone)."""
        return self.settings.alerts.rule_whitelist(whitelist)

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
        self.sensors.start()
        if self.sensors.has_local:
            self.sensors.local_status()  # its position goes to the store now
        if s.scenario is not None:  # the simulated sensors stand where the scenario puts them
            from dronewatch.server.demo import scenario_sensors

            for sensor_id, lat, lon in scenario_sensors(s.scenario):
                self.store.put_sensor_position(sensor_id, lat, lon, None, time.time())
        self.store.end_live_tracks()
        whitelist = self.whitelist()
        # RF localisation uses the sensors whose positions are known now (stored, --position,
        # --sensor-position, and those a replayed multi-sensor capture declares)
        sites = sensor_sites(self.sensors.list())
        for sid, (lat, lon) in self.rules.sensor_positions.items():  # --sensor-position
            sites.setdefault(sid, SensorSite(lat, lon))
        for path in s.replay:
            for sid, site in capture_sensors(path).items():
                if site is not None:
                    sites.setdefault(sid, site)
        pipeline = _build_pipeline(
            self.zones.zone_set(), self.rule_whitelist(whitelist), self.rules, sites
        )
        self._sites = dict(sites)
        if self.live is not None:
            resume_alerts(self.store, pipeline)
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
            limits=FrameLimits(s.frame_max_age_s, s.frame_max_ahead_s),
            sinks=self.sinks,
        )
        self.sinks.start()
        self.service.start()

    def watchdog(self) -> None:
        """Restart a pipeline or writer thread that died (called every second); hand the
        pipeline the sensor positions that became known (every ``SITES_EVERY_S``)."""
        if self.writer is not None:
            self.writer.ensure_alive()
        self.sinks.ensure_alive()
        if self.service is not None:
            self.service.ensure_alive()
            now = time.monotonic()
            if now >= self._sites_due:
                self._sites_due = now + SITES_EVERY_S
                self.refresh_sensor_sites()

    def refresh_sensor_sites(self) -> int:
        """Give the pipeline every sensor position reported since it started (remote sensors'
        status messages, a GPS-tracked local sensor): RF localisation uses them at once.
        Returns how many sites were new or moved."""
        if self.service is None:
            return 0
        found: dict[str, SensorSite] = {}
        book = self.live.book if self.live is not None else None
        for counters in book.snapshot() if book is not None else []:
            where = position_of(counters.status) if counters.status is not None else None
            if where is not None:
                found[counters.sensor_id] = SensorSite(where[0], where[1])
        if self.sensors.has_local:
            where = position_of(self.sensors.local_status())
            if where is not None:
                found[self.settings.sensor_id] = SensorSite(where[0], where[1])
        fresh = {k: v for k, v in found.items() if self._sites.get(k) != v}
        if fresh:
            self._sites.update(fresh)

            def apply(proc: Processor) -> None:
                set_site = getattr(proc.pipeline, "set_sensor_site", None)
                for sid, site in fresh.items():
                    if set_site is not None:
                        set_site(sid, site)

            self.service.call(apply)
        return len(fresh)

    def stop_pipeline(self) -> None:
        # Receivers last: what the pipeline took is committed, then acknowledged to them.
        if self.service is not None:
            self.service.stop()
        if self.writer is not None:
            self.writer.stop()
        self.sinks.stop()  # after the writer: what it committed is offered to them
        if self.live is not None:
            self.live.stop()
        self.sensors.stop()

    def zones_changed(self) -> None:
        """Rebuild the pipeline's zone set from the store and tell live clients."""
        if self.service is not None:
            zs = self.zones.zone_set()
            self.service.call(lambda proc: set_pipeline_zones(proc.pipeline, zs))
        self.bus.publish_threadsafe([event("zones")])

    def whitelist_changed(self) -> None:
        if self.service is not None:
            wl = self.whitelist()
            rule_wl = self.rule_whitelist(wl)

            def apply(proc: Processor) -> None:
                proc.whitelist = wl
                set_pipeline_whitelist(proc.pipeline, rule_wl)

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
