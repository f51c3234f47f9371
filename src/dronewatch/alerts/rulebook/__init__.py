"""The registered alert rules, one module each (see :mod:`dronewatch.alerts.registry`).

A new rule is a module here and one import line below.
"""

from dronewatch.alerts.rulebook import spoof_clock as spoof_clock
from dronewatch.alerts.rulebook import spoof_pilot_distance as spoof_pilot_distance
from dronewatch.alerts.rulebook import spoof_position_rf as spoof_position_rf
from dronewatch.alerts.rulebook import spoof_rssi as spoof_rssi
