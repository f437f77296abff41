"""Patrol tunables. Each can be overridden in the Django settings under the name shown (e.g. a deployment
where grid leaders ride e-bikes may raise LINLI_PATROL_MAX_SPEED_MPS)."""

from django.conf import settings


def visit_distance_m() -> float:
    """A building within this distance of the track (geodesic metres) counts as visited."""
    return float(getattr(settings, "LINLI_PATROL_VISIT_DISTANCE_M", 15.0))


def max_speed_mps() -> float:
    """A fix implying a faster move than this from its neighbour in time is a GPS jump (15 m/s = 54 km/h:
    faster than any walk or e-bike, slower than the multipath jumps phones make between towers)."""
    return float(getattr(settings, "LINLI_PATROL_MAX_SPEED_MPS", 15.0))


def max_accuracy_m() -> float:
    """Fixes reported less accurate than this (metres, 68 % radius) are kept out of the track."""
    return float(getattr(settings, "LINLI_PATROL_MAX_ACCURACY_M", 100.0))


def checkin_max_distance_m() -> float:
    """A check-in with a position farther than this from the building's footprint is refused."""
    return float(getattr(settings, "LINLI_PATROL_CHECKIN_MAX_M", 60.0))


def clock_skew_s() -> float:
    """How far a phone's clock may be off: points this much before the start or after now are accepted."""
    return float(getattr(settings, "LINLI_PATROL_CLOCK_SKEW_S", 300.0))


def batch_max() -> int:
    return int(getattr(settings, "LINLI_PATROL_BATCH_MAX", 1000))


def compound_head_visit_target() -> int:
    """Visits a compound head should make to the compound each month (the seeds ask for at least 4)."""
    return int(getattr(settings, "LINLI_COMPOUND_HEAD_VISITS_PER_MONTH", 4))
