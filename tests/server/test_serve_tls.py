"""``dronewatch serve --tls-cert --tls-key``: HTTPS and WSS with a certificate made here, and
the token (from the environment) kept out of the server's output in every encoding."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from tests.server.test_acceptance import serving
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TOKEN = "tls-admin-Kp5Wz9Qs3Hd7Nb1F"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dronewatch test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def test_serve_over_tls_keeps_tokens_out_of_the_logs(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    log = tmp_path / "serve.log"
    every = "".join(f"%{b:02X}" for b in TOKEN.encode())
    with serving(
        "--db",
        str(tmp_path / "dw.db"),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        env_extra={"DRONEWATCH_TOKEN": TOKEN},
        scheme="https",
        verify=trust,
        log=log,
    ) as base:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.get(base + "/api/me", headers=auth, verify=trust)
        assert r.status_code == 200 and r.json()["role"] == "admin"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert httpx.get(base + "/api/me", verify=trust).status_code == 401
        # Plain HTTP on the TLS port gets nowhere.
        with pytest.raises(httpx.HTTPError):
            httpx.get(base.replace("https:", "http:") + "/api/me", headers=auth, timeout=5)
        # The page URL carries the token in several spellings: each is logged redacted.
        for query in (f"token={TOKEN}", f"tok%65n={TOKEN}", f"token={every}", f"x={quote(TOKEN)}"):
            assert httpx.get(f"{base}/?{query}", verify=trust).status_code == 200
        wss = base.replace("https:", "wss:") + "/api/stream"
        with connect(f"{wss}?token={every}", ssl=trust) as ws:  # percent-encoded: still valid
            assert json.loads(ws.recv(timeout=10))["role"] == "admin"
        with connect(f"{wss}?tok%65n={TOKEN}", ssl=trust) as ws, pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4400
    out = log.read_text()
    assert "dronewatch serving on https://127.0.0.1:" in out
    assert '"GET /?token=*** HTTP/1.1" 200' in out and '"GET /?tok%65n=*** HTTP/1.1" 200' in out
    assert "/api/stream?token=***" in out
    for spelling in (TOKEN, every, every.lower(), quote(TOKEN)):
        assert spelling not in out, spelling
