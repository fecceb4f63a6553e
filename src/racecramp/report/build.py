"""The post-race report's content, assembled from published snapshot frames (pure: no I/O).

Every number in the report comes from here, and every mart table is the published mart's
rows for the race, unchanged: the report never recomputes what a mart already answers. The
few numbers no mart holds (headline counts, dispositions, the timeline, the comparison with
earlier editions) are computed here with the marts' counting rules (docs/report.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from racecramp.domain import Disposition
from racecramp.marts.counting import ROSTER_STARTERS, counted_reports, roster_holds_for
from racecramp.marts.heat import describe_wbgt
from racecramp.marts.stats import PER_1000, wilson_ci

# Snapshot tables the report reads (publish.py writes them after every ingest).
REPORT_TABLES = (
    "races", "participants", "cramp_reports", "survey_responses", "quarantine", "weather_heat",
    "cramp_rate_by_distance", "cramp_rate_by_station", "cramp_rate_by_pace_group", "cramp_rate_by_wbgt",
    "cramp_rate_by_sex_age", "late_slowdown_by_edition", "late_slowdown_by_finish_band", "survey_risk_factors",
    "race_closures",
)
# Tables without which there is no report (the rest are shown as "not published").
REQUIRED_TABLES = ("races", "participants", "cramp_reports")

# All-cause medical encounters published by the race's medical team, where we know them.
# Boston 2017: 2,596 encounters (958 on course at 26 stations, 1,638 at the finish), 79
# transports; Dave McGillivray press page, ../shared/notes/domain.md §2.1.
KNOWN_ALL_ENCOUNTERS: dict[str, tuple[int, str]] = {
    "boston-2017": (2596, "https://davemcgillivray.com/press/marathoners-who-were-affected-by-heat-are-all-doing-well"),
}

# Racing hours end when this share of finishers is in (the last few stragglers would stretch
# the timeline and the "peak WBGT" into the evening).
RACING_FINISH_QUANTILE = 0.99
# Timeline bucket and the margin shown around racing hours.
TIMELINE_BUCKET = "15m"
TIMELINE_MARGIN = timedelta(hours=1)
TIMELINE_SPAN_WITHOUT_WINDOW = timedelta(hours=24)

NOT_RECORDED = "not recorded"
DISPOSITION_ORDER = (*(d.value for d in Disposition), NOT_RECORDED)

# A series is the race_id without its trailing year: boston-2017 and boston-2018 are both "boston".
SERIES_YEAR = re.compile(r"-(?:19|20)\d\d$")

# The columns each mart table of the report shows (key columns first, then counts and rates).
RATE_TAIL = ("cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count", "simulated",
             "denominator_kind", "rate_unit")
MART_COLUMNS: dict[str, tuple[str, ...]] = {
    "cramp_rate_by_distance": ("segment", "from_km", "to_km", *RATE_TAIL),
    "cramp_rate_by_pace_group": ("grouping", "pace_group", *RATE_TAIL),
    "cramp_rate_by_wbgt": ("wbgt_flag", "wbgt_band", "runner_hours", *RATE_TAIL),
    "cramp_rate_by_station": ("point_id", "kind", "km", *RATE_TAIL),
    "cramp_rate_by_sex_age": ("sex", "age_band", *RATE_TAIL),
    "late_slowdown_by_finish_band": ("finish_band", "runners", "slowed", "share", "ci_low", "ci_high", "median_ratio"),
    "survey_risk_factors": (
        "exposed_means", "exposed_n", "exposed_cramped", "unexposed_n", "unexposed_cramped",
        "prevalence_exposed", "prevalence_unexposed", "odds_ratio", "or_ci_low", "or_ci_high", "simulated",
    ),
}
MART_ORDER: dict[str, tuple[str, ...]] = {
    "cramp_rate_by_distance": ("segment_order",),
    "cramp_rate_by_pace_group": ("grouping", "band_order"),
    "cramp_rate_by_wbgt": ("band_order",),
    "cramp_rate_by_station": ("km", "point_id"),
    "cramp_rate_by_sex_age": ("sex", "age_band"),
    "late_slowdown_by_finish_band": ("band_start_s",),
    "survey_risk_factors": ("factor",),
}


def series_of(race_id: str) -> str:
    """The race series of an edition: the race_id without a trailing -YYYY (else the race_id itself)."""
    return SERIES_YEAR.sub("", race_id)


@dataclass(frozen=True)
class Rate:
    """count / denominator per 1000 with its Wilson 95% CI (None when undefined)."""

    count: int
    denominator: int
    per_1000: float | None
    ci_low: float | None
    ci_high: float | None


def rate_per_1000(count: int, denominator: int) -> Rate:
    if denominator <= 0:
        return Rate(count, denominator, None, None, None)
    per_1000 = count / denominator * PER_1000
    if count > denominator:  # a binomial interval means nothing here
        return Rate(count, denominator, per_1000, None, None)
    low, high = wilson_ci(count, denominator)
    return Rate(count, denominator, per_1000, float(low[0]) * PER_1000, float(high[0]) * PER_1000)


@dataclass(frozen=True)
class Headline:
    starters: int | None  # None when the roster holds finishers only (the starters are not known)
    finishers: int
    roster_holds: str  # counting.roster_holds: "starters" or "finishers"; every rate is named for it
    presentations: int  # aid-station and finish-tent reports, one per report_id
    cases: int  # runners with a presentation, plus presentations without a bib
    per_starters: Rate | None  # None when the roster holds finishers only
    per_finishers: Rate
    all_encounters: int | None
    all_encounters_source: str | None
    dispositions: dict[str, int]
    transports: int
    simulated: bool


@dataclass
class RaceReport:
    race: dict[str, Any]
    series: str
    headline: Headline
    marts: dict[str, pl.DataFrame | None]  # mart name -> the race's rows (None: not published)
    timeline: pl.DataFrame  # bucket_start_utc, presentations, simulated
    wbgt: pl.DataFrame  # observed_at_utc, wbgt_c, wbgt_flag, wbgt_method, wbgt_inputs, simulated (racing hours ± margin)
    slowdown: dict[str, Any] | None
    survey_prevalence: Rate | None
    comparison: pl.DataFrame
    quarantine: pl.DataFrame  # source, check, records (this race)
    quarantine_total: int  # every quarantined record in the warehouse
    quarantine_unattributed: int  # quarantined records that name no race
    closures: list[dict[str, Any]]
    data_as_of_utc: datetime | None
    generated_at_utc: datetime
    simulated_parts: list[str] = field(default_factory=list)

    @property
    def simulated(self) -> bool:
        return bool(self.simulated_parts)


def _require(frames: dict[str, pl.DataFrame | None], race_id: str) -> None:
    missing = [t for t in REQUIRED_TABLES if frames.get(t) is None]
    if missing:
        raise ValueError(f"report for {race_id}: snapshot table {missing[0]!r} is not published; run an import or `racecramp marts` first")
    races = frames["races"]
    if races.filter(pl.col("race_id") == race_id).height == 0:
        known = ", ".join(sorted(races["race_id"].to_list())) or "none"
        raise ValueError(f"report: race_id={race_id!r} is not in the races table (known: {known})")


def _for_race(frame: pl.DataFrame | None, race_id: str) -> pl.DataFrame | None:
    if frame is None:
        return None
    return frame.filter(pl.col("race_id") == race_id)


def medical_presentations(reports: pl.DataFrame, race_id: str) -> pl.DataFrame:
    """The race's aid-station and finish-tent reports, one per report_id (survey rows excluded)."""
    race_reports = reports.filter(pl.col("race_id") == race_id)
    return counted_reports(race_reports).collect()


def _cases(presentations: pl.DataFrame) -> int:
    """Runners with a presentation plus presentations without a bib (the rate marts' rule)."""
    if presentations.height == 0:
        return 0
    return int(presentations["bib"].drop_nulls().n_unique() + presentations["bib"].null_count())


def headline(frames: dict[str, pl.DataFrame | None], race_id: str) -> Headline:
    """Starters, finishers, cramp presentations and cases, rates per 1000 with CIs, dispositions."""
    participants = frames["participants"].filter(pl.col("race_id") == race_id)
    shown = medical_presentations(frames["cramp_reports"], race_id)
    holds = roster_holds_for(participants, race_id) if participants.height else ROSTER_STARTERS
    starters = participants.height if holds == ROSTER_STARTERS else None
    finishers = int(participants["finished"].fill_null(False).sum())
    cases = _cases(shown)
    counts = dict(shown.group_by(pl.col("disposition").fill_null(NOT_RECORDED)).len().iter_rows()) if shown.height else {}
    dispositions = {d: int(counts.get(d, 0)) for d in DISPOSITION_ORDER}
    for other, n in counts.items():  # a value outside the vocabulary would have been quarantined
        dispositions.setdefault(other, int(n))
    known = KNOWN_ALL_ENCOUNTERS.get(race_id)
    return Headline(
        starters=starters,
        finishers=finishers,
        roster_holds=holds,
        presentations=shown.height,
        cases=cases,
        per_starters=rate_per_1000(cases, starters) if starters is not None else None,
        per_finishers=rate_per_1000(cases, finishers),
        all_encounters=known[0] if known else None,
        all_encounters_source=known[1] if known else None,
        dispositions=dispositions,
        transports=dispositions[Disposition.TRANSPORTED.value],
        simulated=bool(shown["simulated"].any()) if shown.height else False,
    )


def mart_rows(frames: dict[str, pl.DataFrame | None], mart: str, race_id: str) -> pl.DataFrame | None:
    """The published mart's rows for the race, in display order, with the columns the report shows."""
    frame = _for_race(frames.get(mart), race_id)
    if frame is None:
        return None
    keep = [c for c in MART_COLUMNS[mart] if c in frame.columns]
    return frame.sort(list(MART_ORDER[mart]), nulls_last=True).select(keep)


def racing_window(participants: pl.DataFrame, race: dict[str, Any]) -> tuple[datetime, datetime] | None:
    """First wave start to the time RACING_FINISH_QUANTILE of finishers were in (wave start + official time), UTC."""
    starts = [w["start_utc"] for w in (race.get("start_waves") or []) if w.get("start_utc") is not None]
    finish = None
    if participants.height:
        finish_times = participants.select(
            (pl.col("wave_start_utc") + pl.duration(seconds=pl.col("official_time_s"))).alias("t")
        ).drop_nulls()
        if finish_times.height:
            finish = finish_times["t"].sort()[int(RACING_FINISH_QUANTILE * (finish_times.height - 1))]
    if not starts:
        return None
    first = min(starts).astimezone(UTC)
    return first, (finish.astimezone(UTC) if finish is not None else first + timedelta(hours=7))


def timeline(presentations: pl.DataFrame, weather_heat: pl.DataFrame | None, race_id: str,
             window: tuple[datetime, datetime] | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Presentations per 15 minutes (zero-filled) and the race's WBGT observations, racing hours ± 1 h."""
    empty_weather = pl.DataFrame(schema={"observed_at_utc": pl.Datetime("us", "UTC"), "wbgt_c": pl.Float64,
                                         "wbgt_flag": pl.String, "wbgt_method": pl.String, "wbgt_inputs": pl.String,
                                         "simulated": pl.Boolean})
    times = presentations.get_column("reported_at_utc").drop_nulls() if presentations.height else pl.Series([], dtype=pl.Datetime("us", "UTC"))
    if window is None and times.len() == 0:
        return pl.DataFrame(schema={"bucket_start_utc": pl.Datetime("us", "UTC"), "presentations": pl.UInt32, "simulated": pl.Boolean}), empty_weather
    # The racing hours bound the timeline; without them the first report does, for at most a day:
    # a report stamped years away can never make the timeline that long.
    low = window[0] if window else times.min()
    high = window[1] if window else min(times.max(), times.min() + TIMELINE_SPAN_WITHOUT_WINDOW)
    low, high = low - TIMELINE_MARGIN, high + TIMELINE_MARGIN
    buckets = pl.DataFrame({"bucket_start_utc": pl.datetime_range(low, high, TIMELINE_BUCKET, eager=True, time_zone="UTC").dt.truncate(TIMELINE_BUCKET)}).unique().sort("bucket_start_utc")
    counts = (
        presentations.filter(pl.col("reported_at_utc").is_between(low, high))
        .group_by(pl.col("reported_at_utc").dt.truncate(TIMELINE_BUCKET).alias("bucket_start_utc"))
        .agg(pl.len().alias("presentations"), pl.col("simulated").any())
    )
    line = (
        buckets.with_columns(pl.col("bucket_start_utc").dt.cast_time_unit("us"))
        .join(counts.with_columns(pl.col("bucket_start_utc").dt.cast_time_unit("us")), on="bucket_start_utc", how="left")
        .with_columns(pl.col("presentations").fill_null(0).cast(pl.UInt32), pl.col("simulated").fill_null(False))
    )
    weather = empty_weather
    if weather_heat is not None and weather_heat.height:
        weather = (
            weather_heat.filter((pl.col("race_id") == race_id) & pl.col("observed_at_utc").is_between(low, high))
            .sort("observed_at_utc")
            .unique("observed_at_utc", keep="first", maintain_order=True)
        )
        weather = weather.select(
            "observed_at_utc", "wbgt_c", "wbgt_flag",
            (pl.col("wbgt_method") if "wbgt_method" in weather.columns else pl.lit(None, dtype=pl.String)).alias("wbgt_method"),
            pl.Series("wbgt_inputs", [describe_wbgt(row) for row in weather.iter_rows(named=True)], dtype=pl.String),
            pl.col("simulated").fill_null(False),
        )
    return line, weather


def comparison(frames: dict[str, pl.DataFrame | None], race: dict[str, Any]) -> pl.DataFrame:
    """This edition and every earlier edition of the same series in the warehouse, oldest first."""
    series = series_of(race["race_id"])
    races = frames["races"].filter(pl.col("race_id").map_elements(series_of, return_dtype=pl.String) == series)
    races = races.filter(pl.col("date") <= race["date"]).sort("date")
    slowdown = frames.get("late_slowdown_by_edition")
    rows = []
    for edition in races.iter_rows(named=True):
        rid = edition["race_id"]
        head = headline(frames, rid)
        participants = frames["participants"].filter(pl.col("race_id") == rid)
        window = racing_window(participants, edition)
        peak = None
        heat = frames.get("weather_heat")
        if heat is not None and window is not None:
            peak = heat.filter((pl.col("race_id") == rid) & pl.col("observed_at_utc").is_between(*window))["wbgt_c"].max()
        slow = _for_race(slowdown, rid)
        rows.append({
            "race_id": rid,
            "date": edition["date"],
            "starters": head.starters,
            "finishers": head.finishers,
            "presentations": head.presentations,
            "cases": head.cases,
            "per_1000_starters": head.per_starters.per_1000 if head.per_starters else None,
            # the interval of the rate over what the roster holds (starters, else finishers)
            "ci_low_per_1000": (head.per_starters or head.per_finishers).ci_low,
            "ci_high_per_1000": (head.per_starters or head.per_finishers).ci_high,
            "denominator_kind": head.roster_holds,
            "per_1000_finishers": head.per_finishers.per_1000,
            "transports": head.transports,
            "late_slowdown_share": slow["share"][0] if slow is not None and slow.height else None,
            "peak_wbgt_c": peak,
            "simulated": head.simulated,
        })
    schema = {"race_id": pl.String, "date": pl.Date, "starters": pl.Int64, "finishers": pl.Int64, "presentations": pl.Int64,
              "cases": pl.Int64, "per_1000_starters": pl.Float64, "ci_low_per_1000": pl.Float64, "ci_high_per_1000": pl.Float64,
              "denominator_kind": pl.String,
              "per_1000_finishers": pl.Float64, "transports": pl.Int64, "late_slowdown_share": pl.Float64,
              "peak_wbgt_c": pl.Float64, "simulated": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def quarantine_for_race(quarantine: pl.DataFrame | None, race_id: str) -> tuple[pl.DataFrame, int, int]:
    """(records per source and check for this race, all quarantined records, records naming no race)."""
    schema = {"source": pl.String, "check": pl.String, "records": pl.UInt32}
    if quarantine is None or quarantine.height == 0:
        return pl.DataFrame(schema=schema), 0, 0
    tagged = quarantine.with_columns(pl.col("record").str.json_path_match("$.race_id").alias("_race"))
    mine = (
        tagged.filter(pl.col("_race") == race_id)
        .group_by("source", "check").agg(pl.len().alias("records"))
        .sort(["records", "source", "check"], descending=[True, False, False])
    )
    return mine, quarantine.height, int(tagged["_race"].null_count())


def survey_prevalence(survey: pl.DataFrame | None, race_id: str) -> Rate | None:
    answered = _for_race(survey, race_id)
    if answered is None:
        return None
    answered = answered.filter(pl.col("cramped").is_not_null())
    if answered.height == 0:
        return None
    return rate_per_1000(int(answered["cramped"].sum()), answered.height)


def build_report(frames: dict[str, pl.DataFrame | None], race_id: str, manifest: dict | None = None,
                 generated_at_utc: datetime | None = None) -> RaceReport:
    """Everything the report shows for one race, from the published snapshot frames."""
    _require(frames, race_id)
    race = frames["races"].filter(pl.col("race_id") == race_id).row(0, named=True)
    head = headline(frames, race_id)
    participants = frames["participants"].filter(pl.col("race_id") == race_id)
    presentations = medical_presentations(frames["cramp_reports"], race_id)
    line, wbgt = timeline(presentations, frames.get("weather_heat"), race_id, racing_window(participants, race))
    marts = {name: mart_rows(frames, name, race_id) for name in MART_COLUMNS}
    slow = _for_race(frames.get("late_slowdown_by_edition"), race_id)
    quarantined, total, unattributed = quarantine_for_race(frames.get("quarantine"), race_id)
    closures = _for_race(frames.get("race_closures"), race_id)
    survey = _for_race(frames.get("survey_responses"), race_id)
    parts = []
    if head.simulated:
        parts.append("cramp reports")
    if survey is not None and survey.height and bool(survey["simulated"].fill_null(False).any()):
        parts.append("finisher survey")
    if participants.height and bool(participants["simulated"].fill_null(False).any()):
        parts.append("participants")
    if wbgt.height and bool(wbgt["simulated"].any()):
        parts.append("weather")
    as_of = (manifest or {}).get("last_ingest_utc")
    return RaceReport(
        race={k: race[k] for k in ("race_id", "name", "date", "timezone", "distance_km")},
        series=series_of(race_id),
        headline=head,
        marts=marts,
        timeline=line,
        wbgt=wbgt,
        slowdown=slow.row(0, named=True) if slow is not None and slow.height else None,
        survey_prevalence=survey_prevalence(frames.get("survey_responses"), race_id),
        comparison=comparison(frames, race),
        quarantine=quarantined,
        quarantine_total=total,
        quarantine_unattributed=unattributed,
        closures=closures.sort("closed_at_utc").to_dicts() if closures is not None else [],
        data_as_of_utc=datetime.fromisoformat(as_of) if as_of else None,
        generated_at_utc=generated_at_utc or datetime.now(UTC),
        simulated_parts=parts,
    )

