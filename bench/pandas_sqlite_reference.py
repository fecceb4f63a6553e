"""The race marts again, written the straightforward way: pandas for the per-runner work, sqlite3 SQL for counting.

It exists to check racecramp.marts (same definitions, written independently: its own
Wilson formula, its own interpolation with pandas.merge_asof, GROUP BY in SQL) and to give
the benchmark a baseline (bench/marts_bench.py). Not used by the product.

`reference_marts(inputs)` takes the same input frames as the polars marts (polars DataFrames,
converted to pandas here) and returns pandas DataFrames with the same columns and row order.
"""

from __future__ import annotations

import math
import sqlite3
from statistics import NormalDist

import numpy as np
import pandas as pd
import polars as pl

MARATHON_KM = 42.195
Z95 = NormalDist().inv_cdf(0.975)
SMALL_COUNT_BELOW = 5
SLOWDOWN_RATIO = 1.25
STATION_KINDS = ("aid_station", "medical_tent")
TIMING_KINDS = ("timing_mat", "finish")
PACE_EDGES = (270.0, 300.0, 330.0, 360.0, 420.0)
PACE_LABELS = ("<4:30", "4:30–5:00", "5:00–5:30", "5:30–6:00", "6:00–7:00", "≥7:00")
RELATIVE_LABELS = ("<0.95 (faster than declared)", "0.95–1.05", ">1.05")
RELATIVE_FAST, RELATIVE_SLOW = 0.95, 1.05
ROUNDING = 6  # paces are rounded to 6 decimals before banding (rates.BAND_ROUNDING_DECIMALS)
FLAGS = ("white", "green", "yellow", "red", "black")
FLAG_BANDS = ("<10 °C", "10–18 °C", "18–23 °C", "23–28 °C", ">28 °C")
SOURCE_PRIORITY = ("iem-asos", "visualcrossing", "open-meteo", "replay")
WEATHER_TOLERANCE = pd.Timedelta(minutes=90)
BUCKET_US = 15 * 60 * 1_000_000
TAIL = ["cases", "runners", "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "small_count", "simulated", "denominator_kind"]


# --------------------------------------------------------------------------- helpers


def wilson_per_1000(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Textbook Wilson score interval × 1000; NaN where n = 0 or k > n."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = (n > 0) & (k <= n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        z2 = Z95 * Z95
        denom = 1 + z2 / n
        centre = (p + z2 / (2 * n)) / denom
        half = Z95 / denom * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = np.where(ok, np.clip(centre - half, 0, 1) * 1000, np.nan)
    high = np.where(ok, np.clip(centre + half, 0, 1) * 1000, np.nan)
    return low, high


def add_rates(df: pd.DataFrame, num: str = "cases", den: str = "runners") -> pd.DataFrame:
    df = df.copy()
    k = df[num].to_numpy(dtype=float)
    n = df[den].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["rate_per_1000"] = np.where(n > 0, k / n * 1000, np.nan)
    df["ci_low_per_1000"], df["ci_high_per_1000"] = wilson_per_1000(k, n)
    df["small_count"] = k < SMALL_COUNT_BELOW
    return df


def us(series: pd.Series) -> pd.Series:
    """tz-aware datetimes -> microseconds since the epoch (int64)."""
    return series.dt.as_unit("us").astype("int64")


def km_label(km: float) -> str:
    return f"{km:g}" if float(km).is_integer() else f"{km:.1f}"


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return frame.to_pandas()


def clean_reports(reports: pd.DataFrame) -> pd.DataFrame:
    r = reports.copy()
    r["bib"] = r["bib"].astype(object).where(r["bib"].notna(), None)
    r["bib"] = r["bib"].map(lambda b: None if b is None or str(b).strip() == "" else str(b).strip())
    r["simulated"] = r["simulated"].fillna(False).astype(bool)
    r["km"] = r["km"].astype(float)
    r["_t"] = us(r["reported_at_utc"])
    r = r.sort_values(["report_id", "_t"], kind="stable").drop_duplicates("report_id", keep="first")
    return r


def sql(con: sqlite3.Connection, query: str, params: tuple = ()) -> pd.DataFrame:
    return pd.read_sql_query(query, con, params=params)


CASES_SQL = "COUNT(DISTINCT bib) + SUM(CASE WHEN bib IS NULL THEN 1 ELSE 0 END) AS cases, MAX(simulated) AS _sim_reports"


def finish(df: pd.DataFrame, keys: list[str], kind: str) -> pd.DataFrame:
    df = df.copy()
    df["cases"] = df["cases"].fillna(0).astype("int64")
    df["runners"] = df["runners"].fillna(0).astype("int64")
    df["simulated"] = df["_sim_reports"].fillna(0).astype(bool) | df["_sim_runners"].fillna(0).astype(bool)
    df["denominator_kind"] = kind
    return add_rates(df)[keys + TAIL]


# --------------------------------------------------------------------------- exposure


def exposure(passings: pd.DataFrame, participants: pd.DataFrame, course: pd.DataFrame) -> pd.DataFrame:
    """Runner × point passed, with linearly interpolated times (pandas.merge_asof)."""
    course = course[["race_id", "point_id", "kind", "km"]].astype({"km": float})
    p = passings[["race_id", "bib", "point_id", "km", "net_time_s", "passed_at_utc", "simulated"]].merge(
        course[["race_id", "point_id", "km"]].rename(columns={"km": "course_km"}), on=["race_id", "point_id"], how="left"
    )
    p["km"] = p["course_km"].fillna(p["km"]).astype(float)
    p["net_time_s"] = p["net_time_s"].astype(float)
    p["t"] = us(p["passed_at_utc"]).astype(float)
    p = p.merge(participants[["race_id", "bib"]], on=["race_id", "bib"], how="inner")
    first = p.sort_values(["km", "point_id"], kind="stable").groupby(["race_id", "bib"], as_index=False).first()
    first["start_t"] = first["t"] - first["net_time_s"] * 1e6
    sim_p = p.groupby(["race_id", "bib"], as_index=False)["simulated"].any().rename(columns={"simulated": "sim_p"})
    runners = participants[["race_id", "bib", "wave_start_utc", "simulated"]].copy()
    runners = runners.merge(first[["race_id", "bib", "start_t"]], on=["race_id", "bib"], how="left")
    runners["no_passing"] = runners["start_t"].isna()
    runners["start_t"] = runners["start_t"].fillna(us(runners["wave_start_utc"]).astype(float))
    runners = runners.merge(sim_p, on=["race_id", "bib"], how="left")
    runners["simulated"] = runners["simulated"].fillna(False).astype(bool) | runners["sim_p"].fillna(False).astype(bool)
    furthest = p.groupby(["race_id", "bib"], as_index=False)["km"].max().rename(columns={"km": "furthest_km"})
    runners = runners.merge(furthest, on=["race_id", "bib"], how="left")
    runners["furthest_km"] = runners["furthest_km"].fillna(0.0)

    start_rows = pd.DataFrame(
        {
            "race_id": runners["race_id"], "point_id": "start", "kind": "start", "km": 0.0, "bib": runners["bib"],
            "t": runners["start_t"], "net_time_s": 0.0, "time_estimated": runners["no_passing"],
            "simulated": runners["simulated"],
        }
    )  # fmt: skip
    anchors = pd.concat(
        [
            runners[["race_id", "bib"]].assign(km=0.0, net_time_s=0.0, t=runners["start_t"]),
            p[["race_id", "bib", "km", "net_time_s", "t"]],
        ]
    )
    anchors = anchors.sort_values("km", kind="stable")
    cand = runners[["race_id", "bib", "furthest_km", "simulated"]].merge(course, on="race_id")
    cand = cand[cand["km"] <= cand["furthest_km"]].sort_values("km", kind="stable")
    lo = anchors.rename(columns={"km": "lo_km", "net_time_s": "lo_n", "t": "lo_t"})
    hi = anchors.rename(columns={"km": "hi_km", "net_time_s": "hi_n", "t": "hi_t"})
    cand = pd.merge_asof(cand, lo, left_on="km", right_on="lo_km", by=["race_id", "bib"], direction="backward")
    cand = pd.merge_asof(cand, hi, left_on="km", right_on="hi_km", by=["race_id", "bib"], direction="forward")
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(cand["hi_km"] > cand["lo_km"], (cand["km"] - cand["lo_km"]) / (cand["hi_km"] - cand["lo_km"]), 0.0)
    cand["t"] = np.where(cand["hi_t"].isna(), cand["lo_t"], cand["lo_t"] + frac * (cand["hi_t"] - cand["lo_t"]))
    cand["net_time_s"] = np.where(cand["hi_n"].isna(), cand["lo_n"], cand["lo_n"] + frac * (cand["hi_n"] - cand["lo_n"]))
    own = p[["race_id", "bib", "point_id"]].assign(own=True)
    cand = cand.merge(own, on=["race_id", "bib", "point_id"], how="left")
    cand["time_estimated"] = cand["own"].isna()
    out = pd.concat([start_rows, cand[start_rows.columns]], ignore_index=True)
    out["passed_at_us"] = np.round(out["t"].to_numpy()).astype("int64")
    return out.drop(columns="t")


# --------------------------------------------------------------------------- marts


def by_distance(con, course: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    timing = course[course["kind"].isin(TIMING_KINDS)].sort_values(["race_id", "km"], kind="stable")
    rows = []
    for race_id, pts in timing.groupby("race_id", sort=True):
        chain = [("start", "start", 0.0)] + list(zip(pts["point_id"], pts["kind"], pts["km"].astype(float)))
        for i, (pid, kind, km) in enumerate(chain):
            if i + 1 < len(chain):
                to_id, to_kind, to_km = chain[i + 1]
                seg = f"{km_label(km)}–{'finish' if to_kind == 'finish' else km_label(to_km)}"
            else:
                to_id, to_km = None, None
                seg = "finish/after" if kind == "finish" else f"{km_label(km)}/after"
            rows.append((race_id, seg, i, pid, to_id, km, to_km))
    segments = pd.DataFrame(rows, columns=["race_id", "segment", "segment_order", "from_point", "to_point", "from_km", "to_km"])
    r = reports.merge(course[["race_id", "point_id", "km"]].rename(columns={"km": "point_km"}), on=["race_id", "point_id"], how="left")
    r["place_km"] = r["km"].fillna(r["point_km"])
    placed = r[r["place_km"].notna() & (r["place_km"] >= 0)].sort_values("place_km", kind="stable")
    placed = pd.merge_asof(
        placed, segments[["race_id", "segment", "from_km"]].sort_values("from_km", kind="stable"),
        left_on="place_km", right_on="from_km", by="race_id", direction="backward",
    )  # fmt: skip
    unknown = r[r["place_km"].isna() | (r["place_km"] < 0)].assign(segment="km unknown")
    located = pd.concat([placed[["race_id", "segment", "bib", "simulated"]], unknown[["race_id", "segment", "bib", "simulated"]]])
    located.to_sql("located", con, index=False, if_exists="replace")
    cases = sql(con, f"SELECT race_id, segment, {CASES_SQL} FROM located GROUP BY race_id, segment")
    entered = sql(
        con,
        "SELECT race_id, point_id AS from_point, COUNT(*) AS runners, MAX(simulated) AS _sim_runners "
        "FROM exposure GROUP BY race_id, point_id",
    )
    out = segments.merge(entered, on=["race_id", "from_point"], how="left").merge(cases, on=["race_id", "segment"], how="left")
    unk = cases[cases["segment"] == "km unknown"].assign(
        segment_order=10_000, from_point=None, to_point=None, from_km=np.nan, to_km=np.nan, runners=0, _sim_runners=0
    )
    out = pd.concat([out, unk], ignore_index=True).sort_values(["race_id", "segment_order"], kind="stable")
    keys = ["race_id", "segment", "segment_order", "from_point", "to_point", "from_km", "to_km"]
    return finish(out, keys, "runners who entered the segment")


def by_station(con, reports: pd.DataFrame) -> pd.DataFrame:
    reports[reports["point_id"].notna()][["race_id", "point_id", "bib", "simulated"]].to_sql("rep", con, index=False, if_exists="replace")
    out = sql(
        con,
        f"""
        WITH counts AS (
            SELECT race_id, point_id, MIN(kind) AS kind, MIN(km) AS km, COUNT(*) AS runners, MAX(simulated) AS _sim_runners
            FROM exposure GROUP BY race_id, point_id),
        cases AS (SELECT race_id, point_id, {CASES_SQL} FROM rep GROUP BY race_id, point_id),
        keys AS (
            SELECT race_id, point_id FROM counts WHERE kind IN ('aid_station', 'medical_tent')
            UNION SELECT race_id, point_id FROM cases)
        SELECT k.race_id, k.point_id, c.kind, c.km, c.runners, c._sim_runners, s.cases, s._sim_reports
        FROM keys k LEFT JOIN counts c USING (race_id, point_id) LEFT JOIN cases s USING (race_id, point_id)
        """,
    )
    out = out.sort_values(["race_id", "km", "point_id"], na_position="last", kind="stable")
    return finish(out, ["race_id", "point_id", "kind", "km"], "runners who passed the point")


def _declared_band(pace: pd.Series) -> pd.Series:
    pace = pace.round(ROUNDING)
    idx = np.searchsorted(np.array(PACE_EDGES), pace.to_numpy(dtype=float), side="right")
    labels = np.array(PACE_LABELS, dtype=object)[np.minimum(idx, len(PACE_LABELS) - 1)]
    return pd.Series(np.where(pace.isna(), "undeclared", labels), index=pace.index, dtype=object)


def _relative_band(declared: pd.Series, rel: pd.Series) -> pd.Series:
    rel = rel.round(ROUNDING)
    out = np.select(
        [declared.isna(), rel.isna(), rel < RELATIVE_FAST, rel <= RELATIVE_SLOW],
        ["undeclared", "no passing", RELATIVE_LABELS[0], RELATIVE_LABELS[1]],
        RELATIVE_LABELS[2],
    )
    return pd.Series(out, index=rel.index, dtype=object)


def by_pace_group(reports: pd.DataFrame, participants: pd.DataFrame, passings: pd.DataFrame, distance_km: float) -> pd.DataFrame:
    pace = passings[passings["km"] > 0][["race_id", "bib", "km", "net_time_s", "passed_at_utc"]].copy()
    pace["pace"] = pace["net_time_s"] / pace["km"]
    pace["_t"] = us(pace["passed_at_utc"])
    g = pace.groupby(["race_id", "bib"])
    furthest = pace.loc[g["km"].idxmax(), ["race_id", "bib", "pace"]].rename(columns={"pace": "pace_far"})
    first = pace.loc[g["km"].idxmin(), ["race_id", "bib", "pace"]].rename(columns={"pace": "pace_first"})
    runners = participants[["race_id", "bib", "declared_finish_s", "simulated"]].copy()
    runners["declared_pace"] = runners["declared_finish_s"].astype(float) / distance_km
    runners = runners.merge(furthest, on=["race_id", "bib"], how="left").merge(first, on=["race_id", "bib"], how="left")
    runners["declared_pace_group"] = _declared_band(runners["declared_pace"])
    runners["relative_pace_group"] = _relative_band(runners["declared_pace"], runners["pace_far"] / runners["declared_pace"])
    runners["simulated"] = runners["simulated"].fillna(False).astype(bool)

    linked = reports[reports["bib"].notna()].merge(participants[["race_id", "bib"]], on=["race_id", "bib"], how="inner")
    firsts = linked.sort_values(["race_id", "bib", "_t", "report_id"], kind="stable").drop_duplicates(["race_id", "bib"], keep="first")
    by_time = pd.merge_asof(
        firsts[["race_id", "bib", "report_id", "_t"]].sort_values("_t", kind="stable"),
        pace[["race_id", "bib", "_t", "km"]].rename(columns={"_t": "_pt", "km": "km_by_time"}).sort_values("_pt", kind="stable"),
        left_on="_t", right_on="_pt", by=["race_id", "bib"], direction="backward",
    )  # fmt: skip
    firsts = firsts.merge(by_time[["report_id", "km_by_time"]], on="report_id", how="left")
    firsts["report_km"] = firsts["km"].fillna(firsts["km_by_time"])
    with_km = firsts[firsts["report_km"].notna()].sort_values("report_km", kind="stable")
    matched = pd.merge_asof(
        with_km,
        pace[["race_id", "bib", "km", "pace"]].rename(columns={"km": "pass_km"}).sort_values("pass_km", kind="stable"),
        left_on="report_km", right_on="pass_km", by=["race_id", "bib"], direction="backward",
    )  # fmt: skip
    cases = pd.concat([matched, firsts[firsts["report_km"].isna()].assign(pace=np.nan)], ignore_index=True)
    cases = cases.merge(
        runners[["race_id", "bib", "declared_pace", "declared_pace_group", "pace_first"]], on=["race_id", "bib"], how="left"
    )
    cases["relative_pace_group"] = _relative_band(cases["declared_pace"], cases["pace"].fillna(cases["pace_first"]) / cases["declared_pace"])

    out = []
    races = sorted(participants["race_id"].unique())
    for grouping, labels in (
        ("declared_pace", (*PACE_LABELS, "undeclared")),
        ("relative_pace", (*RELATIVE_LABELS, "undeclared", "no passing")),
    ):
        col = f"{grouping}_group"
        den = runners.groupby(["race_id", col], as_index=False).agg(runners=("bib", "size"), _sim_runners=("simulated", "any"))
        num = cases.groupby(["race_id", col], as_index=False).agg(
            cases=("bib", "nunique"), _sim_reports=("simulated", "any")
        )
        grid = pd.DataFrame(
            [(r, label, i) for r in races for i, label in enumerate(labels)], columns=["race_id", col, "band_order"]
        )
        rows = grid.merge(den, on=["race_id", col], how="left").merge(num, on=["race_id", col], how="left")
        rows = rows.rename(columns={col: "pace_group"}).assign(grouping=grouping)
        out.append(finish(rows, ["race_id", "grouping", "pace_group", "band_order"], "starters in the group"))
    return pd.concat(out, ignore_index=True).sort_values(["race_id", "grouping", "band_order"], kind="stable")


def _chosen_weather(weather: pd.DataFrame) -> pd.DataFrame:
    counts = weather.groupby(["race_id", "source"], as_index=False).size()
    counts["rank"] = counts["source"].map(
        lambda s: SOURCE_PRIORITY.index(s.split(":")[0]) if s.split(":")[0] in SOURCE_PRIORITY else len(SOURCE_PRIORITY)
    )
    best = counts.sort_values(["race_id", "rank", "size", "source"], ascending=[True, True, False, True]).drop_duplicates("race_id")
    w = weather.merge(best[["race_id", "source"]], on=["race_id", "source"], how="inner")
    w = w[["race_id", "observed_at_utc", "wbgt_c", "simulated"]].rename(columns={"simulated": "weather_simulated"})
    w["weather_simulated"] = w["weather_simulated"].fillna(False).astype(bool)
    return w.sort_values("observed_at_utc", kind="stable")


def _flag(wbgt_c: float) -> str | None:
    # ACSM flag bounds (docs/heat.md), written out here apart from racecramp.domain: lower bounds
    # inclusive, black only above 28.
    if wbgt_c is None or math.isnan(wbgt_c):
        return None
    if wbgt_c < 10:
        return "white"
    if wbgt_c < 18:
        return "green"
    if wbgt_c < 23:
        return "yellow"
    return "red" if wbgt_c <= 28 else "black"


def _wbgt_at(events: pd.DataFrame, time_col: str, w: pd.DataFrame) -> pd.DataFrame:
    """WBGT flag at each event: linear in time between the readings before and after (each within
    the tolerance), the earlier reading alone when there is no later one."""
    events = events.sort_values(time_col, kind="stable")
    before = pd.merge_asof(events, w, left_on=time_col, right_on="observed_at_utc", by="race_id",
                           direction="backward", tolerance=WEATHER_TOLERANCE)
    after = pd.merge_asof(events[[time_col, "race_id"]], w.add_suffix("_after").rename(columns={"race_id_after": "race_id"}),
                          left_on=time_col, right_on="observed_at_utc_after", by="race_id", direction="forward",
                          tolerance=WEATHER_TOLERANCE)
    t0, t1 = before["observed_at_utc"], after["observed_at_utc_after"].to_numpy()
    span = (t1 - t0.to_numpy()) / pd.Timedelta(microseconds=1)
    between = before["observed_at_utc"].notna().to_numpy() & ~pd.isna(t1) & (span > 0)
    share = np.where(between, (before[time_col] - t0).to_numpy() / pd.Timedelta(microseconds=1) / np.where(between, span, 1), 0.0)
    wbgt = np.where(between, before["wbgt_c"] + share * (after["wbgt_c_after"].to_numpy() - before["wbgt_c"]), before["wbgt_c"])
    before["wbgt_flag"] = [_flag(float(x)) for x in wbgt]
    before["weather_simulated"] = np.where(between, before["weather_simulated"].fillna(False).astype(bool)
                                           | after["weather_simulated_after"].fillna(False).astype(bool).to_numpy(),
                                           before["weather_simulated"])
    return before


def by_wbgt(exposure_df: pd.DataFrame, reports: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    w = _chosen_weather(weather)
    stations = exposure_df[exposure_df["kind"].isin(STATION_KINDS)].copy()
    stations["sec"] = stations["passed_at_us"] // 1_000_000 * 1_000_000
    passes = stations.groupby(["race_id", "sec"], as_index=False).agg(n=("bib", "size"), simulated=("simulated", "any"))
    passes["at"] = pd.to_datetime(passes["sec"], unit="us", utc=True)
    passes = _wbgt_at(passes, "at", w)
    passes["wbgt_flag"] = passes["wbgt_flag"].fillna("no weather")
    passes["sim"] = passes["simulated"].astype(bool) | passes["weather_simulated"].fillna(False).astype(bool)
    den = passes.groupby(["race_id", "wbgt_flag"], as_index=False).agg(runners=("n", "sum"), _sim_runners=("sim", "any"))
    rep = reports[["race_id", "report_id", "bib", "reported_at_utc", "simulated"]].sort_values("reported_at_utc", kind="stable")
    rep = _wbgt_at(rep, "reported_at_utc", w)
    rep["wbgt_flag"] = rep["wbgt_flag"].fillna("no weather")
    rep["simulated"] = rep["simulated"].astype(bool) | rep["weather_simulated"].fillna(False).astype(bool)
    num = (
        rep.groupby(["race_id", "wbgt_flag"], dropna=False)
        .apply(lambda g: pd.Series({"cases": g["bib"].nunique() + g["bib"].isna().sum(), "_sim_reports": g["simulated"].any()}), include_groups=False)
        .reset_index()
    )
    races = sorted(set(den["race_id"]) | set(num["race_id"]))
    grid = [(r, f, b, i) for r in races for i, (f, b) in enumerate(zip(FLAGS, FLAG_BANDS))]
    no_weather = sorted(set(den.loc[den["wbgt_flag"] == "no weather", "race_id"]) | set(num.loc[num["wbgt_flag"] == "no weather", "race_id"]))
    grid += [(r, "no weather", "no weather", len(FLAGS)) for r in no_weather]
    rows = pd.DataFrame(grid, columns=["race_id", "wbgt_flag", "wbgt_band", "band_order"])
    rows = rows.merge(den, on=["race_id", "wbgt_flag"], how="left").merge(num, on=["race_id", "wbgt_flag"], how="left")
    rows = rows.sort_values(["race_id", "band_order"], kind="stable")
    return finish(rows, ["race_id", "wbgt_flag", "wbgt_band", "band_order"], "runner-station passings")


def by_sex_age(con) -> pd.DataFrame:
    out = sql(
        con,
        """
        WITH den AS (
            SELECT race_id, sex, age_band, COUNT(*) AS runners, MAX(COALESCE(simulated, 0)) AS _sim_runners
            FROM participants GROUP BY race_id, sex, age_band),
        num AS (
            SELECT p.race_id, p.sex, p.age_band,
                   COUNT(DISTINCT r.bib) + SUM(CASE WHEN r.bib IS NULL THEN 1 ELSE 0 END) AS cases,
                   MAX(r.simulated) AS _sim_reports
            FROM reports r JOIN participants p ON p.race_id = r.race_id AND p.bib = r.bib
            GROUP BY p.race_id, p.sex, p.age_band)
        SELECT d.*, n.cases, n._sim_reports FROM den d
        LEFT JOIN num n ON n.race_id = d.race_id AND n.sex IS d.sex AND n.age_band IS d.age_band
        """,
    )
    out = out.sort_values(["race_id", "sex", "age_band"], na_position="last", kind="stable")
    return finish(out, ["race_id", "sex", "age_band"], "starters in the group")


def station_load(exposure_df: pd.DataFrame, reports: pd.DataFrame) -> pd.DataFrame:
    rep = reports[reports["point_id"].notna() & reports["reported_at_utc"].notna()].copy()
    rep["bucket"] = rep["_t"] // BUCKET_US * BUCKET_US
    num = (
        rep.groupby(["race_id", "point_id", "bucket"])
        .apply(lambda g: pd.Series({"cases": g["bib"].nunique() + g["bib"].isna().sum(), "_sim_reports": g["simulated"].any()}), include_groups=False)
        .reset_index()
    )
    st = exposure_df[exposure_df["kind"].isin(STATION_KINDS)].copy()
    st["bucket"] = st["passed_at_us"] // BUCKET_US * BUCKET_US
    den = st.groupby(["race_id", "point_id", "bucket"], as_index=False).agg(runners=("bib", "size"), _sim_runners=("simulated", "any"))
    places = st[["race_id", "point_id", "kind", "km"]].drop_duplicates()
    stations = pd.concat([places, rep[["race_id", "point_id"]].drop_duplicates()])
    stations = stations.groupby(["race_id", "point_id"], as_index=False).agg(kind=("kind", "first"), km=("km", "first"))
    span = pd.concat([num[["race_id", "bucket"]], den[["race_id", "bucket"]]]).groupby("race_id")["bucket"].agg(["min", "max"])
    buckets = pd.DataFrame(
        [(r, b) for r, lo, hi in span.itertuples() for b in range(int(lo), int(hi) + 1, BUCKET_US)], columns=["race_id", "bucket"]
    )
    rows = stations.merge(buckets, on="race_id").merge(den, on=["race_id", "point_id", "bucket"], how="left")
    rows = rows.merge(num, on=["race_id", "point_id", "bucket"], how="left")
    rows["bucket_start_utc"] = pd.to_datetime(rows["bucket"], unit="us", utc=True)
    rows["bucket_end_utc"] = pd.to_datetime(rows["bucket"] + BUCKET_US, unit="us", utc=True)
    rows["bucket_complete"] = True
    rows = rows.sort_values(["race_id", "km", "point_id", "bucket_start_utc"], na_position="last", kind="stable")
    keys = ["race_id", "point_id", "kind", "km", "bucket_start_utc", "bucket_end_utc", "bucket_complete"]
    return finish(rows, keys, "runners passing the station in the bucket")


def _finisher_paces(con) -> pd.DataFrame:
    f = sql(
        con,
        """
        SELECT p.race_id, p.bib, p.official_time_s,
               (w.n20 - w.n5) / (w.k20 - w.k5) AS early, (w.n40 - w.n35) / (w.k40 - w.k35) AS late
        FROM participants p JOIN (
            SELECT race_id, bib,
                MAX(CASE WHEN point_id = 'mat-05k' THEN net_time_s END) AS n5, MAX(CASE WHEN point_id = 'mat-05k' THEN km END) AS k5,
                MAX(CASE WHEN point_id = 'mat-20k' THEN net_time_s END) AS n20, MAX(CASE WHEN point_id = 'mat-20k' THEN km END) AS k20,
                MAX(CASE WHEN point_id = 'mat-35k' THEN net_time_s END) AS n35, MAX(CASE WHEN point_id = 'mat-35k' THEN km END) AS k35,
                MAX(CASE WHEN point_id = 'mat-40k' THEN net_time_s END) AS n40, MAX(CASE WHEN point_id = 'mat-40k' THEN km END) AS k40
            FROM passings WHERE point_id IN ('mat-05k', 'mat-20k', 'mat-35k', 'mat-40k') GROUP BY race_id, bib
        ) w ON w.race_id = p.race_id AND w.bib = p.bib
        WHERE p.finished = 1
        """,
    )
    f = f[(f["early"] > 0) & (f["late"] > 0)].copy()
    f["ratio"] = f["late"] / f["early"]
    f["slowed"] = f["ratio"] > SLOWDOWN_RATIO
    return f


def _shares(g: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = g.groupby(keys, as_index=False).agg(runners=("bib", "size"), slowed=("slowed", "sum"), median_ratio=("ratio", "median"))
    out["share"] = out["slowed"] / out["runners"]
    low, high = wilson_per_1000(out["slowed"].to_numpy(), out["runners"].to_numpy())
    out["ci_low"], out["ci_high"] = low / 1000, high / 1000
    return out


def clock(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}"


def slowdown_marts(con) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = _finisher_paces(con)
    edition = _shares(f, ["race_id"]).sort_values("race_id")
    f["band_start_s"] = (f["official_time_s"] // 1800 * 1800).astype("int64")
    band = _shares(f, ["race_id", "band_start_s"])
    band["finish_band"] = [f"{clock(s)}–{clock(s + 1800)}" for s in band["band_start_s"]]
    band = band.sort_values(["race_id", "band_start_s"])
    return (
        edition[["race_id", "runners", "slowed", "share", "ci_low", "ci_high", "median_ratio"]],
        band[["race_id", "finish_band", "band_start_s", "runners", "slowed", "share", "ci_low", "ci_high", "median_ratio"]],
    )


def reference_marts(inputs: dict[str, pl.DataFrame], race_distance_km: float = MARATHON_KM) -> dict[str, pd.DataFrame]:
    """All race marts with pandas + sqlite3 (in memory)."""
    participants = to_pandas(inputs["participants"])
    passings = to_pandas(inputs["passings"])
    course = to_pandas(inputs["course_points"]).astype({"km": float})
    reports = clean_reports(to_pandas(inputs["cramp_reports"]))
    weather = to_pandas(inputs["weather"])

    exp = exposure(passings, participants, course)
    con = sqlite3.connect(":memory:")
    exp[["race_id", "point_id", "kind", "km", "bib", "passed_at_us", "simulated"]].to_sql("exposure", con, index=False)
    participants[["race_id", "bib", "sex", "age_band", "finished", "official_time_s", "simulated"]].to_sql("participants", con, index=False)
    passings[["race_id", "bib", "point_id", "km", "net_time_s"]].to_sql("passings", con, index=False)
    reports[["race_id", "report_id", "point_id", "bib", "simulated"]].to_sql("reports", con, index=False)
    con.execute("CREATE INDEX exposure_point ON exposure (race_id, point_id)")

    marts = {
        "cramp_rate_by_distance": by_distance(con, course, reports),
        "cramp_rate_by_station": by_station(con, reports),
        "cramp_rate_by_pace_group": by_pace_group(reports, participants, passings, race_distance_km),
        "cramp_rate_by_wbgt": by_wbgt(exp, reports, weather),
        "cramp_rate_by_sex_age": by_sex_age(con),
        "station_load_15m": station_load(exp, reports),
    }
    marts["late_slowdown_by_edition"], marts["late_slowdown_by_finish_band"] = slowdown_marts(con)
    con.close()
    return {name: frame.reset_index(drop=True) for name, frame in marts.items()}


def as_polars(marts: dict[str, pd.DataFrame]) -> dict[str, pl.DataFrame]:
    """The reference marts as polars frames (NaN -> null) for comparison."""
    out = {}
    for name, frame in marts.items():
        converted = pl.from_pandas(frame, nan_to_null=True)
        out[name] = converted.with_columns(
            pl.col(c).cast(pl.Datetime("us", "UTC")) for c, t in converted.schema.items() if isinstance(t, pl.Datetime)
        )
    return out


if __name__ == "__main__":  # a quick self-check of the Wilson formula against a hand value
    low, high = wilson_per_1000(np.array([40]), np.array([20000]))
    assert math.isclose(low[0], 1.4692, abs_tol=5e-4) and math.isclose(high[0], 2.7221, abs_tol=5e-4)
    print("wilson ok")
