"""API tokens: long enough, from a file or the environment, never in the logs (issue 16)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from dronewatch.cli.serve import RedactTokens, serve
from dronewatch.server import auth
from dronewatch.server.settings import (
    MIN_TOKEN_CHARS,
    Principal,
    Role,
    Settings,
    generate_token,
    parse_tokens,
    read_token_file,
)

TOKEN = "tok-Lq4Zc8Vn2Xb6Mw0P"


@pytest.mark.parametrize("short", ["T", "secret", "s3cret", "x" * (MIN_TOKEN_CHARS - 1)])
def test_short_tokens_are_refused_everywhere(short: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRONEWATCH_TOKEN", raising=False)
    monkeypatch.delenv("DRONEWATCH_TOKENS", raising=False)
    with pytest.raises(ValueError, match="at least 16 characters") as info:
        Settings(tokens={short: Principal("admin", Role.ADMIN)})
    assert repr(short) not in str(info.value)  # never echoes the token
    with pytest.raises(ValueError, match="DRONEWATCH_TOKENS entry 2: a token must be at least 16"):
        parse_tokens(f"viewer:{TOKEN},operator:{short}")
    with pytest.raises(ValueError, match="admin token: a token must be at least 16"):
        Settings.from_env(token=short)
    monkeypatch.setenv("DRONEWATCH_TOKEN", short)
    with pytest.raises(ValueError, match="at least 16"):
        Settings.from_env()


def test_tokens_are_printable_without_spaces() -> None:
    for bad in ("a token with spaces!", "tab\there-and-long-enough", "é" * 20):
        with pytest.raises(ValueError, match="printable ASCII"):
            Settings(tokens={bad: Principal("admin", Role.ADMIN)})


def test_generated_tokens_are_long_and_random(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRONEWATCH_TOKEN", raising=False)
    monkeypatch.delenv("DRONEWATCH_TOKENS", raising=False)
    made = {generate_token() for _ in range(100)}
    assert len(made) == 100 and all(len(t) >= 32 for t in made)
    s = Settings.from_env()
    assert s.generated_token is not None and s.admin_token() == s.generated_token
    assert Settings.from_env(token=TOKEN).generated_token is None


def test_token_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    f = tmp_path / "tokens"
    f.write_text(
        "# dronewatch API tokens\n\n"
        f"viewer:view-{TOKEN}\n"
        f"Operator: op-{TOKEN}\n"
        f"{TOKEN}\n"  # bare: admin
    )
    f.chmod(0o600)
    tokens = read_token_file(f)
    assert {t: p.role for t, p in tokens.items()} == {
        f"view-{TOKEN}": Role.VIEWER,
        f"op-{TOKEN}": Role.OPERATOR,
        TOKEN: Role.ADMIN,
    }
    assert tokens[TOKEN].name == "admin@tokens:5"
    assert not caplog.records
    f.chmod(0o644)
    read_token_file(f)
    assert "readable by other users" in caplog.text and TOKEN not in caplog.text
    f.write_text("viewer:short\n")
    with pytest.raises(ValueError, match=r"tokens, line 1: a token must be at least 16"):
        read_token_file(f)
    f.write_text("# nothing\n")
    with pytest.raises(ValueError, match="holds no token"):
        read_token_file(f)
    with pytest.raises(ValueError, match="cannot read the token file"):
        read_token_file(tmp_path / "missing")


def test_serve_refuses_a_short_token_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRONEWATCH_TOKEN")}
    r = CliRunner().invoke(serve, ["--db", str(tmp_path / "x.db"), "--token", "T"], env=env)
    assert r.exit_code != 0
    assert "at least 16 characters" in r.output and "secrets.token_urlsafe" in r.output
    # On the command line a token shows in `ps`: said so, pointing at the normal ways.
    assert "visible to every local user" in r.output and "--token-file" in r.output
    f = tmp_path / "tokens"
    f.write_text("operator:0123456789\n")
    r = CliRunner().invoke(serve, ["--db", str(tmp_path / "x.db"), "--token-file", str(f)], env=env)
    assert r.exit_code != 0 and "line 1: a token must be at least 16" in r.output
    r = CliRunner().invoke(serve, ["--tls-cert", str(f)], env=env)
    assert r.exit_code != 0 and "--tls-cert and --tls-key go together" in r.output


def _encodings(token: str) -> list[str]:
    every = "".join(f"%{b:02X}" for b in token.encode())
    return [
        token,
        quote(token),
        every,
        every.lower(),
        every.replace("%", "%25"),  # encoded twice
        token[:4] + every[12:],  # partly encoded
    ]


def _logged(redact: RedactTokens, msg: str, *args: object) -> str:
    rec = logging.LogRecord("uvicorn.access", logging.INFO, "x", 1, msg, args or None, None)
    assert redact.filter(rec)
    return rec.getMessage()


def test_logs_redact_tokens_in_every_encoding() -> None:
    redact = RedactTokens([TOKEN, "another-token-0123456789"])
    line = '%s - "%s %s HTTP/%s" %d'
    for enc in _encodings(TOKEN):
        for name in ("token", "tok%65n", "TOKEN", "%74oken", "tok%2565n", "access_token"):
            for path in (f"/?{name}={enc}", f"/api/stream?x=1&{name}={enc}&y=2"):
                out = _logged(redact, line, "1.2.3.4:5", "GET", path, "1.1", 200)
                assert TOKEN not in out and enc not in out, out
                assert "***" in out
        # in a path, a header dump or a free-text message, not only in a query
        for msg in (
            f"GET /api/drones/{enc}",
            f"Authorization: Bearer {enc}",
            f"authorization: bearer {enc}",
            f"'WebSocket /api/stream?token={enc}' [accepted]",
        ):
            out = _logged(redact, msg)
            assert TOKEN not in out and enc not in out, out
    # Any bearer credential, even one the server does not know.
    assert _logged(redact, "Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    # Ordinary request lines stay readable.
    plain = "/api/drones?q=mfg%20one&limit=5"
    assert _logged(redact, line, "1.2.3.4:5", "GET", plain, "1.1", 200).endswith(
        f'"GET {plain} HTTP/1.1" 200'
    )


def test_websocket_token_parameter_is_canonical() -> None:
    assert auth.query_token(b"token=abc&x=1") == "abc"
    assert auth.query_token(b"token=a%2Bb+c") == "a+b c"
    assert auth.query_token(b"x=1") is None and auth.query_token(b"") is None
    for refused in (b"tok%65n=abc", b"%74oken=abc", b"tok%65n=abc&token=abc", b"token=a&token=b"):
        with pytest.raises(auth.QueryTokenError):
            auth.query_token(refused)
