"""SI units used throughout aimc.

Every physical quantity in aimc is stored in SI base units: conductance in siemens,
time in seconds, resistance in ohms, energy in joules. The names below are
multipliers, so ``25 * uS`` is 25 microsiemens (2.5e-5 S) and ``250 * ns`` is
250 nanoseconds. Divide by a multiplier to print in that unit: ``g / uS``.
"""

from __future__ import annotations

__all__ = [
    "S", "mS", "uS", "nS",
    "s", "ms", "us", "ns",
    "minute", "hour", "day", "year",
    "ohm", "kohm",
    "J", "pJ", "fJ",
]

# conductance
S = 1.0
mS = 1e-3
uS = 1e-6
nS = 1e-9

# time
s = 1.0
ms = 1e-3
us = 1e-6
ns = 1e-9
minute = 60.0
hour = 3600.0
day = 86400.0
year = 365.0 * day  # 3.1536e7 s

# resistance
ohm = 1.0
kohm = 1e3

# energy
J = 1.0
pJ = 1e-12
fJ = 1e-15
