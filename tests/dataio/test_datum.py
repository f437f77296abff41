"""GCJ-02 / BD-09 conversions against published control points of the algorithms, and round trips
under 1 m.

GCJ-02 points: eviltransform's test suite (googollee/eviltransform). BD-09 points: the examples of
wandergis/coordTransform_py (the Baidu formula with x_pi = π·3000/180, as Baidu's own API uses; note that
eviltransform's BD tests use a variant with π, so they are not used here) and the Beijing railway
station pair quoted by caijun/geoChina (GCJ-02 39.90245, 116.42703 = BD-09 39.90851, 116.43351)."""

import numpy as np
import pytest

from apps.dataio import datum

# (wgs lat, wgs lon, gcj lat, gcj lon): Shanghai, Shenzhen, Beijing
GCJ_POINTS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]
# (from lon, from lat, function, to lon, to lat)
BD_POINTS = [
    (116.404, 39.915, "bd09_to_gcj02", 116.39762729119315, 39.90865673957631),
    (116.404, 39.915, "gcj02_to_bd09", 116.41036949371029, 39.92133699351021),
    (116.404, 39.915, "wgs84_to_gcj02", 116.41024449916938, 39.91640428150164),
]


def metres(lon1, lat1, lon2, lat2):
    r = 6371008.8
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


@pytest.mark.parametrize("wlat,wlon,glat,glon", GCJ_POINTS)
def test_wgs84_to_gcj02_matches_published_points(wlat, wlon, glat, glon):
    lon, lat = datum.wgs84_to_gcj02(wlon, wlat)
    assert lon == pytest.approx(glon, abs=1e-9)
    assert lat == pytest.approx(glat, abs=1e-9)


@pytest.mark.parametrize("wlat,wlon,glat,glon", GCJ_POINTS)
def test_gcj02_to_wgs84_recovers_the_published_point_within_a_centimetre(wlat, wlon, glat, glon):
    lon, lat = datum.gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, wlon, wlat) < 0.01


@pytest.mark.parametrize("lon,lat,fn,to_lon,to_lat", BD_POINTS)
def test_bd09_formulas_match_published_points(lon, lat, fn, to_lon, to_lat):
    got_lon, got_lat = getattr(datum, fn)(lon, lat)
    assert got_lon == pytest.approx(to_lon, abs=1e-9)
    assert got_lat == pytest.approx(to_lat, abs=1e-9)


def test_beijing_railway_station_gcj02_to_bd09_within_a_metre():
    lon, lat = datum.gcj02_to_bd09(116.42703, 39.90245)
    assert metres(lon, lat, 116.43351, 39.90851) < 1.0
    back = datum.bd09_to_gcj02(116.43351, 39.90851)
    assert metres(*back, 116.42703, 39.90245) < 1.0


def test_round_trips_across_china_stay_under_a_metre():
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(74, 134, 5000), rng.uniform(18, 53, 5000)
    g_lon, g_lat = datum.wgs84_to_gcj02(lon, lat)
    offset = metres(lon, lat, g_lon, g_lat)
    assert offset.min() > 1 and offset.max() < 1500  # the datum really moves points
    back = metres(lon, lat, *datum.gcj02_to_wgs84(g_lon, g_lat))
    assert back.max() < 1.0
    b_lon, b_lat = datum.wgs84_to_bd09(lon, lat)
    assert metres(lon, lat, *datum.bd09_to_wgs84(b_lon, b_lat)).max() < 1.0


def test_points_outside_china_are_not_moved():
    lon, lat = datum.gcj02_to_wgs84(np.array([2.35, -122.4]), np.array([48.85, 37.77]))
    assert list(lon) == [2.35, -122.4] and list(lat) == [48.85, 37.77]
