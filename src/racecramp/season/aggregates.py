"""Season analytics: per-edition counts, pooled across editions by summing, with Wilson CIs.

Pure polars, no I/O. Each edition is reduced to small count tables (edition_aggregates),
computed with the same transforms as the race marts, so a season row is exactly the sum of
the matching race-mart rows. Pooling adds counts (SeasonAccumulator): integer sums do not
depend on the order the editions arrive in, and the accumulator holds one row per band,
not one per edition, for the band tables.

Pooled tables (docs/season.md):
- season_cramp_rate_by_wbgt: cramp cases per 1000 runners on course at some time in each ACSM
  flag band of the WBGT (the cases and `runners` of marts.rates.cramp_rate_by_wbgt summed over
  editions; the race mart's own rate is per 1000 runner-hours, which this pooled table does not
  carry yet);
- season_cramp_rate_by_pace_group: cramped runners per 1000 starters by declared-pace band
  and by relative pace (cramp_rate_by_pace_group summed over editions);
- season_by_race_day_wbgt: per flag of the race-day WBGT (the peak WBGT of the race, below),
  cramped runners per 1000 starters and the late-slowdown share, summed over the editions
  in that band;
- season_editions: one row per edition: race-day WBGT, cramp rate, late-slowdown share.

Race-day WBGT of an edition: the highest WBGT of the race's preferred weather source
(heat.preferred_weather_source) among the observations from the one in force at the first
wave start to the last passing. Null without weather in that window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from racecramp.domain import MARATHON_KM, PointKind
from racecramp.marts.counting import counted_reports
from racecramp.marts.exposure import exposure_by_point
from racecramp.marts.heat import preferred_weather_source, wbgt_flag
from racecramp.marts.rates import NO_WEATHER, WBGT_BAND_LABELS, WBGT_FLAG_ORDER, cramp_rate_by_pace_group, cramp_rate_by_wbgt
from racecramp.marts.slowdown import late_slowdown_by_edition
from racecramp.marts.stats import with_rate_columns

WBGT_KEYS = ("wbgt_flag", "wbgt_band", "band_order")
PACE_KEYS = ("grouping", "pace_group", "band_order")
EDITION_COLUMNS = (
    "race_id", "starters", "cases", "race_day_wbgt_c", "race_day_wbgt_flag", "slowdown_runners", "slowed", "simulated",
)  # fmt: skip
COUNT = pl.Int64

_FLAGS = [f.value for f in WBGT_FLAG_ORDER]
RACE_DAY_BANDS = pl.DataFrame(
    {
        "race_day_wbgt_flag": [*_FLAGS, NO_WEATHER],
        "wbgt_band": [*(WBGT_BAND_LABELS[f] for f in _FLAGS), NO_WEATHER],
        "band_order": list(range(len(_FLAGS) + 1)),
    },
    schema={"race_day_wbgt_flag": pl.String, "wbgt_band": pl.String, "band_order": pl.Int64},
)


@dataclass(frozen=True)
class EditionAggregates:
    """What one edition contributes: counts only (a few dozen rows), no runner rows."""

    wbgt: pl.DataFrame  # race_id, wbgt_flag, wbgt_band, band_order, cases, runners, simulated
    pace: pl.DataFrame  # race_id, grouping, pace_group, band_order, cases, runners, simulated
    edition: pl.DataFrame  # one row: EDITION_COLUMNS


def _finish_km(course_points: pl.DataFrame) -> float:
    finish = course_points.filter(pl.col("kind") == PointKind.FINISH.value)["km"]
    return float(finish.max()) if finish.len() else MARATHON_KM


def race_day_wbgt(participants: pl.DataFrame, passings: pl.DataFrame, weather_heat: pl.DataFrame) -> float | None:
    """Peak WBGT (°C) of the race's preferred source from the observation in force at the
    first wave start to the last passing; None without such observations."""
    starts = participants["wave_start_utc"].drop_nulls()
    first = starts.min() if starts.len() else passings["passed_at_utc"].min()
    last = passings["passed_at_utc"].max()
    if first is None or last is None or weather_heat.height == 0:
        return None
    chosen = preferred_weather_source(weather_heat.lazy(), None).collect()["source"][0]
    obs = weather_heat.filter((pl.col("source") == chosen) & pl.col("wbgt_c").is_not_null()).sort("observed_at_utc")
    in_force = obs.filter(pl.col("observed_at_utc") <= first)["observed_at_utc"].max()
    window_from = in_force if in_force is not None else first
    window = obs.filter(pl.col("observed_at_utc").is_between(window_from, last))
    return float(window["wbgt_c"].max()) if window.height else None


def edition_aggregates(frames: dict[str, pl.DataFrame]) -> EditionAggregates:
    """Count tables of one edition from its participants, passings, course_points, cramp_reports, weather_heat."""
    participants, passings = frames["participants"], frames["passings"]
    course, reports, weather = frames["course_points"], frames["cramp_reports"], frames["weather_heat"]
    race_ids = participants["race_id"].unique().to_list()
    if len(race_ids) != 1:
        raise ValueError(f"edition_aggregates: participants hold race_ids {sorted(map(str, race_ids))}; expected exactly one edition")
    race_id = race_ids[0]
    exposure = exposure_by_point(passings, participants, course).collect()
    wbgt, pace, slowdown = pl.collect_all(
        [
            cramp_rate_by_wbgt(reports, exposure, weather).select("race_id", *WBGT_KEYS, "cases", "runners", "simulated"),
            cramp_rate_by_pace_group(reports, participants, passings, _finish_km(course)).select(
                "race_id", *PACE_KEYS, "cases", "runners", "simulated"
            ),
            late_slowdown_by_edition(participants, passings),
        ]
    )
    # Edition cramp rate: runners with a bib-linked report, over starters (as the pace mart).
    linked = counted_reports(reports).filter(pl.col("bib").is_not_null()).join(
        participants.lazy().select("race_id", "bib"), on=["race_id", "bib"], how="semi"
    )
    cases = linked.select(pl.col("bib").n_unique()).collect().item()
    peak = race_day_wbgt(participants, passings, weather)
    simulated = bool(
        participants["simulated"].fill_null(False).any()
        or reports["simulated"].fill_null(False).any()
        or ("simulated" in weather.columns and weather["simulated"].fill_null(False).any())
    )
    edition = pl.DataFrame(
        {
            "race_id": [race_id],
            "starters": [participants.height],
            "cases": [cases],
            "race_day_wbgt_c": [peak],
            "slowdown_runners": [int(slowdown["runners"].sum())],
            "slowed": [int(slowdown["slowed"].sum())],
            "simulated": [simulated],
        },
        schema={"race_id": pl.String, "starters": COUNT, "cases": COUNT, "race_day_wbgt_c": pl.Float64,
                "slowdown_runners": COUNT, "slowed": COUNT, "simulated": pl.Boolean},
    ).with_columns(wbgt_flag("race_day_wbgt_c").fill_null(NO_WEATHER).alias("race_day_wbgt_flag")).select(EDITION_COLUMNS)  # fmt: skip
    counts = [pl.col("cases").cast(COUNT), pl.col("runners").cast(COUNT)]
    return EditionAggregates(wbgt=wbgt.with_columns(counts), pace=pace.with_columns(counts), edition=edition)


def _pool(frames: list[pl.DataFrame], keys: tuple[str, ...]) -> pl.DataFrame:
    """Sum cases/runners (and editions, if present) per key; a row with runners > 0 is one edition."""
    counted = [
        f if "editions" in f.columns else f.with_columns((pl.col("runners") > 0).cast(COUNT).alias("editions")) for f in frames
    ]
    stacked = pl.concat([f.select(*keys, "editions", "cases", "runners", "simulated") for f in counted], how="vertical_relaxed")
    return stacked.group_by(*keys).agg(
        pl.col("editions").sum().cast(COUNT),
        pl.col("cases").sum().cast(COUNT),
        pl.col("runners").sum().cast(COUNT),
        pl.col("simulated").any(),
    )


@dataclass
class SeasonAccumulator:
    """Running pooled counts: add editions one at a time, in any order; memory stays one row
    per band (plus one row per edition in the small editions table)."""

    wbgt: pl.DataFrame | None = None
    pace: pl.DataFrame | None = None
    editions: list[pl.DataFrame] = field(default_factory=list)

    def add(self, part: EditionAggregates) -> None:
        self.wbgt = _pool([f for f in (self.wbgt, part.wbgt.drop("race_id")) if f is not None], WBGT_KEYS)
        self.pace = _pool([f for f in (self.pace, part.pace.drop("race_id")) if f is not None], PACE_KEYS)
        self.editions.append(part.edition)

    def result(self) -> dict[str, pl.DataFrame]:
        if self.wbgt is None or self.pace is None:
            raise ValueError("season: no editions were added; expected at least one edition in the dataset")
        return pooled_tables(self.wbgt, self.pace, pl.concat(self.editions, how="vertical_relaxed"))


def pooled_tables(wbgt: pl.DataFrame, pace: pl.DataFrame, editions: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The four season tables from pooled band counts and the per-edition rows."""
    tail = ["editions", "cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count", "simulated"]
    by_wbgt = (
        with_rate_columns(wbgt)
        .with_columns(pl.lit("runners on course at some time in the band").alias("denominator_kind"))
        .select(*WBGT_KEYS, *tail, "denominator_kind")
        .sort("band_order")
    )
    by_pace = (
        with_rate_columns(pace)
        .with_columns(pl.lit("starters in the group").alias("denominator_kind"))
        .select(*PACE_KEYS, *tail, "denominator_kind")
        .sort("grouping", "band_order")
    )
    per_edition = _with_share(with_rate_columns(editions.sort("race_id"), "cases", "starters"))
    per_edition = per_edition.with_columns(
        pl.col("race_id").str.replace(r"-[^-]*$", "").alias("series"),
        pl.when(pl.col("race_id").str.contains("-"))
        .then(pl.col("race_id").str.extract(r"-([^-]*)$", 1))
        .otherwise(pl.lit("_"))
        .alias("edition"),
    ).select(
        "race_id", "series", "edition", "race_day_wbgt_c", "race_day_wbgt_flag", "starters", "cases",
        "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count",
        "slowdown_runners", "slowed", "slowdown_share", "slowdown_ci_low", "slowdown_ci_high", "simulated",
    )  # fmt: skip
    race_day = (
        editions.group_by("race_day_wbgt_flag")
        .agg(
            pl.len().cast(COUNT).alias("editions"),
            pl.col("starters").sum().cast(COUNT),
            pl.col("cases").sum().cast(COUNT),
            pl.col("slowdown_runners").sum().cast(COUNT),
            pl.col("slowed").sum().cast(COUNT),
            pl.col("simulated").any(),
        )
        .join(RACE_DAY_BANDS, on="race_day_wbgt_flag", how="left")
    )
    race_day = _with_share(with_rate_columns(race_day, "cases", "starters")).select(
        "race_day_wbgt_flag", "wbgt_band", "band_order", "editions", "starters", "cases",
        "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count",
        "slowdown_runners", "slowed", "slowdown_share", "slowdown_ci_low", "slowdown_ci_high", "simulated",
    ).sort("band_order")  # fmt: skip
    return {
        "season_cramp_rate_by_wbgt": by_wbgt,
        "season_cramp_rate_by_pace_group": by_pace,
        "season_by_race_day_wbgt": race_day,
        "season_editions": per_edition,
    }


def _with_share(frame: pl.DataFrame) -> pl.DataFrame:
    """slowdown_share and its Wilson 95% CI (proportions) from slowed / slowdown_runners."""
    renamed = {"rate_per_1000": "_r", "ci_low_per_1000": "_l", "ci_high_per_1000": "_h", "small_count": "_s"}
    shares = with_rate_columns(frame.rename(renamed), "slowed", "slowdown_runners")
    return shares.with_columns(
        (pl.col("rate_per_1000") / 1000).alias("slowdown_share"),
        (pl.col("ci_low_per_1000") / 1000).alias("slowdown_ci_low"),
        (pl.col("ci_high_per_1000") / 1000).alias("slowdown_ci_high"),
    ).drop("rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count").rename({v: k for k, v in renamed.items()})


def pool_editions(parts: list[EditionAggregates]) -> dict[str, pl.DataFrame]:
    """The season tables from every edition's aggregates (order does not matter)."""
    acc = SeasonAccumulator()
    for part in parts:
        acc.add(part)
    return acc.result()
