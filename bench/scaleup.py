"""Real Boston results as warehouse frames, and a documented 50,000-runner race built from 2017.

Commands (run from the repository root):
  .venv/bin/python bench/scaleup.py late-slowdown   # figures of docs/late_slowdown.md
  .venv/bin/python bench/scaleup.py race            # summary of the scaled race the bench uses

Reading: racecramp.sources.results.read_results with the "boston" mapping, which reads only
Bib, Age, M/F, the split columns and Official Time (Name, City and the other personal
columns are dropped unread); rows it flags as problems are left out, as the ingest would.

Scale-up (`scaled_race`), seeded (SEED), every choice here is arbitrary but fixed:
- all 26,410 real 2017 finishers are kept; the remaining runners up to 50,000 are copies of
  real finishers drawn without replacement; a copy gets bib "C00001"… and its original's
  wave, age and sex;
- a copy's splits are its original's × one factor U(0.97, 1.03) per runner (same pacing
  profile, ±3 % speed) plus U(−5, +5) s independent noise per split (checked still
  increasing); its official time is its jittered finish split;
- declared finish times do not exist in results files: every runner gets a synthetic one,
  official time × exp(N(0, 0.08)) (declared_is_synthetic = true), for the pace-group marts.
Simulated cramp reports (`simulated_reports`), all labelled simulated = true:
- each runner has one report with probability REPORTS_PER_RUNNER = 0.008 (8 per 1000
  starters, inside the 3–10 per 1000 tent anchor of ../shared/notes/domain.md §1.3);
- at an aid station or the finish tent they passed, chosen with weight ∝ km² (late-heavy,
  as cramps are), reported 0–10 min after their estimated passing there;
- 10 % carry no bib (a runner who gave none); 2 % are sent twice (a client retry, same report_id).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

import numpy as np
import polars as pl

from racecramp.data import data_dir
from racecramp.domain import MARATHON_KM, age_band
from racecramp.marts.exposure import STATION_KINDS, exposure_by_point
from racecramp.marts.heat import with_heat
from racecramp.sources.mapping import load_mapping
from racecramp.sources.race import read_race
from racecramp.sources.results import read_results, result_row_problems
from racecramp.sources.weather import read_visualcrossing_csv

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata" / "boston_results"  # beside a checkout (maintainers)
EDITIONS = (2015, 2017, 2018, 2019)
SEED = 20170417
TARGET_RUNNERS = 50_000
SPEED_FACTOR_RANGE = (0.97, 1.03)
SPLIT_NOISE_S = 5.0
DECLARED_LOG_SD = 0.08
REPORTS_PER_RUNNER = 0.008
REPORT_DELAY_MAX_S = 600.0
NO_BIB_SHARE = 0.10
RETRY_SHARE = 0.02
UTC = pl.Datetime("us", "UTC")

def race_file(race_id: str) -> Path:
    return data_dir() / "races" / f"{race_id}.toml"


def course_points(race_id: str) -> pl.DataFrame:
    _, course = read_race(race_file(race_id))
    return course.with_columns(pl.col("km").cast(pl.Float64), pl.col("beds").cast(pl.Int32))


def _wave_starts(race_id: str, bibs: pl.Series) -> pl.DataFrame:
    """(bib, wave, wave_start_utc) from the race file's bib ranges and prefixes."""
    races, _ = read_race(race_file(race_id))
    waves = races["start_waves"][0].to_list()
    frame = pl.DataFrame({"bib": bibs}).with_columns(pl.col("bib").cast(pl.Int64, strict=False).alias("_n"))
    wave = pl.lit(None, dtype=pl.Int32)
    start = pl.lit(None, dtype=UTC)
    for w in reversed(waves):  # the first matching wave wins
        if w["bib_prefix"]:
            hit = pl.col("bib").str.starts_with(w["bib_prefix"])
        else:
            hit = pl.col("_n").is_between(int(w["bib_from"]), int(w["bib_to"]))
        wave = pl.when(hit).then(pl.lit(w["wave"], dtype=pl.Int32)).otherwise(wave)
        start = pl.when(hit).then(pl.lit(w["start_utc"]).cast(UTC)).otherwise(start)
    latest = max(w["start_utc"] for w in waves)
    return frame.select("bib", wave.alias("wave"), pl.coalesce(start, pl.lit(latest).cast(UTC)).alias("wave_start_utc"))


def _with_clock(passings: pl.DataFrame, waves: pl.DataFrame) -> pl.DataFrame:
    return passings.join(waves.select("bib", "wave_start_utc"), on="bib", how="left").select(
        "race_id", "bib", "point_id", "km", "net_time_s",
        (pl.col("wave_start_utc") + pl.duration(microseconds=(pl.col("net_time_s") * 1e6).round().cast(pl.Int64))).alias(
            "passed_at_utc"
        ),
        pl.lit(False).alias("simulated"),
    )  # fmt: skip


def read_boston_results(path: Path, race_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(participants, passings) of one real Boston results file, via sources.results.read_results.

    Rows that result_row_problems flags (what the ingest would quarantine) are left out.
    Wall-clock times use the wave starts of data/races/<race_id>.toml.
    """
    read = read_results(Path(path), load_mapping("boston"), race_id)
    bad = result_row_problems(read.rows, MARATHON_KM)["source_row"].unique()
    rows = read.rows.filter(~pl.col("source_row").is_in(bad.implode()))
    waves = _wave_starts(race_id, rows["bib"])
    participants = rows.join(waves.rename({"wave": "_wave"}), on="bib", how="left").select(
        "race_id", "bib", "sex", "age",
        pl.col("age").map_elements(age_band, return_dtype=pl.String).alias("age_band"),
        pl.coalesce("wave", "_wave").alias("wave"),
        "wave_start_utc", "declared_finish_s",
        pl.lit(False).alias("declared_is_synthetic"),
        "finished", "official_time_s",
        pl.lit(False).alias("simulated"),
    )  # fmt: skip
    passings = rows.select("race_id", "bib", "splits").explode("splits").unnest("splits").drop_nulls("net_time_s")
    return participants, _with_clock(passings, waves).sort("bib", "km")


# --------------------------------------------------------------------------- scale-up


def scaled_race(runners: int = TARGET_RUNNERS, seed: int = SEED) -> dict[str, pl.DataFrame]:
    """participants, passings, course_points, weather (with heat) and simulated reports, 2017 × scale."""
    race_id = "boston-2017"
    rng = np.random.default_rng(seed)
    real_participants, real_passings = read_boston_results(REALDATA / "marathon_results_2017.csv", race_id)
    extra = runners - real_participants.height
    if extra < 0:
        raise ValueError(f"scaled_race: runners={runners} is below the {real_participants.height} real 2017 finishers")
    picks = rng.choice(real_participants.height, size=extra, replace=False)
    copies = pl.DataFrame(
        {
            "bib": real_participants["bib"].gather(picks),
            "_copy_bib": [f"C{i:05d}" for i in range(1, extra + 1)],
            "_factor": rng.uniform(*SPEED_FACTOR_RANGE, size=extra),
        }
    )
    copy_participants = (
        real_participants.join(copies, on="bib", how="inner")
        .with_columns(
            pl.col("_copy_bib").alias("bib"),
            (pl.col("official_time_s") * pl.col("_factor")).round(0).alias("official_time_s"),
        )
        .drop("_copy_bib", "_factor")
    )
    copy_passings = real_passings.join(copies, on="bib", how="inner").sort("_copy_bib", "km")
    noise = rng.uniform(-SPLIT_NOISE_S, SPLIT_NOISE_S, size=copy_passings.height)
    copy_passings = copy_passings.with_columns(
        pl.col("_copy_bib").alias("bib"),
        (pl.col("net_time_s") * pl.col("_factor") + pl.Series(noise)).round(0).alias("net_time_s"),
    ).drop("_copy_bib", "_factor")
    # Real splits are >= 3 min apart, so +-5 s noise keeps them increasing; check rather than hope.
    steps = copy_passings.sort("bib", "km").select(pl.col("net_time_s").diff().over("bib").min())
    if steps.item() is not None and steps.item() <= 0:
        raise ValueError("scaled_race: jitter made a runner's splits decrease; lower SPLIT_NOISE_S")
    # the finish passing is the official time; keep the two equal after jitter
    finish = copy_passings.filter(pl.col("point_id") == "finish").select("bib", pl.col("net_time_s").alias("_finish_s"))
    copy_participants = copy_participants.join(finish, on="bib", how="left").with_columns(
        pl.coalesce("_finish_s", "official_time_s").alias("official_time_s")
    ).drop("_finish_s")
    waves = copy_participants.select("bib", "wave_start_utc")
    participants = pl.concat([real_participants, copy_participants])
    passings = pl.concat([real_passings, _with_clock(copy_passings.drop("passed_at_utc", "simulated"), waves)])
    declared = participants["official_time_s"].to_numpy() * np.exp(rng.normal(0.0, DECLARED_LOG_SD, size=participants.height))
    participants = participants.with_columns(
        pl.Series("declared_finish_s", np.round(declared, 0)), pl.lit(True).alias("declared_is_synthetic")
    )
    course = course_points(race_id)
    weather = with_heat(
        read_visualcrossing_csv(data_dir() / "weather" / "boston_hourly.csv", "Boston Marathon", 2017).lazy()
    ).collect()
    reports = simulated_reports(participants, passings, course, seed=seed + 1)
    return {"participants": participants, "passings": passings.sort("bib", "km"), "course_points": course,
            "weather": weather, "cramp_reports": reports}  # fmt: skip


def simulated_reports(participants: pl.DataFrame, passings: pl.DataFrame, course: pl.DataFrame, seed: int = SEED) -> pl.DataFrame:
    """Cramp reports drawn as documented in the module docstring (all simulated = true)."""
    rng = np.random.default_rng(seed)
    exposure = exposure_by_point(passings, participants, course).filter(pl.col("kind").is_in(STATION_KINDS)).collect()
    bibs = participants["bib"].to_numpy()
    cramped = bibs[rng.random(len(bibs)) < REPORTS_PER_RUNNER]
    options = exposure.filter(pl.col("bib").is_in(cramped.tolist())).sort("bib", "km")
    rows = []
    for (bib,), group in options.group_by("bib", maintain_order=True):
        weights = group["km"].to_numpy() ** 2
        pick = group.row(int(rng.choice(group.height, p=weights / weights.sum())), named=True)
        delay_us = int(rng.uniform(0, REPORT_DELAY_MAX_S) * 1e6)
        rows.append(
            {
                "report_id": str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)))),
                "race_id": pick["race_id"],
                "source": "finish_tent" if pick["kind"] == "medical_tent" else "aid_station",
                "simulated": True,
                "point_id": pick["point_id"],
                "km": pick["km"],
                "bib": None if rng.random() < NO_BIB_SHARE else bib,
                "reported_at_utc": pick["passed_at_utc"] + np.timedelta64(delay_us, "us").item(),
                "muscle_group": "calf",
                "severity": "mild",
                "treatment": "stretch_massage",
                "disposition": "returned_to_race",
                "entered_by": pick["point_id"],
            }
        )
    reports = pl.DataFrame(rows, schema_overrides={"reported_at_utc": UTC, "bib": pl.String})
    retries = reports.filter(pl.Series(rng.random(reports.height) < RETRY_SHARE))
    return pl.concat([reports, retries])


# --------------------------------------------------------------------------- commands


def late_slowdown_tables() -> str:
    from racecramp.marts.slowdown import late_slowdown_by_edition, late_slowdown_by_finish_band  # noqa: PLC0415

    parts, passes = [], []
    for year in EDITIONS:
        p, s = read_boston_results(REALDATA / f"marathon_results_{year}.csv", f"boston-{year}")
        parts.append(p)
        passes.append(s)
    participants, passings = pl.concat(parts, how="diagonal_relaxed"), pl.concat(passes, how="diagonal_relaxed")
    edition = late_slowdown_by_edition(participants, passings).collect()
    bands = late_slowdown_by_finish_band(participants, passings).collect()
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    lines = ["| race | runners | slowed | share | 95% CI (Wilson) | median late/early |", "|---|---:|---:|---:|---:|---:|"]
    for r in edition.iter_rows(named=True):
        lines.append(
            f"| {r['race_id']} | {r['runners']:,} | {r['slowed']:,} | {pct(r['share'])} % | "
            f"{pct(r['ci_low'])} – {pct(r['ci_high'])} % | {r['median_ratio']:.3f} |"
        )
    lines += ["", "Share slowed by official finish time (30-minute bands), % (runners):", ""]
    band_names = bands.sort("band_start_s")["finish_band"].unique(maintain_order=True).to_list()
    lines.append("| finish band | " + " | ".join(f"boston-{y}" for y in EDITIONS) + " |")
    lines.append("|---|" + "---:|" * len(EDITIONS))
    for band in band_names:
        cells = []
        for year in EDITIONS:
            hit = bands.filter((pl.col("race_id") == f"boston-{year}") & (pl.col("finish_band") == band))
            if hit.height == 0:
                cells.append("–")
            else:
                r = hit.row(0, named=True)
                cells.append(f"{pct(r['share'])} ({pct(r['ci_low'])}–{pct(r['ci_high'])}; n={r['runners']:,})")
        lines.append(f"| {band} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["late-slowdown", "race"])
    parser.add_argument("--runners", type=int, default=TARGET_RUNNERS)
    args = parser.parse_args(argv)
    if args.command == "late-slowdown":
        print(late_slowdown_tables())
    else:
        race = scaled_race(args.runners)
        for name, frame in race.items():
            print(f"{name}: {frame.height:,} rows")
        print(f"reports simulated: {race['cramp_reports']['simulated'].all()}, without bib: {race['cramp_reports']['bib'].null_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
