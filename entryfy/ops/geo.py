"""The geofence verdict shared by check-in and door opening.

Distance is geodesic (geopy, WGS-84). The phone's reported accuracy is a radius around its fix;
we give the benefit of the doubt up to ``MAX_ACCURACY_CREDIT_M``: a fix counts as inside when
``distance - min(accuracy, cap) <= radius``. The cap stops a phone that reports "accuracy
5 km" from checking in anywhere; a fix worse than ``MAX_ACCEPTED_ACCURACY_M`` is no verdict.
"""

from __future__ import annotations

import dataclasses

from geopy.distance import geodesic

MAX_ACCURACY_CREDIT_M = 50
MAX_ACCEPTED_ACCURACY_M = 1000
COARSE_DECIMALS = 2  # about 1.1 km in latitude: a "coarse position" for sites that want one


@dataclasses.dataclass(frozen=True)
class Verdict:
    inside: bool
    distance_m: int  # rounded to whole metres: enough for the verdict, no more
    accuracy_credit_m: int


# One calculator for every call: each new geodesic() sets up its WGS-84 series anew, which
# took more CPU than the distance itself. measure() keeps no state; threads may share it.
_WGS84 = geodesic()


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(_WGS84.measure((lat1, lon1), (lat2, lon2))) * 1000  # measure() gives km


def check(center_lat: float, center_lon: float, radius_m: float, lat: float, lon: float,
          accuracy_m: float | None = None) -> Verdict:
    d = distance_m(center_lat, center_lon, lat, lon)
    credit = 0.0
    if accuracy_m is not None and 0 <= accuracy_m <= MAX_ACCEPTED_ACCURACY_M:
        credit = min(accuracy_m, MAX_ACCURACY_CREDIT_M)
    return Verdict(inside=d - credit <= radius_m, distance_m=round(d),
                   accuracy_credit_m=round(credit))


def coarse(lat: float, lon: float) -> tuple[float, float]:
    return round(lat, COARSE_DECIMALS), round(lon, COARSE_DECIMALS)
