"""The durable-ingest harness: a Mosquitto of our own (persistence, passwords, ACLs, TLS), a
``dronewatch serve --mqtt`` subprocess to kill, sensors publishing a simulated scenario, and
the exact-once check of what the database holds. Used by tests/server/test_ingest_*.py and by
bench/ingest_durable.py (at acceptance size)."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.sources.mqttutil import unique_prefix

from dronewatch.decode import decode_frames
from dronewatch.model import Frame
from dronewatch.sinks.mqtt import FramePublisher, publish_frames
from dronewatch.sources.mqtt import TlsFiles
from dronewatch.store import Store
from dronewatch.store import models as m
from dronewatch.track.observe import observe

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
DRONEWATCH = str(Path(sys.executable).parent / "dronewatch")
CENTER = (48.7253, 2.35944)
TOKEN = "ingest-test-token-0123456789abcdef"
# What identifies an observation row (everything the sensor sent that reaches it).
OBS_KEY = ("time", "transport", "message_type", "sensor_id", "source", "uas_id", "lat", "lon")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


# -- TLS material and broker users -----------------------------------------------------------


@dataclass(slots=True, frozen=True)
class TlsMaterial:
    ca: Path
    cert: Path  # the broker's, for 127.0.0.1 and localhost
    key: Path
    other_ca: Path  # a CA that did not sign the broker's certificate


def make_tls(folder: Path) -> TlsMaterial:
    """A throwaway CA and a broker certificate it signed (openssl, EC P-256, 2 days)."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        run("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN=dronewatch test {name}")
    run("req", *ec, "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "broker.crt", "-days", "2", "-extfile", "san.ext")
    return TlsMaterial(folder / "ca.crt", folder / "broker.crt", folder / "broker.key",
                       folder / "other-ca.crt")


def password_file(path: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file (hashed by mosquitto_passwd)."""
    path.unlink(missing_ok=True)
    for i, (user, password) in enumerate(users.items()):
        args = [MOSQUITTO_PASSWD, "-b", *(["-c"] if i == 0 else []), str(path), user, password]
        subprocess.run(args, check=True, capture_output=True)
    return path


DEPLOY = Path(__file__).parents[2] / "deploy" / "mosquitto"


def acl_text(prefix: str = "dronewatch") -> str:
    """The shipped ACL (deploy/mosquitto/dronewatch.acl) for topic prefix ``prefix``: each
    sensor (its broker user name is its sensor id) publishes only under its own topic; the
    server (``dronewatch-server``) only reads."""
    return (DEPLOY / "dronewatch.acl").read_text().replace("dronewatch/", f"{prefix}/")


# -- a broker of our own -------------------------------------------------------------------


class OwnBroker:
    """Mosquitto on free ports, with persistence (what it accepted survives its restart),
    unlimited queues for offline sessions, and optionally passwords, an ACL and a TLS
    listener. Never the shared broker: this one may be stopped and restarted."""

    def __init__(
        self,
        folder: Path,
        *,
        passwords: Path | None = None,
        acl: str | None = None,
        tls: TlsMaterial | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)  # mosquitto may run as another user
        self.port = free_port()
        self.tls_port = free_port() if tls is not None else None
        lines = [
            f"user {getpass.getuser()}",
            "persistence true",
            f"persistence_location {folder}/",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            f"log_dest file {folder}/mosquitto.log",
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
        ]
        if tls is not None:
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {tls.ca}",
                f"certfile {tls.cert}",
                f"keyfile {tls.key}",
            ]
        if passwords is not None:
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            (folder / "acl").write_text(acl)
            lines.append(f"acl_file {folder / 'acl'}")
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, user: str | None = None, password: str | None = None, *, tls: bool = False) -> str:
        auth = f"{user}:{password}@" if user and password else f"{user}@" if user else ""
        if tls:
            return f"mqtts://{auth}127.0.0.1:{self.tls_port}"
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def start(self) -> OwnBroker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                log = self.folder / "mosquitto.log"
                raise AssertionError(
                    f"mosquitto exited: {log.read_text() if log.exists() else ''}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return False
            return True

        wait_for(up, 20.0, "mosquitto to listen")
        return self

    def stop(self) -> None:
        """A clean stop (SIGTERM): Mosquitto saves what it holds."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20.0)
        self.proc = None

    def __enter__(self) -> OwnBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10.0)


# -- the server ----------------------------------------------------------------------------


class ServerProcess:
    """``dronewatch serve --mqtt URL --db DB`` in a process of its own (to kill)."""

    def __init__(self, db: str, mqtt_url: str, prefix: str, log: Path, *extra: str) -> None:
        self.args = [
            DRONEWATCH, "serve", "--port", "0", "--db", db, "--mqtt", mqtt_url,
            "--mqtt-prefix", prefix, "--mqtt-client-id", f"dronewatch-test-{prefix[-12:]}",
            *extra,
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> ServerProcess:
        self.starts += 1
        env = {**os.environ, "DRONEWATCH_TOKEN": TOKEN}
        with open(self.log, "ab") as out:
            out.write(f"\n=== start {self.starts}\n".encode())
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=out, env=env)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush, commit or acknowledge anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10.0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10.0)

    def check_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited ({self.proc.returncode}):\n"
                                 + self.log.read_text()[-3000:])


# -- the data ------------------------------------------------------------------------------


def scenario_frames(drones: int, seconds: float, sensors: Sequence[str]) -> list[Frame]:
    """A simulated scene (Remote ID drones around one point) heard by ``sensors``, ending
    now: live frames the server takes (inside its window of the wall clock)."""
    from bench.server_ingest import scenario

    from dronewatch.sim import iter_frames

    start = time.time() - seconds - 5.0
    scen = scenario(drones, seconds, start, tuple(sensors), name="ingest", id_prefix="INGEST")
    return list(iter_frames(scen, seed=1))


def observation_keys(frames: Sequence[Frame]) -> Counter[tuple[Any, ...]]:
    """What the server must store for ``frames``: one row per observation, as OBS_KEY."""
    out: Counter[tuple[Any, ...]] = Counter()
    for d in decode_frames(frames):
        obs = observe(d)
        if obs is not None:
            out[(obs.time, obs.transport.value, obs.message_type, obs.sensor_id, obs.source,
                 obs.uas_id, obs.lat, obs.lon)] += 1
    return out


def stored_keys(store: Store) -> Counter[tuple[Any, ...]]:
    o = m.observations
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(*(o.c[c] for c in OBS_KEY)))
        return Counter(tuple(r) for r in rows)


def count_observations(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(m.observations)).scalar() or 0
        )


class Sensors:
    """One publisher thread per sensor, each publishing its frames as fast as the broker
    acknowledges (QoS 1), in batches of ``batch_frames``. ``hold_at``: each sensor publishes
    that fraction of its frames, then waits for :meth:`release` (so that a test acting
    "while the sensors publish" knows they have not finished)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        frames: Sequence[Frame],
        *,
        batch_frames: int = 64,
        keys: dict[str, bytes] | None = None,
        tls: TlsFiles | None = None,
        url_for: Callable[[str], str] | None = None,
        hold_at: float | None = None,
    ) -> None:
        by_sensor: dict[str, list[Frame]] = {}
        for f in frames:
            by_sensor.setdefault(f.sensor_id, []).append(f)
        self.publishers = {
            sid: FramePublisher(
                url_for(sid) if url_for else url,
                sid,
                topic_prefix=prefix,
                key=(keys or {}).get(sid),
                tls_files=tls,
            )
            for sid in by_sensor
        }
        self.frames = by_sensor
        self.batch_frames = batch_frames
        self.errors: list[BaseException] = []
        self.unsent: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self.hold_at = hold_at
        self.held = threading.Event()
        if hold_at is None:
            self.held.set()

    def start(self) -> Sensors:
        for sid, pub in self.publishers.items():
            pub.connect()
            t = threading.Thread(target=self._run, args=(sid, pub), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self, sid: str, pub: FramePublisher) -> None:
        try:
            frames = self.frames[sid]
            cut = len(frames) if self.hold_at is None else int(len(frames) * self.hold_at)
            publish_frames(frames[:cut], pub, pace=False, batch_frames=self.batch_frames)
            if cut < len(frames):
                self.held.wait()
                publish_frames(frames[cut:], pub, pace=False, batch_frames=self.batch_frames)
            self.unsent[sid] = pub.close(120.0)  # every batch acknowledged by the broker
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)

    def release(self) -> None:
        """Let the sensors publish the rest of their frames."""
        self.held.set()

    def join(self, timeout: float = 180.0) -> None:
        self.release()
        for t in self._threads:
            t.join(timeout)
            assert not t.is_alive(), "a sensor did not finish publishing"
        assert not self.errors, self.errors
        assert all(n == 0 for n in self.unsent.values()), f"unacknowledged: {self.unsent}"

    @property
    def published(self) -> int:
        return sum(p.frames for p in self.publishers.values())


# -- the kill case (tests/server/test_ingest_kill.py, bench/ingest_durable.py --kill) ----------

KILL_SENSORS = ["north", "east", "south", "west"]


def health(log: Path) -> tuple[int, dict[str, Any]]:
    ports = re.findall(r"serving on http://127\.0\.0\.1:(\d+)/", log.read_text())
    if not ports:
        return 0, {}
    req = urllib.request.Request(f"http://127.0.0.1:{ports[-1]}/health")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def subscribed(log: Path) -> bool:
    try:
        code, h = health(log)
    except OSError:
        return False
    return bool(code) and all(s["detail"]["subscribed"] for s in h["sources"])


def run_kill_case(db: str, tmp_path: Path, *, drones: int, seconds: float) -> int:
    """SIGKILL the server at a fifth, restart it 3 s later, restart the broker at 3/5: every
    observation of ``drones`` x ``seconds`` x 4 sensors is stored exactly once. Returns how
    many observations were published."""
    t0 = time.monotonic()

    def mark(what: str) -> None:
        print(f"{time.monotonic() - t0:6.1f} s  {what}")

    frames = scenario_frames(drones, seconds, KILL_SENSORS)
    expected = observation_keys(frames)
    total = sum(expected.values())
    store = Store.open(db)
    prefix = unique_prefix()
    log = tmp_path / "server.log"
    with OwnBroker(tmp_path / "broker") as broker:
        server = ServerProcess(db, broker.url(), prefix, log).start()
        try:
            # The first start makes the server's session at the broker: from then on the
            # broker keeps what the sensors publish, whether the server runs or not.
            wait_for(lambda: server.check_running() or subscribed(log), 120, "the subscription")
            mark("subscribed")
            # The sensors publish two fifths, then wait until the server is killed: it cannot
            # have stored everything before (on a fast run it could, between two polls).
            sensors = Sensors(broker.url(), prefix, frames, batch_frames=32, hold_at=0.4).start()
            stored = lambda: count_observations(store)  # noqa: E731
            wait_for(lambda: server.check_running() or stored() >= total / 5, 120, "a fifth")
            mark("a fifth stored")
            server.kill()
            at_kill = stored()
            assert at_kill < total, "everything was stored before the kill: nothing tested"
            sensors.release()  # the rest while the server is down: the broker keeps it
            time.sleep(3.0)
            mark("restarting")
            server.start()
            wait_for(lambda: server.check_running() or stored() >= 3 * total / 5, 120, "3/5")
            mark("3/5 stored")
            broker.stop()  # what it accepted and did not deliver is saved ...
            time.sleep(3.0)
            broker.start()  # ... and delivered after it comes back
            mark("broker restarted")
            sensors.join()
            wait_for(lambda: server.check_running() or stored() >= total, 180, "everything")
            mark("all stored")
            # Everything may be in before the server is back on the restarted broker.
            wait_for(lambda: subscribed(log), 120, "the server back on the broker")
            # Nothing more comes: the redeliveries were not stored again.
            wait_for(lambda: health(log)[1]["threads"]["writer"]["queued"] == 0, 30, "idle")
            time.sleep(1.0)
            assert stored_keys(store) == expected  # each observation exactly once
            code, h = health(log)
            assert code == 200 and h["status"] in ("ok", "degraded"), h["causes"]
            assert sensors.published == len(frames)
            by_sensor = {s["sensor_id"]: s for s in h["sensors"]}
            print({k: (v["duplicates"], v["messages"]) for k, v in by_sensor.items()})
            # Counters start with each run: the restarted server lists the sensors it heard.
            assert by_sensor and set(by_sensor) <= set(KILL_SENSORS)
            assert all(s["batches_missing"] == 0 for s in by_sensor.values())
            assert h["counters"]["db_rows_rejected"] == 0 and h["counters"]["db_rows_lost"] == 0
        finally:
            server.stop()
            store.close()
    print(f"{db.split(':')[0]}: {len(frames)} frames, {total} observations published; killed at "
          f"{at_kill} stored; {total} stored once; after the restart: {h['counters']}")
    return total
