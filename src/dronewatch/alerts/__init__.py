"""Alerts: zones, the airport layer, the whitelist, the rules and the alert engine.

* :mod:`.zones`     -- GeoJSON zones (polygons, multipolygons, circles; altitude bands, time
  windows, severity) and ``ZoneSet``, the indexed set;
* :mod:`.airports`  -- a circle around every aerodrome (``airportsdata``), on request;
* :mod:`.whitelist` -- authorised IDs;
* :mod:`.rules`     -- rule names, ``RulesConfig`` (documented defaults), alert sentences;
* :mod:`.engine`    -- ``AlertEngine``: rules -> alert episodes (OPEN / UPDATE / CLOSED).

Use them through :class:`dronewatch.alerts.pipeline.TrackingPipeline`.
"""
