"""`racecramp replay`: re-run a real race through the live stack at N times real speed.

The source is a real race: its race file, its results with splits (through a mapping) and
its hourly race-day weather; `--race boston-2017` picks the files shipped in data/. The simulator (racecramp.simulate) plants cramps and
survey answers; `simulate.events.event_stream` orders everything in race time. The replay
sends each event when its race time comes, scaled by `speed`, through the intake API with
the token of the principal that would send it in a real race (`principal_for`):

    participants  -> POST /v1/participants  feed:timing:<race_id>   (start list, an hour before the gun)
    passings      -> POST /v1/passings      feed:timing:<race_id>
    weather       -> POST /v1/weather       feed:weather:<race_id>  (10-minute steps, interpolated)
    reports       -> POST /v1/reports       station:<race_id>:<point_id> of the reporting station
    survey        -> POST /v1/survey (CSV)  feed:survey:<race_id>   (after each runner finishes)

or, offline, to a canonical JSON-lines file (`--to DIR`) that a later replay can send
(`--from FILE`). Every record carries simulated = true.
"""

from __future__ import annotations

import io
import json
import time
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import polars as pl

from racecramp.data import data_dir
from racecramp.domain import COMMAND, FEED_SURVEY, FEED_TIMING, FEED_WEATHER, feed_principal, station_principal
from racecramp.durable import atomic_write, atomic_write_text
from racecramp.errors import RacecrampError
from racecramp.intake.models import MAX_BATCH_RECORDS
from racecramp.marts.heat import with_heat
from racecramp.simulate.cramp_model import medical_stations
from racecramp.simulate.stream import (
    KIND_PARTICIPANTS,
    KIND_PASSINGS,
    KIND_REPORTS,
    KIND_SURVEY,
    KIND_WEATHER,
    canonical_event_json,
    event_stream,
    simulate_race,
    stream_digest,
)
from racecramp.sources.race import read_race
from racecramp.sources.results import read_results
from racecramp.sources.roster import roster_from_results
from racecramp.sources.weather import read_visualcrossing_csv

DATA = data_dir()
DEFAULT_SEED = 2017

Event = tuple[datetime, str, dict[str, Any]]

# Order of kinds inside one tick: the start list before anything that names its runners.
SEND_ORDER = (KIND_PARTICIPANTS, KIND_PASSINGS, KIND_WEATHER, KIND_REPORTS, KIND_SURVEY)
ENDPOINT = {
    KIND_PARTICIPANTS: ("/v1/participants", "participants"),
    KIND_PASSINGS: ("/v1/passings", "passings"),
    KIND_WEATHER: ("/v1/weather", "observations"),
    KIND_REPORTS: ("/v1/reports", "reports"),
}
# The feed that sends each kind but reports (which a station sends).
FEED_OF = {
    KIND_PARTICIPANTS: FEED_TIMING,
    KIND_PASSINGS: FEED_TIMING,
    KIND_WEATHER: FEED_WEATHER,
    KIND_SURVEY: FEED_SURVEY,
}

# How the sender paces itself and rides out a stack that is restarting.
TICK_S = 0.5
MIN_SLEEP_S = 0.001
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
RETRY_DEADLINE_S = 180.0
HTTP_TIMEOUT_S = 30.0


class ReplayError(RacecrampError, RuntimeError):
    """The replay cannot go on; the message says what and what to do."""


# ---------------------------------------------------------------- the source race


@dataclass(frozen=True)
class ReplaySource:
    """A real race ready to simulate: start list with wave starts, passings with wall-clock
    times, course points, and race-day weather with WBGT."""

    race_id: str
    race_path: Path
    timezone: str
    races: pl.DataFrame
    course: pl.DataFrame
    participants: pl.DataFrame
    passings: pl.DataFrame
    weather: pl.DataFrame
    skipped_rows: int


def shipped_race(race_id: str, data_dir: Path = DATA) -> tuple[Path, Path, Path]:
    """(race file, results, weather) of a race shipped in data/: races/<id>.toml, <id>/results.csv,
    weather/boston_hourly.csv."""
    race_path = data_dir / "races" / f"{race_id}.toml"
    if not race_path.exists():
        shipped = sorted(p.stem for p in (data_dir / "races").glob("*.toml"))
        raise ReplayError(
            f"race {race_id!r}: not shipped in {data_dir / 'races'} (shipped: {', '.join(shipped) or 'none'}); "
            "for a race of your own pass --race-file, --results and --weather"
        )
    return race_path, data_dir / race_id / "results.csv", data_dir / "weather" / "boston_hourly.csv"


def load_source(race_path: Path, results: Path, weather: Path, mapping: str | Path = "boston") -> ReplaySource:
    """A race to replay from its race file, its results (read through `mapping`) and its hourly
    weather (Visual Crossing's flat hourly CSV, the hours of the race's name and year)."""
    race_path, results, weather = Path(race_path), Path(results), Path(weather)
    for path, what in ((race_path, "race file"), (results, "results with splits"), (weather, "hourly race-day weather")):
        if not path.exists():
            raise ReplayError(f"no {what} at {path}")
    races, course = read_race(race_path)
    race = races.row(0, named=True)
    race_id = race["race_id"]
    rows = read_results(results, mapping, race_id, race_date=race["date"]).rows
    roster = roster_from_results(rows, races, course)
    unassigned = roster.participants.filter(pl.col("wave_start_utc").is_null())
    if unassigned.height:
        raise ReplayError(
            f"race {race_id!r}: bib {unassigned['bib'][0]!r} (and {unassigned.height - 1} more) falls in no start wave of "
            f"{race_path}; expected every bib inside a [[waves]] bib range"
        )
    if roster.participants.height == 0:
        raise ReplayError(f"race {race_id!r}: no runner of {results.name} could be read ({roster.skipped.height} problems); "
                          f"check it with `racecramp import results {results} --race {race_id} --dry-run`")
    observations = read_visualcrossing_csv(weather, race["name"], race["date"].year, timezones={race["name"]: race["timezone"]})
    if observations.height == 0:
        raise ReplayError(f"race {race_id!r}: {weather} has no hours for {race['name']} {race['date'].year}")
    observations = observations.with_columns(pl.lit(race_id).alias("race_id"))
    return ReplaySource(
        race_id=race_id,
        race_path=race_path,
        timezone=race["timezone"],
        races=races,
        course=course.with_columns(pl.col("km").cast(pl.Float64)),
        participants=roster.participants,
        passings=roster.passings,
        weather=with_heat(observations.lazy()).collect(),
        skipped_rows=roster.skipped.select("source_row").n_unique(),
    )


def load_shipped_source(race_id: str, data_dir: Path = DATA) -> ReplaySource:
    """A race shipped in data/ (e.g. boston-2017), read as load_source reads any race."""
    return load_source(*shipped_race(race_id, data_dir))


def build_events(source: ReplaySource, seed: int = DEFAULT_SEED) -> list[Event]:
    """The replay's event stream: the same source and seed give a byte-identical stream."""
    sim = simulate_race(source.participants, source.passings, source.course, source.weather, seed=seed)
    return event_stream(sim, source.passings, source.weather)


def station_principals(race_id: str, course: pl.DataFrame, distance_km: float) -> list[str]:
    """station:<race_id>:<point_id> of every point where the simulator can report a cramp."""
    stations, _ = medical_stations(course, distance_km)
    return [station_principal(race_id, p) for p in stations["point_id"].to_list()]


def principal_for(kind: str, record: dict[str, Any]) -> str:
    """Who sends this event in a real race: the reporting station, else the race's feed for the kind."""
    if kind == KIND_REPORTS:
        return station_principal(record["race_id"], record["point_id"])
    return feed_principal(FEED_OF[kind], record["race_id"])


def needed_principals(events: Iterable[Event]) -> list[str]:
    """Every principal whose token the replay of these events needs."""
    return sorted({principal_for(kind, record) for _, kind, record in events})


# ---------------------------------------------------------------- files


def write_stream(events: list[Event], directory: Path, name: str) -> tuple[Path, Path]:
    """The stream as canonical JSON lines (the digest is of exactly these bytes) plus a manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stream = directory / f"{name}.events.jsonl"

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            for event in events:
                fh.write(canonical_event_json(event) + "\n")

    atomic_write(stream, write)
    manifest = directory / f"{name}.manifest.json"
    atomic_write_text(
        manifest,
        json.dumps(
            {
                "events": len(events),
                "sha256": stream_digest(events),
                "by_kind": dict(sorted(Counter(kind for _, kind, _ in events).items())),
                "first_emit_utc": events[0][0].isoformat() if events else None,
                "last_emit_utc": events[-1][0].isoformat() if events else None,
                "simulated": True,
            },
            indent=2,
        )
        + "\n"
    )
    return stream, manifest


def read_stream(path: Path) -> list[Event]:
    """Events from a file written by write_stream."""
    events: list[Event] = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                emit, kind, record = json.loads(line)
                events.append((datetime.fromisoformat(emit), kind, record))
            except (ValueError, TypeError) as exc:
                raise ReplayError(f"{path} line {number}: not an event [emit, kind, record]: {exc}") from None
            if kind not in SEND_ORDER:
                raise ReplayError(f"{path} line {number}: kind {kind!r} is not one of {', '.join(SEND_ORDER)}")
    return events


# ---------------------------------------------------------------- sending


@dataclass
class IntakeSender:
    """Posts events to a running intake, each with its principal's token; retries on
    connection errors, 429 and 5xx until RETRY_DEADLINE_S; any other 4xx stops the replay."""

    url: str
    tokens: dict[str, str]
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=HTTP_TIMEOUT_S))
    retries: int = 0
    throttled: int = 0  # 429 answers (each also counted in retries)
    sent: Counter = field(default_factory=Counter)

    def check_tokens(self, events: Iterable[Event]) -> None:
        missing = [p for p in needed_principals(events) if p not in self.tokens]
        if missing:
            raise ReplayError(
                f"tokens: no token for {', '.join(missing)}; expected every principal the replay posts as "
                "(make them with `racecramp tokens --race RACE --out FILE`, then pass --tokens FILE)"
            )

    def send(self, events: list[Event]) -> None:
        """Post these events: per kind in SEND_ORDER, one request (or chunk) per sending principal."""
        by_sender: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for _, kind, record in events:
            by_sender.setdefault((kind, principal_for(kind, record)), []).append(record)
        for kind, principal in sorted(by_sender, key=lambda key: (SEND_ORDER.index(key[0]), key[1])):
            records = by_sender[kind, principal]
            if kind == KIND_SURVEY:
                for start in range(0, len(records), MAX_BATCH_RECORDS):
                    self._post_survey(principal, records[start : start + MAX_BATCH_RECORDS])
            else:
                self._post_json(kind, principal, records)

    def _post_json(self, kind: str, principal: str, records: list[dict[str, Any]]) -> None:
        path, key = ENDPOINT[kind]
        for start in range(0, len(records), MAX_BATCH_RECORDS):
            chunk = records[start : start + MAX_BATCH_RECORDS]
            self._post(kind, principal, lambda: self.client.post(self.url + path, json={key: chunk}, headers=self._auth(principal)))
            self.sent[kind] += len(chunk)

    def _post_survey(self, principal: str, records: list[dict[str, Any]]) -> None:
        buffer = io.BytesIO()
        pl.DataFrame(records).write_csv(buffer)
        content = buffer.getvalue()
        self._post(
            KIND_SURVEY,
            principal,
            lambda: self.client.post(
                self.url + "/v1/survey", files={"file": ("replay-survey.csv", content, "text/csv")}, headers=self._auth(principal)
            ),
        )
        self.sent[KIND_SURVEY] += len(records)

    def _auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    def _post(self, kind: str, principal: str, request: Callable[[], httpx.Response]) -> None:
        deadline = time.monotonic() + RETRY_DEADLINE_S
        wait = RETRY_FIRST_S
        while True:
            try:
                response = request()
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 202:
                    return
                if response.status_code != 429 and response.status_code < 500:
                    raise ReplayError(f"{kind} as {principal}: intake answered {response.status_code}: {response.text[:500]}")
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code == 429:
                    self.throttled += 1
                    wait = max(wait, _retry_after_s(response))
            if time.monotonic() > deadline:
                raise ReplayError(f"{kind} as {principal}: intake at {self.url} still failing after {RETRY_DEADLINE_S:.0f} s ({problem})")
            self.retries += 1
            time.sleep(wait)
            wait = min(wait * 2, RETRY_MAX_S)

    def close(self) -> None:
        self.client.close()


def _retry_after_s(response: httpx.Response) -> float:
    """The Retry-After of a 429 in seconds (0 when absent or not a number of seconds)."""
    try:
        return float(response.headers.get("Retry-After", "0"))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class ReplayProgress:
    race_clock_utc: datetime
    sent_events: int
    total_events: int


def run(
    events: list[Event],
    send: Callable[[list[Event]], None],
    speed: float,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Send each event when its race time comes: race time advances `speed` seconds per
    wall-clock second from the first event; events due together go in one call of `send`.
    speed <= 0 sends as fast as the intake takes them. Returns the wall seconds taken."""
    if not events:
        return 0.0
    t0 = events[0][0]
    offsets = [(emit - t0).total_seconds() for emit, _, _ in events]
    started = clock()
    done = 0
    while done < len(events):
        elapsed = clock() - started
        due = bisect_right(offsets, elapsed * speed) if speed > 0 else len(events)
        if due == done:
            next_wall = offsets[done] / speed
            # at least a millisecond: at 0 a float rounding (next_wall == elapsed, yet not due) would spin forever
            sleep(min(TICK_S, max(next_wall - elapsed, MIN_SLEEP_S)))
            continue
        if speed <= 0:
            due = min(len(events), done + MAX_BATCH_RECORDS)
        send(events[done:due])
        done = due
        if on_progress is not None:
            on_progress(ReplayProgress(events[done - 1][0], done, len(events)))
        if speed > 0:
            sleep(TICK_S)
    return clock() - started


# ---------------------------------------------------------------- setup for a local stack

def race_principals(races: pl.DataFrame, course: pl.DataFrame) -> list[str]:
    """The command, the race's feeds, and every station of the race that can report a cramp
    (races, course as read by sources.race.read_race or published)."""
    race_id = str(races["race_id"][0])
    distance = float(races["distance_km"][0])
    feeds = [feed_principal(feed, race_id) for feed in (FEED_TIMING, FEED_WEATHER, FEED_SURVEY)]
    return [COMMAND, *feeds, *station_principals(race_id, course.with_columns(pl.col("km").cast(pl.Float64)), distance)]


def ensure_race_published(settings: Any, source: ReplaySource) -> bool:
    """Import the race definition (landing -> validation -> writer) when the published course
    does not know the race yet, so the intake accepts its events. True when it imported."""
    from racecramp.landing.bulk import import_race
    from racecramp.validation.context import CourseNotPublished, context_from_snapshots

    try:
        known = source.race_id in context_from_snapshots(settings.snapshot_dir).distance_km
    except CourseNotPublished:
        known = False
    if not known:
        import_race(settings, source.race_path)
    return not known
