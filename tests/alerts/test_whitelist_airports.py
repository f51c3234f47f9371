"""Whitelist files and the airport layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from dronewatch.alerts.airports import DEFAULT_RADIUS_M, RADIUS_PRESETS, airport_zones
from dronewatch.alerts.whitelist import Whitelist, WhitelistError, load_whitelist
from dronewatch.model import Track
from dronewatch.track.geo import destination


def test_whitelist_file(tmp_path: Path) -> None:
    p = tmp_path / "wl.txt"
    p.write_text("# authorised\n\n1581F5FJD239C00DW22E   # police drone\n  gbr-op-123abcd\n")
    wl = load_whitelist(p)
    assert len(wl) == 2
    assert "1581f5fjd239c00dw22e" in wl and "GBR-OP-123ABCD" in wl and "other" not in wl
    assert wl.allows(Track("t", 0, 0, serial="1581F5FJD239C00DW22E"))
    assert wl.allows(Track("t", 0, 0, uas_id="X", operator_id="GBR-OP-123ABCD"))
    assert not wl.allows(Track("t", 0, 0, uas_id="X"))
    assert list(wl) == ["1581F5FJD239C00DW22E", "GBR-OP-123ABCD"]


def test_whitelist_errors(tmp_path: Path) -> None:
    p = tmp_path / "wl.txt"
    p.write_text("OK1\ntwo ids here\n")
    with pytest.raises(WhitelistError, match=r"wl.txt: line 2: one ID per line"):
        load_whitelist(p)
    with pytest.raises(WhitelistError, match="cannot read"):
        load_whitelist(tmp_path / "nope.txt")
    assert len(Whitelist.parse("# nothing\n")) == 0


def test_airports_filter_and_radius() -> None:
    gb = airport_zones(countries=["gb"], kind="iata")
    assert 30 < len(gb) < 400
    assert all(z.properties == {"kind": "airport"} for z in gb)
    heathrow = [z for z in gb if z.zone_id == "airport:EGLL"]
    assert len(heathrow) == 1 and heathrow[0].circle is not None
    lat, lon, r = heathrow[0].circle
    assert r == DEFAULT_RADIUS_M
    assert [z.zone_id for z in gb.containing(*destination(lat, lon, 90, 4000))] == ["airport:EGLL"]
    assert gb.containing(*destination(lat, lon, 90, 5000)) == []
    us = airport_zones(RADIUS_PRESETS["us-5sm"], ["US"], codes=["KJFK", "LAX"])
    assert sorted(z.zone_id for z in us) == ["airport:KJFK", "airport:KLAX"]
    assert all(z.circle is not None and z.circle[2] == pytest.approx(8046.72) for z in us)
    with pytest.raises(ValueError, match="positive"):
        airport_zones(-1.0)
