"""The configuration file: ``config check``, ``serve --config``, the shared alert options,
the airport area, the whitelist rule and JSON logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dronewatch.alerts.options import AlertOptions
from dronewatch.alerts.whitelist import Whitelist
from dronewatch.cli import main
from dronewatch.cli.logs import JsonFormatter
from dronewatch.server.config import FLAGS, ConfigError, key_lines, load_config

TOKEN = "abcdefghijklmnopqrstuvwxyz0123"
DB_PASSWORD = "pw-0f-the-database"

GOOD = """\
[server]
port = 8443
db_file = "dburl"
token_file = "tokens"

[log]
level = "warning"
json = true

[sources]
position = [48.72, 2.37, 90]
wifi = ["wlan1"]
channels = [6, 149]
hop = false

[alerts]
airports = true
airport_countries = ["fr"]
altitude_limit_m = 100
whitelist = ["1581F5FJD23910F"]

[[alerts.circle]]
id = "stadium"
lat = 48.8245
lon = 2.2530
radius_m = 800
severity = "critical"

[sensors.roof]
lat = 48.73
lon = 2.36
"""


@pytest.fixture(autouse=True)
def _root_logger() -> Iterator[None]:
    """serve sets up logging: the root logger is put back as it was after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture()
def conf_dir(tmp_path: Path) -> Path:
    (tmp_path / "tokens").write_text(f"admin:{TOKEN}\n")
    (tmp_path / "tokens").chmod(0o600)
    (tmp_path / "dburl").write_text(f"postgresql://dw:{DB_PASSWORD}@db/dronewatch\n")
    (tmp_path / "dw.toml").write_text(GOOD)
    return tmp_path


def test_check_prints_the_effective_configuration_without_secrets(conf_dir: Path) -> None:
    r = CliRunner().invoke(main, ["config", "check", str(conf_dir / "dw.toml")])
    assert r.exit_code == 0, r.output
    assert "port = 8443" in r.output and 'level = "warning"' in r.output
    assert "[[alerts.circle]]" in r.output and "[sensors.roof]" in r.output
    assert DB_PASSWORD not in r.output and TOKEN not in r.output
    assert f'db_file = "{conf_dir / "dburl"}"' in r.output  # relative to the file


def test_environment_overrides_the_file(conf_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRONEWATCH_SERVER__PORT", "9001")
    monkeypatch.setenv("DRONEWATCH_ALERTS__ALTITUDE_LIMIT_M", "150")
    config = load_config(conf_dir / "dw.toml")
    assert config.server.port == 9001 and config.alerts.altitude_limit_m == 150


def test_bad_file_names_every_key_and_line(conf_dir: Path) -> None:
    bad = conf_dir / "bad.toml"
    bad.write_text(
        "[server]\n"
        'token_file = "missing-tokens"\n'  # 2
        "\n"
        "[alerts]\n"
        'altitude_limit_m = "high"\n'  # 5
        "[sources]\n"
        'mqtt = "mqtt://user:pw@broker:1883"\n'  # 7
        'wfi = ["wlan0"]\n'  # 8
        "[[alerts.circle]]\n"
        'id = "a"\nlat = 48\nlon = 2\nradius_m = 100\n'
        "[[alerts.circle]]\n"  # 14
        'id = "b"\nlat = 95\nlon = 2\nradius_m = 100\n'  # lat: 16
    )
    r = CliRunner().invoke(main, ["config", "check", str(bad)])
    assert r.exit_code == 1
    lines = r.output.strip().removeprefix("error: ").splitlines()
    assert lines == [
        f"{bad}, line 2: server.token_file: no such file: {conf_dir / 'missing-tokens'}",
        f"{bad}, line 5: alerts.altitude_limit_m: Input should be a valid number, "
        "unable to parse string as a number",
        f"{bad}, line 7: sources.mqtt: a password in the broker URL: use mqtt_password_file",
        f"{bad}, line 8: sources.wfi: unknown key",
        f"{bad}, line 16: alerts.circle[1].lat: Input should be less than or equal to 90",
    ]
    assert "pw@" not in r.output.replace("user:pw@broker", "")  # only the key's own line


def test_syntax_error_and_missing_or_empty_secret(conf_dir: Path) -> None:
    (conf_dir / "syntax.toml").write_text("[server]\nport = \n")
    with pytest.raises(ConfigError, match=r"syntax.toml: not valid TOML: .*line 2"):
        load_config(conf_dir / "syntax.toml")
    (conf_dir / "dburl").write_text("\n")
    r = CliRunner().invoke(main, ["config", "check", str(conf_dir / "dw.toml")])
    assert r.exit_code == 1 and "server.db_file: the secret file" in r.output
    assert "is empty" in r.output
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(conf_dir / "nope.toml")


def test_key_lines_follow_tables_and_arrays() -> None:
    lines = key_lines('a = 1\n[s]\nb.c = 2\n[[t]]\nx = 1\n[[t]]\nx = """\ny = 3\n"""\nz = 4\n')
    assert lines[("a",)] == 1 and lines[("s", "b", "c")] == 3
    assert lines[("t", 1, "x")] == 7 and lines[("t", 1, "z")] == 10
    assert ("t", 1, "y") not in lines  # inside a multi-line string


def _serve_settings(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Any, dict[str, Any]]:
    """serve's Settings and run options, without starting the server."""
    import dronewatch.cli.serve as serve_mod

    seen: dict[str, Any] = {}

    def fake_run(settings: Any, host: str, port: int, note: str, tls: Any, *rest: Any) -> None:
        seen.update(settings=settings, host=host, port=port, log=rest)

    monkeypatch.setattr(serve_mod, "_run", fake_run)
    monkeypatch.delenv("DRONEWATCH_TOKEN", raising=False)
    monkeypatch.delenv("DRONEWATCH_TOKENS", raising=False)
    r = CliRunner().invoke(main, ["serve", *args])
    assert r.exit_code == 0, r.output
    return seen["settings"], seen


def test_serve_takes_the_file_and_flags_win(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(conf_dir)
    settings, run = _serve_settings(monkeypatch, "--config", "dw.toml", "--altitude-limit", "70")
    assert run["port"] == 8443 and run["log"] == ("warning", True)
    assert settings.db == f"postgresql://dw:{DB_PASSWORD}@db/dronewatch"
    assert TOKEN in settings.tokens and settings.generated_token is None
    assert settings.position == (48.72, 2.37, 90.0)
    assert settings.live == ["wifi:wlan1"]
    assert settings.live_extra["channels"] == [6, 149] and settings.live_extra["hop"] is False
    a = settings.alerts
    assert a.altitude_limit_m == 70  # the command line wins
    assert a.airports and a.airport_countries == ("FR",) and a.airport_kind == "major"
    assert a.sensor_positions == {"roof": (48.73, 2.36)}
    assert [z.zone_id for z in settings.zones] == ["stadium"]
    assert settings.whitelist_ids == ["1581F5FJD23910F"]
    settings, run = _serve_settings(monkeypatch, "--config", "dw.toml", "--port", "9100")
    assert run["port"] == 9100 and settings.alerts.altitude_limit_m == 100


def test_serve_takes_the_sinks_of_the_file_and_flags_win(
    conf_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(conf_dir)
    (conf_dir / "hook.key").write_text("s3cret-of-the-hook\n")
    (conf_dir / "dw.toml").write_text(
        GOOD + "\n[sinks]\n"
        'webhook = ["http://127.0.0.1:9/hook"]\n'
        'webhook_secret_file = "hook.key"\n'
        'syslog = ["udp://127.0.0.1:514"]\n'
        "cot_interval_s = 2.0\n"
    )
    r = CliRunner().invoke(main, ["config", "check", "dw.toml"])
    assert r.exit_code == 0, r.output
    assert "[sinks]" in r.output and "s3cret-of-the-hook" not in r.output
    settings, _ = _serve_settings(
        monkeypatch, "--config", "dw.toml", "--cot", "udp://127.0.0.1:6969"
    )
    sinks = settings.sinks
    assert sinks.webhook == ["http://127.0.0.1:9/hook"] and sinks.syslog == ["udp://127.0.0.1:514"]
    assert sinks.secret() == b"s3cret-of-the-hook" and sinks.cot_interval_s == 2.0
    assert sinks.cot == ["udp://127.0.0.1:6969"]  # from the command line, beside the file's
    (conf_dir / "dw.toml").write_text(GOOD + '\n[sinks]\nwebhook_secret = "inline"\n')
    r = CliRunner().invoke(main, ["config", "check", "dw.toml"])
    assert r.exit_code == 1 and "sinks.webhook_secret: a secret is not written" in r.output


def test_serve_config_errors_are_usage_errors(conf_dir: Path) -> None:
    (conf_dir / "bad.toml").write_text("[alerts]\naltitude_limit_m = -1\n")
    r = CliRunner().invoke(main, ["serve", "--config", str(conf_dir / "bad.toml")])
    assert r.exit_code == 2
    assert "line 2: alerts.altitude_limit_m: Input should be greater than 0" in r.output


def test_every_flag_of_the_table_is_a_serve_option() -> None:
    from dronewatch.cli.serve import serve

    names = {p.name for p in serve.params}
    assert set(FLAGS) <= names
    # and analyze shares the alert options
    from dronewatch.cli.analyze import command as analyze

    shared = {
        "airports",
        "airport_radius",
        "airport_countries",
        "airport_kind",
        "airport_within",
        "sensor_positions",
        "altitude_limit",
        "max_clock_offset",
        "unknown_drone",
    }
    assert shared <= names and shared <= {p.name for p in analyze.params}


def test_airports_of_the_area_and_of_sizes_that_matter() -> None:
    near_orly = AlertOptions(airports=True).airport_layer([(48.72, 2.37)])
    assert near_orly is not None
    ids = {z.zone_id for z in near_orly}
    assert {"airport:LFPO", "airport:LFPG"} <= ids and len(ids) < 20  # not every strip
    france = AlertOptions(airports=True, airport_countries=("FR",)).airport_layer()
    assert france is not None and 50 < len(france) < 300
    everything = AlertOptions(airports=True, airport_kind="all", airport_within_km=None)
    world = everything.airport_layer()
    assert world is not None and len(world) > 20000
    assert AlertOptions().airport_layer() is None


def test_an_empty_whitelist_does_not_flag_every_drone() -> None:
    auto = AlertOptions()
    assert auto.rule_whitelist(Whitelist()) is None and auto.rule_whitelist(None) is None
    listed = Whitelist(["X1"])
    assert auto.rule_whitelist(listed) is listed
    assert AlertOptions(unknown_drone=True).rule_whitelist(None) is not None
    assert AlertOptions(unknown_drone=False).rule_whitelist(listed) is None


def test_analyze_unknown_drone_is_opt_in_with_an_empty_whitelist(
    data_dir: Path, tmp_path: Path
) -> None:
    wl = tmp_path / "empty.txt"
    wl.write_text("# nobody yet\n")
    capture = str(data_dir / "dji_wifi_spoofed_single.pcapng")
    for extra, expected in (([], False), (["--unknown-drone"], True)):
        r = CliRunner().invoke(main, ["analyze", "--json", "--whitelist", str(wl), *extra, capture])
        assert r.exit_code == 0, r.output
        rules = {json.loads(x).get("rule") for x in r.stdout.splitlines() if x.startswith("{")}
        assert ("unknown_drone" in rules) is expected


def test_json_log_lines() -> None:
    record = logging.LogRecord("dronewatch.x", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "warning" and out["logger"] == "dronewatch.x" and out["message"] == "a b"
    assert out["time"].endswith("+00:00")


def test_json_logs_keep_tokens_out(capsys: pytest.CaptureFixture[str]) -> None:
    from dronewatch.cli.logs import setup_logging
    from dronewatch.cli.serve import RedactTokens

    setup_logging("info", as_json=True)
    RedactTokens([TOKEN]).install()
    logging.getLogger("uvicorn.access").info(  # as uvicorn logs a request
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/?token={TOKEN}", "1.1", 200
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert TOKEN not in line
    assert json.loads(line)["message"] == '127.0.0.1:5 - "GET /?token=*** HTTP/1.1" 200'


def test_sink_files_are_checked_and_relative_to_the_file(conf_dir: Path) -> None:
    path = conf_dir / "sinks.toml"
    path.write_text(
        '[sinks]\nwebhook = ["http://127.0.0.1:9/hook"]\nwebhook_secret_file = "hook"\n'
    )
    with pytest.raises(ConfigError, match=r"line 3: sinks.webhook_secret_file: no such file: "):
        load_config(path)
    (conf_dir / "hook").write_text("s3cret\n")
    config = load_config(path)
    assert config.sinks["webhook_secret_file"] == str(conf_dir / "hook")
