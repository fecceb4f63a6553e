"""poll-weather: an HTTP JSON feed (Open-Meteo style) and a CSV drop folder land observations;
a failing feed is recorded, never fatal."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from racecramp.landing.bulk import ingest_now
from racecramp.orchestration.drain import read_status
from racecramp.sources.weather_feed import drop_dir, poll_weather
from racecramp.warehouse.sql import query
from racecramp.warehouse.writer import open_writer

from paths import DATA

OPEN_METEO = {
    "timezone": "GMT",
    "utc_offset_seconds": 0,
    "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "dew_point_2m": "°C", "relative_humidity_2m": "%", "wind_speed_10m": "km/h"},
    "hourly": {
        "time": ["2017-04-17T14:00", "2017-04-17T15:00"],
        "temperature_2m": [21.2, 22.8],
        "dew_point_2m": [7.8, 6.0],
        "relative_humidity_2m": [42, 34],
        "wind_speed_10m": [24.3, 25.9],
    },
}


class _Feed(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps(OPEN_METEO).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return None


def test_http_feed_lands_observations_in_si_units(boston_2017):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = boston_2017.model_copy(update={"weather_url": f"http://127.0.0.1:{server.server_port}/v1/forecast"})
        result = poll_weather(settings)
    finally:
        server.shutdown()
    assert result.errors == [] and result.landed_rows == 2
    ingest_now(boston_2017)
    with open_writer(boston_2017.warehouse_path) as con:
        rows = query(con, "SELECT temp_c, wind_m_s, race_id FROM weather_observations ORDER BY observed_at_utc")
    assert rows["temp_c"].to_list() == [21.2, 22.8]
    assert abs(rows["wind_m_s"][0] - 24.3 / 3.6) < 1e-9
    assert rows["race_id"].to_list() == ["boston-2017", "boston-2017"]


def test_a_dead_feed_is_recorded_not_fatal(boston_2017):
    settings = boston_2017.model_copy(update={"weather_url": "http://127.0.0.1:9/nothing-listens-here"})
    result = poll_weather(settings)
    assert result.landed_rows == 0 and "ConnectError" in result.errors[0]
    status = read_status(settings, "weather_feed")
    assert status["ok"] is False and status["errors"] == result.errors


def test_drop_folder_csv_is_landed_once_and_moved_aside(boston_2017):
    from pathlib import Path

    import polars as pl

    from racecramp.sources.weather import read_iem_asos_csv

    asos = Path(__file__).parent / "fixtures" / "weather_iem_asos_bos_20170417.csv"
    asos_frame = read_iem_asos_csv(asos)
    expected_rows = asos_frame.height
    without_temperature = asos_frame.filter(pl.col("temp_c").is_null()).height
    folder = drop_dir(boston_2017)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(asos, folder / "asos.csv")
    # a Visual Crossing CSV without its marathons.json cannot be put on UTC: rejected, with the reason
    shutil.copy(DATA / "weather" / "boston_hourly.csv", folder / "vc_no_timezones.csv")
    first = poll_weather(boston_2017)
    second = poll_weather(boston_2017)
    assert first.files == ["asos.csv"] and first.landed_rows == expected_rows > 0
    assert len(first.errors) == 1 and "vc_no_timezones.csv" in first.errors[0] and "timezone" in first.errors[0]
    assert second.files == [] and second.landed_rows == 0
    assert (folder / "done" / "asos.csv").exists() and (folder / "rejected" / "vc_no_timezones.csv").exists()
    ingest_now(boston_2017)
    with open_writer(boston_2017.warehouse_path) as con:
        landed = query(con, "SELECT count(*) AS n FROM weather_observations")["n"][0]
        quarantined = query(con, "SELECT count(*) AS n FROM quarantine WHERE message LIKE '%temp_c is missing%'")["n"][0]
    # an ASOS line with 'M' for temperature is kept out (and quarantined), the rest land
    assert (landed, quarantined) == (expected_rows - without_temperature, without_temperature)
