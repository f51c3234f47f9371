"""The operator's map with a busy sky: frames/s while panning, click-to-details latency, DOM
nodes and time to live, for N drones, in headless Chromium (Debian's) driven by Playwright.

    .venv/bin/python bench/map_scale.py [--drones 400 1000] [--pan-seconds 4]

The real server (uvicorn, SQLite) runs in this process. ``--source scenario`` (the default):
a simulated crowd of N Remote ID drones flying around an airport (LFPO), their pilots on the
ground, played in real time through the whole pipeline (decode, tracking, alerts, store, live
stream), as ``dronewatch demo`` does with its scenario. ``--source feeder``: no pipeline; a
thread publishes N drones circling the airport on the live bus at 1 Hz each (with a short
trail, pilots and home points, 5 % alerting), to measure the page alone. Figures:

- live: from navigation to the stream connected and all N drones known;
- pan fps: frames the page painted (requestAnimationFrame) while the mouse drags the map;
- click -> details: from the click event to the detail panel showing the drone's track id;
- DOM nodes: elements in the document with all drones shown.

Figures depend on the machine and its load (printed with them): on a shared machine they
are indicative only. Acceptance (issue 14): 400 drones live < 5 s, >= 30 fps panning and a
click to details < 200 ms; 1,000 drones >= 20 fps.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import math
import os
import random
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CENTER = (48.7233, 2.3794)  # Paris-Orly
TOKEN = "bench-map-admin-token-0123"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TRAIL = 20


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Feeder(threading.Thread):
    """N drones on circles around CENTER, each published once a second."""

    def __init__(self, bus: Any, n: int, seed: int = 1) -> None:
        super().__init__(name="map-bench-feeder", daemon=True)
        rnd = random.Random(seed)
        self.bus = bus
        self.stop = threading.Event()
        self.drones = []
        for i in range(n):
            r = rnd.uniform(200, 3500)
            self.drones.append({
                "i": i, "r": r, "a0": rnd.uniform(0, 2 * math.pi), "w": rnd.uniform(8, 20) / r,
                "alt": rnd.uniform(20, 140), "alerting": i % 20 == 0,
                "pilot": (rnd.uniform(-1500, 1500), rnd.uniform(-1500, 1500)),
            })
        self.t0 = time.time()

    @staticmethod
    def at(d: dict[str, Any], t: float) -> tuple[float, float, float]:
        a = d["a0"] + d["w"] * t
        east, north = d["r"] * math.cos(a), d["r"] * math.sin(a)
        lat = CENTER[0] + north / 111_320.0
        lon = CENTER[1] + east / (111_320.0 * math.cos(math.radians(CENTER[0])))
        heading = (math.degrees(-a) + 360.0) % 360.0  # counter-clockwise circles
        return lat, lon, heading

    def track(self, d: dict[str, Any], now: float) -> dict[str, Any]:
        t = now - self.t0
        lat, lon, heading = self.at(d, t)
        trail = []
        for k in range(TRAIL, 0, -1):
            plat, plon, _ = self.at(d, t - k)
            trail.append([now - k, plat, plon, d["alt"]])
        pe, pn = d["pilot"]
        tid = f"bench{d['i']:05d}"
        return {
            "track_id": tid, "uas_id": f"BENCH-{d['i']:05d}", "serial": f"1581F{d['i']:08d}",
            "lat": lat, "lon": lon, "alt": d["alt"], "speed": d["w"] * d["r"], "direction": heading,
            "first_seen": self.t0, "last_seen": now, "state": "active", "transports": ["wifi_beacon"],
            "operator_lat": CENTER[0] + pn / 111_320.0,
            "operator_lon": CENTER[1] + pe / (111_320.0 * math.cos(math.radians(CENTER[0]))),
            "home_lat": trail[0][1], "home_lon": trail[0][2], "trail": trail,
        }

    def run(self) -> None:
        from dronewatch.server.bus import event

        slot = 0
        slots = 5  # a fifth of the drones every 200 ms: each drone once a second
        sent_alerts = False
        while not self.stop.is_set():
            now = time.time()
            events = [event("track", track=self.track(d, now)) for d in self.drones[slot::slots]]
            if not sent_alerts:
                sent_alerts = True
                for d in self.drones:
                    if d["alerting"]:
                        events.append(event("alert", alert={
                            "alert_id": f"bench-alert-{d['i']}", "track_id": f"bench{d['i']:05d}",
                            "rule": "zone_entry", "severity": "warning", "status": "open",
                            "time": now, "first_time": now, "message": "entered zone LFPO (bench)",
                            "acknowledged": False,
                        }))
            self.bus.publish_threadsafe(events)
            slot = (slot + 1) % slots
            self.stop.wait(0.2)


def crowd_scenario(n: int, path: Path) -> Path:
    """A scenario file: N drones on loops 0.3-5 km around LFPO, all in the air from the start."""
    import yaml

    drones = []
    for i in range(n):
        ang = 2 * math.pi * i / n
        r = 300 + (i % 40) * 120
        east, north = r * math.cos(ang), r * math.sin(ang)
        drones.append({
            "name": f"d{i}", "kind": "wifi-beacon", "uas_id": f"CROWD{i:015d}",
            "operator_id": f"OP{i:010d}", "start_s": 0, "speed_mps": 8 + i % 7,
            "height_m": 40 + i % 60, "ground_s": 0, "pilot": {"east": east, "north": north},
            "waypoints": [{"east": east * 0.2, "north": north * 0.2},
                          {"east": -north * 0.3, "north": east * 0.3}],
            "repeat": True,
        })
    path.write_text(yaml.safe_dump({
        "name": f"crowd-{n}", "duration_s": 600, "origin": {"lat": CENTER[0], "lon": CENTER[1]},
        "sensors": [{"id": "tower", "east": 0, "north": 0}],
        "radio": {"loss": 0.0, "shadowing_db": 0, "sensitivity_dbm": -200},
        "drones": drones,
    }))
    return path


def start_server(n: int, tmp: Path, source: str) -> tuple[str, Any, Feeder | None]:
    import uvicorn

    from dronewatch.server.app import create_app
    from dronewatch.server.settings import Principal, Role, Settings

    scenario = str(crowd_scenario(n, tmp / "crowd.yaml")) if source == "scenario" else None
    settings = Settings(
        db=str(tmp / "bench.sqlite"), tokens={TOKEN: Principal("bench", Role.ADMIN)},
        run_pipeline=scenario is not None, scenario=scenario, center=CENTER, zoom=13,
        retention_days=None, ws_queue_size=20000,
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("server did not start")
        time.sleep(0.05)
    feeder = None
    if scenario is None:
        feeder = Feeder(app.state.ctx.bus, n)
        feeder.start()
    return f"http://127.0.0.1:{port}", server, feeder


RAF_COUNTER = """() => {
  window.__frames = [];
  const loop = (t) => { window.__frames.push(t); if (window.__counting) requestAnimationFrame(loop); };
  window.__counting = true;
  requestAnimationFrame(loop);
}"""

CLICK_PROBE = """(id) => {
  window.__clickAt = null; window.__detailAt = null;
  addEventListener("click", (e) => { window.__clickAt = e.timeStamp; }, { capture: true, once: true });
  const obs = new MutationObserver(() => {
    if (window.__detailAt == null && !document.querySelector("#detail").hidden &&
        document.querySelector("#detail-body").innerText.includes(id)) {
      window.__detailAt = performance.now(); obs.disconnect();
    }
  });
  obs.observe(document.querySelector("#detail"), { attributes: true, childList: true, subtree: true });
}"""


def measure(browser: Any, url: str, n: int, pan_s: float) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    t0 = time.monotonic()
    page.goto(f"{url}/?token={TOKEN}")
    page.wait_for_function(
        "(n) => window.dronewatch && window.dronewatch.status().live && "
        "window.dronewatch.status().drones >= n", arg=n, timeout=60000, polling=50,
    )
    live_s = time.monotonic() - t0
    # The whole crowd in view, drawn one by one (zoom 13: no clusters), labels decluttered.
    # (Figures while panning are taken here; click and DOM at zoom 15, below.)
    page.evaluate("(c) => { window.dronewatch.map.setView(c, 13, { animate: false }); }", list(CENTER))
    page.wait_for_function("(n) => Object.keys(window.dronewatch.drawn()).length >= n * 0.5", arg=n)
    time.sleep(1.0)  # let the first frames settle (not a wait for an event: a measurement pause)

    # Pan: drag the map back and forth while counting painted frames.
    page.evaluate(RAF_COUNTER)
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    start = time.monotonic()
    k = 0
    while time.monotonic() - start < pan_s:
        k += 1
        page.mouse.move(cx + 200 * math.sin(k / 10), cy + 120 * math.cos(k / 13))
    page.mouse.up()
    frames = page.evaluate("() => { window.__counting = false; return window.__frames; }")
    span = (frames[-1] - frames[0]) / 1000 if len(frames) > 1 else float("inf")
    fps = (len(frames) - 1) / span if span > 0 else 0.0
    gaps = sorted(b - a for a, b in itertools.pairwise(frames))
    worst = gaps[-1] if gaps else 0.0

    # Click -> details, on a drone drawn near the middle of the map.
    page.evaluate("(c) => { window.dronewatch.map.setView(c, 15, { animate: false }); }", list(CENTER))
    page.wait_for_function("() => Object.values(window.dronewatch.drawn()).some((d) => !d.cluster)")
    time.sleep(0.5)
    lat_ms = []
    for _ in range(3):
        page.evaluate("() => { document.querySelector('#detail-close').click(); }")
        spot = page.evaluate("""() => {
          const r = document.querySelector('#map').getBoundingClientRect();
          const mid = [r.left + r.width / 2, r.top + r.height / 2];
          let best = null, bd = Infinity;
          for (const [id, d] of Object.entries(window.dronewatch.drawn())) {
            if (d.cluster) continue;
            const dd = Math.hypot(d.pageX - mid[0], d.pageY - mid[1]);
            if (dd < bd) { bd = dd; best = { id, x: d.pageX, y: d.pageY }; }
          }
          return best;
        }""")
        page.evaluate(CLICK_PROBE, spot["id"])
        page.mouse.click(spot["x"], spot["y"])
        page.wait_for_function("() => window.__detailAt != null", timeout=30000)
        lat_ms.append(page.evaluate("() => window.__detailAt - window.__clickAt"))
    dom = page.evaluate("() => document.getElementsByTagName('*').length")
    shown = page.evaluate("""() => { const d = Object.values(window.dronewatch.drawn());
      return [d.filter((x) => !x.cluster).length, d.filter((x) => x.cluster).length,
              d.filter((x) => x.label).length]; }""")
    draw_ms = page.evaluate("() => window.dronewatch.drawMs()")
    page.close()
    if errors:
        print(f"  page errors: {errors[:3]}")
    return {"shown": shown, "live_s": live_s, "fps": fps, "worst_frame_ms": worst, "click_ms": sorted(lat_ms)[1],
            "dom": dom, "draw_ms": draw_ms, "frames": len(frames)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drones", type=int, nargs="+", default=[400, 1000])
    ap.add_argument("--pan-seconds", type=float, default=4.0)
    ap.add_argument("--source", choices=["scenario", "feeder"], default="scenario")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    # A page closed between runs leaves the server writing to its socket a while: not news.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="map-bench-") as tmpdir, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for n in args.drones:
                tmp = Path(tempfile.mkdtemp(dir=tmpdir))
                url, server, feeder = start_server(n, tmp, args.source)
                try:
                    r = measure(browser, url, n, args.pan_seconds)
                finally:
                    if feeder is not None:
                        feeder.stop.set()
                    server.should_exit = True
                load = os.getloadavg()
                print(f"{n:5d} drones ({args.source}): live {r['live_s']:.2f} s, pan {r['fps']:.1f} frames/s "
                      f"(worst frame {r['worst_frame_ms']:.0f} ms, {r['frames']} frames), "
                      f"click->details {r['click_ms']:.0f} ms (median of 3), "
                      f"{r['dom']} DOM elements, last canvas draw {r['draw_ms']:.1f} ms "
                      f"(at zoom 15: {r['shown'][0]} drawn, {r['shown'][1]} in clusters, "
                      f"{r['shown'][2]} labelled); "
                      f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
