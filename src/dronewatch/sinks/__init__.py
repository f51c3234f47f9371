"""Sinks: where frames and results leave dronewatch, other than the store and the live bus.

* :mod:`.mqtt`: a sensor's frames to an MQTT broker, for a server elsewhere
  (``dronewatch sensor``; the server's end is :mod:`dronewatch.sources.mqtt`).
"""
