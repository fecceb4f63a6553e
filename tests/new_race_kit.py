"""A race that is not Boston, made in code: a GPX loop in the Spreewald, a results export in a
German timing company's per-segment layout (no finish-time column), and race-day weather.

The export's layout, as such companies write it: two preamble lines, `;` between fields,
`Startnr`, `Name` and `Verein` (dropped), the sex inside `Kategorie` (`Mara-W40`), the birth
year as `Jahrgang`, one column per segment (`0-5km` … `40km-Ziel`, H:MM:SS), and a `Status`
column with FINISHER / DNF / DSQ. Times are invented, not real runners.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

RACE_ID = "spreewald-2026"
RACE_NAME = "Spreewald Marathon"
RACE_DATE = "2026-04-26"
TIMEZONE = "Europe/Berlin"
SEGMENTS = (("0-5km", 5.0), ("5-10km", 10.0), ("10-HM", 21.0975), ("HM-30km", 30.0), ("30-35km", 35.0),
            ("35-40km", 40.0), ("40km-Ziel", 42.195))
MATS = "5,10,half,30,35,40"
HEADER = ["Platz", "Startnr", "Name", "Verein", "Kategorie", "Jahrgang", *(s for s, _ in SEGMENTS), "Status"]
# Hand-checked rows (per-segment H:MM:SS), used by the tests:
#   bib 7  finisher: 0:25:00 + 0:25:30 + 0:57:00 + 0:46:30 + 0:26:00 + 0:27:00 + 0:12:00 = 3:39:00 = 13140 s
#   bib 8  DNF with a gap: 0:28:00, 0:29:00, (10-HM missing), 0:50:00, then nothing: keeps 5 and 10 km only
#   bib 9  DSQ: every segment, status DSQ: not a finisher
HAND_ROWS = [
    ["", "7", "Muster, Erika", "LG Spree", "Mara-W40", "1984",
     "0:25:00", "0:25:30", "0:57:00", "0:46:30", "0:26:00", "0:27:00", "0:12:00", "FINISHER"],
    ["", "8", "Beispiel, Jan", "", "Mara-M55", "1969", "0:28:00", "0:29:00", "", "0:50:00", "", "", "", "DNF"],
    ["", "9", "Probe, Kim", "SV Lübben", "Mara-M30", "1994",
     "0:22:00", "0:22:00", "0:49:00", "0:40:00", "0:22:00", "0:23:00", "0:10:00", "DSQ"],
]
HAND_NET_S = {"7": 13140.0}
WAVES = ("1,09:00,1-49", "2,09:15,50-")


def spreewald_gpx(path: Path) -> Path:
    """A 42 km loop near Lübbenau as GPX track points every ~250 m (a rectangle with rounded wiggles)."""
    lat0, lon0 = 51.80, 13.90
    height_deg, width_deg = 0.0818, 0.1744  # about 9.1 km north-south, 12.0 km east-west
    corners = [(lat0, lon0), (lat0 + height_deg, lon0), (lat0 + height_deg, lon0 + width_deg), (lat0, lon0 + width_deg),
               (lat0, lon0 + 0.003)]
    points = []
    for (a_lat, a_lon), (b_lat, b_lon) in zip(corners, corners[1:]):
        steps = 40
        for i in range(steps):
            t = i / steps
            wiggle = 0.0008 * math.sin(t * math.pi * 4)
            lat = a_lat + t * (b_lat - a_lat) + (wiggle if a_lon != b_lon else 0)
            lon = a_lon + t * (b_lon - a_lon) + (wiggle if a_lat != b_lat else 0)
            points.append((lat, lon))
    points.append(corners[-1])
    body = "\n".join(f'<trkpt lat="{lat:.6f}" lon="{lon:.6f}"><ele>55</ele></trkpt>' for lat, lon in points)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="racecramp tests" '
        'xmlns="http://www.topografix.com/GPX/1/1">\n<trk><name>Spreewald loop</name><trkseg>\n'
        f"{body}\n</trkseg></trk></gpx>\n",
        encoding="utf-8",
    )
    return path


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def spreewald_results(path: Path, runners: int = 90, seed: int = 26) -> Path:
    """The per-segment export: the hand rows, then `runners` invented finishers and a few DNFs."""
    rng = random.Random(seed)
    rows = [list(r) for r in HAND_ROWS]
    for bib in range(10, 10 + runners):
        finish_s = rng.uniform(2.9, 5.4) * 3600
        sex = rng.choice("MW")
        born = rng.randint(1950, 2004)
        category = f"Mara-{sex}{max(20, (2026 - born) // 5 * 5)}"
        previous, cells = 0.0, []
        fade = rng.uniform(1.0, 1.15)  # later kilometres slower
        total_weight = sum((km - prev) * (1 + (fade - 1) * km / 42.195) for (_, km), prev in zip(SEGMENTS, [0, *[k for _, k in SEGMENTS]]))
        for _, km in SEGMENTS:
            weight = (km - previous) * (1 + (fade - 1) * km / 42.195)
            cells.append(_hms(finish_s * weight / total_weight))
            previous = km
        status = "FINISHER"
        if bib % 23 == 0:  # a runner who stopped after 30 km
            cells = cells[:4] + ["", "", ""]
            status = "DNF"
        rows.append(["", str(bib), f"Läufer{bib}, Test", "", category, str(born), *cells, status])
    lines = ["Spreewald Marathon 2026 - Ergebnisliste (Segmentzeiten)", "Stand 26.04.2026 16:00", ";".join(HEADER)]
    lines += [";".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def spreewald_weather(path: Path) -> Path:
    """Race-day hours 07:00-16:00 local in Visual Crossing's flat hourly layout (invented values)."""
    header = "race,location,year,date,startTimeMass,startTimeEliteMen,startTimeEliteWomen,hour_local,temp_f,dew_f,windspeed_mph,conditions"
    lines = [header]
    for hour in range(7, 17):
        temp = 50 + 2.2 * (hour - 7)
        lines.append(f'{RACE_NAME},"Lübbenau, Germany",2026,{RACE_DATE},09:00,09:00,09:00,{hour:02d}:00:00,{temp:.1f},44.0,8.0,Partially cloudy')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # the layout's companion file: which time zone each race's local hours are in
    path.with_name("marathons.json").write_text(json.dumps([{"name": RACE_NAME, "timezone": TIMEZONE}]), encoding="utf-8")
    return path


def race_new_args(gpx: Path, out: Path) -> list[str]:
    """`racecramp race new` for the Spreewald race: waves by bib, aid every 5 km, two tents."""
    args = ["race", "new", str(gpx), "--race-id", RACE_ID, "--name", RACE_NAME, "--date", RACE_DATE, "--timezone", TIMEZONE,
            "--mats", MATS, "--out", str(out)]
    for wave in WAVES:
        args += ["--wave", wave]
    for km in (5, 10, 15, 20, 25, 30, 35, 40):
        args += ["--station", f"aid;{km};Verpflegung {km} km"]
    args += ["--station", "medical;51.8818,13.99;Sanitätszelt Nord;6", "--station", "medical;finish;Zielzelt;25"]
    return args
