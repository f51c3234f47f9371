"""The scenario simulator: realistic drone broadcasts for tests, demos and benchmarks.

>>> from dronewatch.sim import load_scenario, iter_frames, ground_truth, write_capture
>>> scenario = load_scenario("hobby_crowd")           # built-in, or a .toml/.yaml path
>>> summary = write_capture(scenario, "crowd.pcapng", seed=1)

* :func:`load_scenario` -- the scenario model (:mod:`.scenario`), from TOML or YAML;
* :func:`iter_frames` -- time-ordered :class:`~dronewatch.model.Frame` objects, made with the
  protocol encoders, with per-packet RSSI from a path-loss model (:mod:`.engine`);
* :func:`ground_truth` -- per drone: identity, transport, path samples, pilot (:mod:`.truth`);
* :func:`write_capture` -- a pcapng file of what one sensor hears (:mod:`.capture`), and its
  DJI OcuSync bursts as a SigMF IQ recording (:mod:`.iq_capture`).

Drone kinds: ``wifi-beacon``, ``wifi-nan``, ``ble-legacy``, ``ble-long-range`` (ASTM Remote
ID), ``dji-wifi``, ``fr-beacon`` and ``dji-ocusync`` (payload frames; :mod:`.iq_capture` turns
them into IQ). Another module can add or replace a kind with :func:`register_emitter`.
"""

from __future__ import annotations

from dronewatch.sim.capture import CaptureSummary, write_capture
from dronewatch.sim.engine import EMITTERS, iter_frames, register_emitter
from dronewatch.sim.scenario import (
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from dronewatch.sim.truth import DroneTruth, ground_truth

__all__ = [
    "EMITTERS",
    "CaptureSummary",
    "DroneTruth",
    "Scenario",
    "ScenarioError",
    "builtin_scenarios",
    "ground_truth",
    "iter_frames",
    "load_scenario",
    "parse_scenario",
    "register_emitter",
    "write_capture",
]
