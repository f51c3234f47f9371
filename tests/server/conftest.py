"""Server fixtures: apps fed by the real pipeline from a real capture."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dronewatch.server.app import AppContext, create_app
from dronewatch.server.settings import Principal, Role, Settings

CAPTURE = Path(__file__).parents[1] / "data" / "odid_wifi_bcn_sample.pcap"
UAS_ID = "MFG1A0123456789"
OPERATOR_ID = "GBR-OP-123ABCD"
# Tokens are at least 16 characters (settings.MIN_TOKEN_CHARS).
VIEWER_TOKEN = "viewer-Xq7vR2mK9pL4sT8w"
OPERATOR_TOKEN = "operator-B3nH6jD1fG5kZ0cY"
ADMIN_TOKEN = "admin-W4eR8tY2uI6oP0aS"
TOKENS = {
    VIEWER_TOKEN: Principal("viewer-1", Role.VIEWER),
    OPERATOR_TOKEN: Principal("operator-1", Role.OPERATOR),
    ADMIN_TOKEN: Principal("admin", Role.ADMIN),
}
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# A zone around the start of the capture's flight (45.5457 N, 122.968 W): a zone alert.
ZONE = {
    "type": "Feature",
    "id": "test-zone",
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [
                [-122.975, 45.540],
                [-122.960, 45.540],
                [-122.960, 45.550],
                [-122.975, 45.550],
                [-122.975, 45.540],
            ]
        ],
    },
    "properties": {"name": "Test field", "severity": "critical"},
}


def wait_idle(ctx: AppContext, timeout: float = 20.0) -> None:
    """Until the sources are done and every result is written."""
    assert ctx.service is not None and ctx.writer is not None
    assert ctx.service.sources_done.wait(timeout)
    with ctx.service.lock:
        ctx.service._flush(force=True)
    assert ctx.writer.flush(timeout)


def make_settings(tmp: Path, **kw: object) -> Settings:
    zones = tmp / "zones.geojson"
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [ZONE]}))
    base: dict[str, object] = {
        "db": str(tmp / "dw.db"),
        "tokens": dict(TOKENS),
        "zones_file": zones,
        "speed": 0.0,
    }
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app that replayed the real capture through the real pipeline into SQLite."""
    tmp = tmp_path_factory.mktemp("replayed")
    app = create_app(make_settings(tmp, replay=[CAPTURE]))
    with TestClient(app) as client:
        wait_idle(app.state.ctx)
        yield client


@pytest.fixture
def live(tmp_path: Path) -> Iterator[TestClient]:
    """An app with the pipeline running but no source (tests feed it)."""
    app = create_app(make_settings(tmp_path))
    with TestClient(app) as client:
        yield client


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds
