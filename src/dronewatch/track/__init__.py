"""Tracking: decoded messages -> observations -> tracks (and, through the alert engine, alerts).

* :mod:`.observe`   -- ``observe(decoded) -> Observation | None`` for every message format;
* :mod:`.tracker`   -- identity fusion (UAS ID, serial, session, MAC), history, staleness;
* :mod:`.pipeline`  -- ``TrackingPipeline``: the one entry point (feed / tick / tracks);
* :mod:`.geo`       -- distances, bearings, the local metric projection;
* :mod:`.synth`     -- synthetic observation streams for tests and benchmarks.
"""
