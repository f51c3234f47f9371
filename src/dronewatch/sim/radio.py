"""The simulator's radio: what a sensor receives from a transmitter.

``rssi = tx_power + offset - (ref_loss + 10 * exponent * log10(d / 1 m)) + S(x) + F``

* ``d``: the 3-D distance between the transmitter (its true position and height, not the one
  it broadcasts) and the sensor's antenna (``alt_m`` above the ground);
* ``offset``: a per-transmitter power offset, ``N(0, tx_spread_db)``, drawn once per drone and
  never told to a receiver (real transmitters, antennas and orientations differ);
* ``S(x)``: shadowing, a smooth Gaussian random field of the transmitter's position, one per
  sensor, with standard deviation ``shadowing_db`` and the exponential correlation of the
  Gudmundson model, ``exp(-distance / decorrelation_m)``: two frames sent a few metres apart
  see almost the same shadowing, frames sent ``decorrelation_m`` apart are correlated by
  ``1/e``. Averaging many frames of a hovering drone therefore does not remove it, as in the
  real world;
* ``F``: per-frame fast fading, ``N(0, fading_db)`` in dB.

The field is a sum of ``FEATURES`` random cosines whose wave vectors are drawn from the
2-D Cauchy distribution (scale ``1 / decorrelation_m``): the characteristic function of that
distribution is ``exp(-|r| / decorrelation_m)``, so the field's covariance is exactly the
Gudmundson one (random Fourier features), and by the central limit theorem the field is close
to Gaussian. It is deterministic for a scenario seed and a sensor.
"""

from __future__ import annotations

import math

import numpy as np

from dronewatch.sim.flight import FloatArray

FEATURES = 256


class ShadowField:
    """Correlated log-normal shadowing (dB) as a function of east/north metres."""

    __slots__ = ("_amp", "_kx", "_ky", "_phase", "sigma_db")

    def __init__(self, sigma_db: float, decorrelation_m: float, rng: np.random.Generator,
                 features: int = FEATURES) -> None:
        self.sigma_db = sigma_db
        z = rng.standard_normal((features, 2))
        u = rng.chisquare(1.0, features)
        k = z / (decorrelation_m * np.sqrt(np.maximum(u, 1e-12)))[:, None]
        self._kx = k[:, 0].copy()
        self._ky = k[:, 1].copy()
        self._phase = rng.uniform(0.0, 2.0 * math.pi, features)
        self._amp = sigma_db * math.sqrt(2.0 / features)

    def __call__(self, east: FloatArray, north: FloatArray) -> FloatArray:
        if self.sigma_db == 0.0 or len(east) == 0:
            return np.zeros(len(east))
        arg = np.multiply.outer(east, self._kx) + np.multiply.outer(north, self._ky) + self._phase
        out: FloatArray = self._amp * np.cos(arg).sum(axis=1)
        return out


def shadow_fields(sigma_db: float, decorrelation_m: float, seed: int, n_sensors: int
                  ) -> list[ShadowField]:
    """One field per sensor (by index), deterministic for ``seed``."""
    return [ShadowField(sigma_db, decorrelation_m, np.random.default_rng([seed, 0x5AD0, i]))
            for i in range(n_sensors)]


def path_loss_db(distance_m: FloatArray, ref_loss_db: float, exponent: float) -> FloatArray:
    """Log-distance path loss (dB) at ``distance_m`` (at least 1 m)."""
    d = np.maximum(distance_m, 1.0)
    out: FloatArray = ref_loss_db + 10.0 * exponent * np.log10(d)
    return out
