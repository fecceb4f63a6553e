"""Course tracks: km along them by geodesic, places snapped onto them, GPX and CSV files read."""

from __future__ import annotations

import pytest

from racecramp.sources.course_geometry import (
    CourseGeometryError,
    geodesic_m,
    position_at_km,
    scaled_to_distance,
    simplified,
    snap_to_track,
    track_from_positions,
)
from racecramp.sources.track_files import read_geometry, read_track, write_track


def test_one_degree_of_latitude_from_the_equator_is_the_wgs84_meridian_arc():
    # WGS84 meridian arc from 0 to 1 degree north: 110,574.4 m (a sphere would say 111,195 m)
    assert geodesic_m(0, 0, 1, 0) == pytest.approx(110_574.4, abs=0.5)


def test_km_along_a_track_add_up_segment_by_segment():
    track = track_from_positions([0.0, 0.01, 0.02], [0.0, 0.0, 0.0])
    assert track["km"].to_list() == pytest.approx([0.0, 1.10574, 2.21149], abs=1e-4)


def test_a_place_beside_the_road_snaps_to_the_km_at_its_foot():
    track = track_from_positions([52.0, 52.0], [13.0, 13.1])  # due east, about 6.86 km
    snap = snap_to_track(track, 52.0003, 13.05)  # 33 m north of the midpoint
    assert snap.km == pytest.approx(track["km"][1] / 2, abs=0.005)
    assert snap.offset_m == pytest.approx(33.4, abs=1.0)


def test_a_place_where_the_course_passes_twice_is_refused_naming_both_km():
    out_and_back = track_from_positions([52.0, 52.0, 52.0], [13.0, 13.1, 13.0])
    with pytest.raises(CourseGeometryError, match=r"as near the track at km .* as at km .*give the station by km"):
        snap_to_track(out_and_back, 52.0, 13.05, label="tent")


def test_a_place_far_from_the_course_is_refused():
    track = track_from_positions([52.0, 52.0], [13.0, 13.1])
    with pytest.raises(CourseGeometryError, match=r"tent: lat=52.1, lon=13.05 is \d+ m from the nearest point"):
        snap_to_track(track, 52.1, 13.05, label="tent")


def test_a_track_is_scaled_to_its_certified_distance_but_not_to_a_wrong_one():
    track = track_from_positions([0.0, 0.38], [0.0, 0.0])  # 42.02 km
    assert scaled_to_distance(track, 42.195)["km"][-1] == pytest.approx(42.195)
    with pytest.raises(CourseGeometryError, match="expected within 5%"):
        scaled_to_distance(track, 21.0975)


def test_position_at_km_interpolates_between_vertices():
    track = track_from_positions([52.0, 52.0], [13.0, 13.2], km=[0.0, 10.0])
    assert position_at_km(track, 2.5) == [pytest.approx((52.0, 13.05))]


def test_simplified_keeps_the_corners_of_a_densely_logged_track():
    lats = [52.0 + i * 0.0001 for i in range(100)] + [52.0099] * 100
    lons = [13.0] * 100 + [13.0 + i * 0.0001 for i in range(100)]
    thin = simplified(track_from_positions(lats, lons))
    assert thin.height == 3 and thin["seq"].to_list() == [0, 1, 2]


def test_gpx_csv_and_the_track_file_read_the_same_positions(tmp_path):
    gpx = tmp_path / "c.gpx"
    gpx.write_text('<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>x</name>'
                   '<trkseg><trkpt lat="52.0" lon="13.0"><time>2026-01-01T00:00:00Z</time></trkpt>'
                   '<trkpt lat="52.01" lon="13.0"></trkpt></trkseg></trk></gpx>')
    csv = tmp_path / "c.csv"
    csv.write_text("Latitude,Longitude\n52.0,13.0\n52.01,13.0\n")
    from_gpx, from_csv = read_geometry(gpx), read_geometry(csv)
    assert from_gpx.equals(from_csv)
    write_track(tmp_path / "track.csv", from_gpx)
    assert read_track(tmp_path / "track.csv")["km"].to_list() == pytest.approx(from_gpx["km"].to_list(), abs=1e-3)


def test_a_csv_with_km_keeps_them_and_refuses_km_going_back(tmp_path):
    good = tmp_path / "g.csv"
    good.write_text("lat,lon,km\n52.0,13.0,0\n52.01,13.0,1.2\n")
    assert read_geometry(good)["km"].to_list() == [0.0, 1.2]
    bad = tmp_path / "b.csv"
    bad.write_text("lat,lon,km\n52.0,13.0,0\n52.01,13.0,1.2\n52.02,13.0,1.0\n")
    with pytest.raises(CourseGeometryError, match=r"b.csv: point 3 km=1.0 after km=1.2, expected km not to decrease"):
        read_geometry(bad)


def test_a_csv_without_lat_lon_columns_names_what_it_expected(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("north,east\n1,2\n3,4\n")
    with pytest.raises(CourseGeometryError, match="has none of lat, latitude"):
        read_geometry(path)
