"""Weather polling for race day: an HTTP JSON source (Open-Meteo style) and a drop folder.

A failing or stale feed is recorded (status file, and the stale-weather alert fires from
the observations themselves); it never stops the race-day pipeline.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from racecramp import landing
from racecramp.config import Settings
from racecramp.durable import ensure_dir
from racecramp.orchestration.drain import write_status

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    landed_rows: int = 0
    files: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def drop_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "weather_drop"


def poll_weather(settings: Settings, timeout_s: float = 10.0) -> PollResult:
    """Land what the HTTP source and the drop folder hold now; record failures."""
    from racecramp.sources import weather as w

    result = PollResult()
    if settings.weather_url:
        try:
            response = httpx.get(settings.weather_url, timeout=timeout_s)
            response.raise_for_status()
            frame = w.read_open_meteo_json(response.json(), location=settings.weather_url.split("?")[0])
            if settings.race_id:
                import polars as pl

                frame = frame.with_columns(pl.lit(settings.race_id).alias("race_id"))
            if frame.height:
                landing.append_frame(settings.landing_dir, "weather", frame, source=f"http:{settings.weather_url}")
                result.landed_rows += frame.height
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            message = f"weather URL {settings.weather_url}: {type(exc).__name__}: {exc}"
            log.warning(message)
            result.errors.append(message)
    folder = drop_dir(settings)
    ensure_dir(folder)
    for path in sorted(folder.glob("*.csv")) + sorted(folder.glob("*.json")):
        from racecramp.landing.bulk import import_weather

        try:
            imported = import_weather(settings, path, settings.race_id, ingest=False)
            result.landed_rows += imported.landed_rows
            result.files.append(path.name)
            done = folder / "done"
            ensure_dir(done)
            shutil.move(str(path), done / path.name)
        except (ValueError, OSError) as exc:
            message = f"weather drop file {path.name}: {exc}"
            log.warning(message)
            result.errors.append(message)
            bad = folder / "rejected"
            ensure_dir(bad)
            shutil.move(str(path), bad / path.name)
    write_status(settings, "weather_feed", {"ok": not result.errors, "landed_rows": result.landed_rows, "errors": result.errors})
    return result
