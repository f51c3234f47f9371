"""``dronewatch sensor``: options, errors, pacing and batching, a broker restart."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.sources.mqttutil import receiving, require_broker

from dronewatch.cli import main
from dronewatch.model import Frame, Transport
from dronewatch.sinks.mqtt import FramePublisher, publish_frames
from dronewatch.sources.mqtt import MqttSource

CAPTURE = Path(__file__).parents[1] / "data" / "odid_wifi_sample.pcap"


def test_help_explains_the_command() -> None:
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert "sensor" in top.output and "MQTT" in top.output
    result = runner.invoke(main, ["sensor", "--help"])
    assert result.exit_code == 0
    for text in ("--broker", "--sensor", "--pace / --fast", "--as-live", "PREFIX/SENSOR/frames"):
        assert text in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--broker", "127.0.0.1:1883"], "broker URL"),
        (["--sensor", "roof/1"], "sensor id"),
        (["--topic-prefix", "dronewatch/#"], "topic prefix"),
    ],
)
def test_bad_options_are_refused(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["sensor", *args, str(CAPTURE)])
    assert result.exit_code == 1 and message in result.output


def test_unreachable_broker_is_a_clear_error() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"mqtt://127.0.0.1:{port}"
    result = CliRunner().invoke(main, ["sensor", "--broker", url, str(CAPTURE)])
    assert result.exit_code == 1
    assert f"cannot reach the MQTT broker mqtt://127.0.0.1:{port}" in result.output


class FakePublisher(FramePublisher):
    """Records each batch with the monotonic time it was published."""

    def __init__(self) -> None:
        super().__init__("mqtt://127.0.0.1", "roof")
        self.batches: list[tuple[float, list[Frame]]] = []

    def publish(self, frames: list[Frame], *, wait: bool = False) -> bool:
        self.batches.append((time.monotonic(), frames))
        return True


def frames_at(*times: float) -> list[Frame]:
    return [
        Frame(bytes([i]), t, Transport.WIFI_BEACON, sensor_id="roof") for i, t in enumerate(times)
    ]


def test_pace_replays_in_capture_time_and_batches_by_100_ms() -> None:
    frames = frames_at(1000.0, 1000.01, 1000.05, 1000.3, 1000.32)
    publisher = FakePublisher()
    start = time.monotonic()
    publish_frames(frames, publisher, pace=True)
    elapsed = time.monotonic() - start
    assert [b for _, b in publisher.batches] == [frames[:3], frames[3:]]
    first_out = publisher.batches[0][0] - start
    assert 0.09 <= first_out < 0.25  # the batch went out at its deadline, not with the next frame
    assert 0.3 <= elapsed < 0.6


def test_fast_batches_by_size_only() -> None:
    frames = frames_at(*(1000.0 + 10 * i for i in range(5)))
    publisher = FakePublisher()
    start = time.monotonic()
    publish_frames(frames, publisher, pace=False, batch_frames=2)
    assert time.monotonic() - start < 0.05
    assert [b for _, b in publisher.batches] == [frames[:2], frames[2:4], frames[4:]]


def test_as_live_moves_the_first_frame_to_now_and_keeps_spacing() -> None:
    frames = frames_at(1000.0, 1002.5)
    publisher = FakePublisher()
    publish_frames(frames, publisher, pace=False, as_live=True)
    (_, sent), = publisher.batches
    assert abs(sent[0].time - time.time()) < 1.0
    assert sent[1].time - sent[0].time == pytest.approx(2.5)
    assert [f.payload for f in sent] == [f.payload for f in frames]


def test_pace_caps_a_forward_time_jump_and_says_so() -> None:
    jump = 11.6 * 86400  # a sniffer clock set during the capture
    frames = frames_at(1000.0, 1000.05, 1000.05 + jump, 1000.1 + jump)
    publisher = FakePublisher()
    gaps: list[tuple[float, float]] = []
    start = time.monotonic()
    publish_frames(frames, publisher, pace=True, as_live=True, max_gap=0.2,
                   on_gap=lambda gap, waited: gaps.append((gap, waited)))
    elapsed = time.monotonic() - start
    assert gaps == [(pytest.approx(jump), 0.2)]
    assert 0.3 <= elapsed < 60  # the capped wait, not 11.6 days
    sent = [f for _, batch in publisher.batches for f in batch]
    assert [f.payload for f in sent] == [f.payload for f in frames]
    # as live, the jump is cut from the times too: they stay on the wall clock
    assert sent[2].time - sent[1].time == pytest.approx(0.2)
    assert sent[3].time - sent[2].time == pytest.approx(0.05)


def start_broker(port: int) -> subprocess.Popen[bytes]:
    """A Mosquitto of our own on ``port``, one we may stop and start again."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen(
        [exe, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 5.0
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"{exe} did not start on port {port}") from None
            time.sleep(0.02)


def stop_broker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(5.0)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.mqtt
def test_both_ends_survive_a_broker_restart() -> None:
    require_broker()  # the same Mosquitto install, started here on a port of our own
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"mqtt://127.0.0.1:{port}"
    before, during, after = frames_at(1.0), frames_at(2.0), frames_at(3.0)
    broker = start_broker(port)
    try:
        source = MqttSource(url, "dronewatch")
        with receiving(source) as received:
            publisher = FramePublisher(url, "roof")
            publisher.connect()
            publisher.publish(before)
            assert received.wait_for(1) == before
            stop_broker(broker)
            assert wait_until(lambda: not source.subscribed.is_set(), 5.0)
            assert publisher.publish(during)  # kept while the broker is away
            assert publisher.pending == 1
            broker = start_broker(port)
            assert source.subscribed.wait(10.0), "the source did not resubscribe"
            assert wait_until(lambda: publisher.pending == 0, 10.0), "not resent"
            publisher.publish(after)
            assert wait_until(lambda: received.frames[-1:] == after, 5.0)
            frames = list(received.frames)
            # The batch sent while the broker was away is resent; whether it arrives depends
            # on which end reconnected first (no persistent session), what follows does.
            assert frames in ([*before, *after], [*before, *during, *after])
            assert publisher.close() == 0
    finally:
        stop_broker(broker)
