"""The cramp hazard model: expected cramp presentations per runner at a station.

This is a MODEL, not data. It turns a few published figures into an expectation so that
alerts ("more cramps than expected at Aid 23 mi") and the forecast have a baseline, and so
that the simulator draws cramps from the same assumptions the alerts test against. Every
number below is either taken from a cited source (docs/alerts.md, docs/simulator.md) or is labelled an
assumption; change them in `HazardParams`, not in the formulas.

For one runner, the expected number of cramp presentations over the whole race is

    E = base × pace_multiplier(relative_pace) × heat_multiplier(wbgt_c)

where base = presentations_per_1000_starters / 1000. A share `finish_share` of E presents
at the finish-area tent after crossing the line; the rest is spread along the course in
proportion to `km_weight(km)`, the distance shape. A station collects the presentations of
its catchment, the stretch of course since the previous station (a runner who cramps
between stations is assumed to reach the next one ahead). Summed over every station of a
course, the per-runner expectation is exactly E.

Distance shape `km_weight` (0 to 1): `floor_weight` before `ramp_start_km`, a quadratic
ramp up to 1 at `peak_from_km`, then 1 to the finish. With the defaults about 84% of the
on-course hazard lies after 30 km, close to Manjra 1996's 80% of cramps after 30 km.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from racecramp.domain import MARATHON_KM, RELATIVE_PACE_FAST_BELOW, PointKind

# Assumption (domain.md §1.3, "rough starting anchor"): 3-10 cramp presentations to a
# medical tent per 1000 starters in a cool marathon. Not measured for cramps specifically;
# derived from all-cause tent rates (19-38 per 1000, Twin Cities / Chicago) times the
# musculoskeletal share (17-50%). The default is the midpoint.
PRESENTATIONS_PER_1000_STARTERS_LOW = 3.0
PRESENTATIONS_PER_1000_STARTERS_HIGH = 10.0
PRESENTATIONS_PER_1000_STARTERS_DEFAULT = 6.5

# Chicago Marathon 2018 (1,016 charts): 41.6% of all encounters were seen at the finish
# (domain.md §2.1). Assumed to hold for cramps, which peak in the first 30-60 min after the
# finish (domain.md §1.3).
FINISH_SHARE_CHICAGO_2018 = 0.416

# Distance hazard (domain.md §1.3): near zero before ~20 km, ramping from 25-30 km, peak
# 35-42 km. Manjra, Schwellnus, Noakes 1996 (MSSE 28:S167): 80% of cramps began after 30 km.
RAMP_START_KM = 20.0
PEAK_FROM_KM = 35.0
# Assumption: "near zero" before the ramp is 2% of the peak hazard, not exactly zero.
FLOOR_WEIGHT = 0.02
MANJRA_1996_SHARE_AFTER_30_KM = 0.80

# Schwellnus et al. 2011 (BJSM 45:1132): crampers ran the first 28 km faster than matched
# controls (144 vs 157 min); domain.md §1.3 derives RR about 1.5-2 for starting faster
# than one's ability. Default is the midpoint.
FAST_PACE_RR_LOW = 1.5
FAST_PACE_RR_HIGH = 2.0
FAST_PACE_RR_DEFAULT = 1.75

# Roberts 2007 (Sports Med 37:400): encounters lowest at WBGT 4.4-15 °C and rising
# considerably above 15.5 °C. The multiplier is 1 up to this WBGT.
HEAT_THRESHOLD_WBGT_C = 15.0
# Roberts 2010 (MSSE 42:226) fit, "unsuccessful starters" (encounters + DNF) per 1000
# finishers = a·WBGT² + b·WBGT + c, start WBGT in °C (domain.md §2.2). All-cause, not
# cramp-specific: heat has a weak direct link to cramps (domain.md §1.3), so `heat_effect`
# scales how much of this curve applies (1 = all of it, an upper bound).
ROBERTS_2010_A = 0.514
ROBERTS_2010_B = -8.097
ROBERTS_2010_C = 78.926

STATION_KINDS = (PointKind.AID_STATION.value, PointKind.MEDICAL_TENT.value, PointKind.FINISH.value)


@dataclass(frozen=True)
class HazardParams:
    """Parameters of the cramp hazard model; defaults and sources are the constants above."""

    presentations_per_1000_starters: float = PRESENTATIONS_PER_1000_STARTERS_DEFAULT
    finish_share: float = FINISH_SHARE_CHICAGO_2018
    course_km: float = MARATHON_KM
    ramp_start_km: float = RAMP_START_KM
    peak_from_km: float = PEAK_FROM_KM
    floor_weight: float = FLOOR_WEIGHT
    fast_pace_below: float = RELATIVE_PACE_FAST_BELOW
    fast_pace_rr: float = FAST_PACE_RR_DEFAULT
    heat_threshold_wbgt_c: float = HEAT_THRESHOLD_WBGT_C
    heat_effect: float = 1.0

    def __post_init__(self) -> None:
        checks = [
            ("presentations_per_1000_starters", self.presentations_per_1000_starters >= 0, ">= 0"),
            ("finish_share", 0 <= self.finish_share <= 1, "between 0 and 1"),
            ("course_km", self.course_km > 0, "> 0"),
            ("ramp_start_km", 0 <= self.ramp_start_km < self.peak_from_km, ">= 0 and < peak_from_km"),
            ("peak_from_km", self.peak_from_km <= self.course_km, "<= course_km"),
            ("floor_weight", 0 <= self.floor_weight <= 1, "between 0 and 1"),
            ("fast_pace_below", self.fast_pace_below > 0, "> 0"),
            ("fast_pace_rr", self.fast_pace_rr > 0, "> 0"),
            ("heat_effect", self.heat_effect >= 0, ">= 0"),
        ]
        for name, ok, expectation in checks:
            if not ok:
                raise ValueError(f"HazardParams.{name}={getattr(self, name)!r}: expected {expectation}")

    @property
    def per_starter(self) -> float:
        """Expected presentations per baseline runner over the whole race (incl. finish)."""
        return self.presentations_per_1000_starters / 1000.0

    @property
    def course_weight_integral(self) -> float:
        """Integral of km_weight from the start to the finish, in km."""
        return _cumulative_weight_float(self.course_km, self)


def _as_expr(value: pl.Expr | str | float | int) -> pl.Expr:
    if isinstance(value, pl.Expr):
        return value
    if isinstance(value, str):
        return pl.col(value)
    return pl.lit(float(value), dtype=pl.Float64)


def _cumulative_weight_float(km: float, params: HazardParams) -> float:
    a, b, floor = params.ramp_start_km, params.peak_from_km, params.floor_weight
    x = min(max(km, 0.0), params.course_km)
    if x < a:
        return floor * x
    if x < b:
        return floor * x + (1 - floor) * (x - a) ** 3 / (3 * (b - a) ** 2)
    return floor * b + (1 - floor) * (b - a) / 3 + (x - b)


def km_weight(km: pl.Expr | str | float, params: HazardParams = HazardParams()) -> pl.Expr:
    """Shape of the cramp hazard along the course, 0 to 1 (1 = peak, from peak_from_km)."""
    x = _as_expr(km)
    a, b, floor = params.ramp_start_km, params.peak_from_km, params.floor_weight
    ramp = floor + (1 - floor) * ((x - a) / (b - a)) ** 2
    return (
        pl.when(x.is_null())
        .then(None)
        .when((x < 0) | (x > params.course_km))
        .then(0.0)
        .when(x < a)
        .then(floor)
        .when(x < b)
        .then(ramp)
        .otherwise(1.0)
        .cast(pl.Float64)
    )


def km_weight_cumulative(km: pl.Expr | str | float, params: HazardParams = HazardParams()) -> pl.Expr:
    """Integral of km_weight from the start to km (km-units), clamped to the course."""
    x = _as_expr(km).clip(0.0, params.course_km)
    a, b, floor = params.ramp_start_km, params.peak_from_km, params.floor_weight
    return (
        pl.when(x < a)
        .then(floor * x)
        .when(x < b)
        .then(floor * x + (1 - floor) * (x - a) ** 3 / (3 * (b - a) ** 2))
        .otherwise(floor * b + (1 - floor) * (b - a) / 3 + (x - b))
        .cast(pl.Float64)
    )


def on_course_share(km_from: pl.Expr | str | float, km_to: pl.Expr | str | float,
                    params: HazardParams = HazardParams()) -> pl.Expr:
    """Share of a runner's on-course hazard that falls between km_from and km_to."""
    return (km_weight_cumulative(km_to, params) - km_weight_cumulative(km_from, params)) / params.course_weight_integral


def pace_multiplier(relative_pace: pl.Expr | str | float, params: HazardParams = HazardParams()) -> pl.Expr:
    """fast_pace_rr when the runner is faster than declared (relative pace below the cut), else 1.

    A null relative pace (no declared time) counts as 1: the model cannot tell.
    """
    rp = _as_expr(relative_pace)
    return pl.when(rp < params.fast_pace_below).then(params.fast_pace_rr).otherwise(1.0).cast(pl.Float64)


def _roberts_unsuccessful_per_1000(wbgt_c: pl.Expr) -> pl.Expr:
    return ROBERTS_2010_A * wbgt_c**2 + ROBERTS_2010_B * wbgt_c + ROBERTS_2010_C


def heat_multiplier(wbgt_c: pl.Expr | str | float, params: HazardParams = HazardParams()) -> pl.Expr:
    """1 up to the WBGT threshold, then the Roberts 2010 curve relative to its threshold value.

    multiplier = 1 + heat_effect × (U(wbgt) / U(threshold) − 1) above the threshold, where U
    is the Roberts 2010 quadratic. A null WBGT (no weather) counts as 1.
    """
    w = _as_expr(wbgt_c)
    at_threshold = (
        ROBERTS_2010_A * params.heat_threshold_wbgt_c**2
        + ROBERTS_2010_B * params.heat_threshold_wbgt_c
        + ROBERTS_2010_C
    )
    ratio = _roberts_unsuccessful_per_1000(w) / at_threshold
    return (
        pl.when(w > params.heat_threshold_wbgt_c)
        .then(1.0 + params.heat_effect * (ratio - 1.0))
        .otherwise(1.0)
        .cast(pl.Float64)
    )


def hazard_per_km(km: pl.Expr | str | float, relative_pace: pl.Expr | str | float,
                  wbgt_c: pl.Expr | str | float, params: HazardParams = HazardParams()) -> pl.Expr:
    """Expected on-course presentations per runner per km at km (the simulator's density)."""
    on_course_total = params.per_starter * (1 - params.finish_share)
    return (
        on_course_total
        * km_weight(km, params)
        / params.course_weight_integral
        * pace_multiplier(relative_pace, params)
        * heat_multiplier(wbgt_c, params)
    )


def expected_presentations_per_runner(
    km: pl.Expr | str | float,
    relative_pace: pl.Expr | str | float,
    wbgt_c: pl.Expr | str | float,
    catchment_km: pl.Expr | str | float,
    receives_finish_share: pl.Expr | str | bool = False,
    params: HazardParams = HazardParams(),
) -> pl.Expr:
    """Expected cramp presentations from one runner passing the station at km.

    The station collects the on-course hazard of [km − catchment_km, km]; the finish-area
    tent (receives_finish_share) also collects the post-finish share.
    """
    finish = (
        pl.lit(receives_finish_share, dtype=pl.Boolean)
        if isinstance(receives_finish_share, bool)
        else _as_expr(receives_finish_share)
    )
    x = _as_expr(km)
    share = on_course_share(x - _as_expr(catchment_km), x, params)
    runner_total = params.per_starter * pace_multiplier(relative_pace, params) * heat_multiplier(wbgt_c, params)
    finish_part = pl.when(finish).then(params.finish_share).otherwise(0.0)
    return (runner_total * ((1 - params.finish_share) * share + finish_part)).cast(pl.Float64)


# Among stations at the same km, the one that owns the stretch before it (lower rank first):
# a runner who cramps near a medical tent is treated there, whatever else stands beside it.
CATCHMENT_OWNER_RANK = {PointKind.MEDICAL_TENT.value: 0, PointKind.AID_STATION.value: 1, PointKind.FINISH.value: 2}


def station_catchments(course_points: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Stations (aid stations, medical tents, finish) with the km of course each one collects.

    The catchments partition the course: every km between 0 and the last station belongs to
    exactly one station. A station collects (from_km, km], from_km being the km of the
    previous station at a smaller km (0 for the first). Where several stations share a km,
    one owns that stretch (medical tent, else aid station, else finish; then point_id) and
    the others get catchment_km 0, so a finish line and the finish medical tent beside it
    do not both count the last stretch. receives_finish_share marks the point that owns the
    finish km (the finish medical tent when there is one): it also collects the post-finish
    share, so summed over a course's stations one runner's expectation is exactly E.
    """
    frame = course_points.lazy() if isinstance(course_points, pl.DataFrame) else course_points
    require_columns(frame, "course_points", ("race_id", "point_id", "kind", "km", "label"))
    stations = frame.filter(pl.col("kind").is_in(STATION_KINDS)).collect()
    distinct_km = (
        stations.select("race_id", "km")
        .unique()
        .sort("race_id", "km")
        .with_columns(from_km=pl.col("km").shift(1, fill_value=0.0).over("race_id"))
    )
    finish_km = stations.group_by("race_id").agg(finish_km=pl.col("km").max())
    ranked = stations.with_columns(
        owner_rank=pl.col("kind").replace_strict(CATCHMENT_OWNER_RANK, return_dtype=pl.Int64)
    ).sort("race_id", "km", "owner_rank", "point_id")
    owners = ranked.group_by("race_id", "km", maintain_order=True).first().select(
        "race_id", "point_id", owns_catchment=pl.lit(True)
    )
    with_catchment = (
        stations.join(distinct_km, on=["race_id", "km"], how="left")
        .join(finish_km, on="race_id", how="left")
        .join(owners, on=["race_id", "point_id"], how="left")
        .with_columns(
            catchment_km=pl.when(pl.col("owns_catchment").fill_null(False))
            .then(pl.col("km") - pl.col("from_km"))
            .otherwise(0.0)
        )
    )
    return (
        with_catchment.with_columns(
            receives_finish_share=pl.col("owns_catchment").fill_null(False) & (pl.col("km") == pl.col("finish_km"))
        )
        .select("race_id", "point_id", "kind", "label", "km", "from_km", "catchment_km", "receives_finish_share")
        .sort("race_id", "km", "point_id")
    )


def with_expected_presentations(
    frame: pl.DataFrame | pl.LazyFrame, params: HazardParams = HazardParams()
) -> pl.DataFrame | pl.LazyFrame:
    """Add expected_presentations to rows with km, relative_pace, wbgt_c, catchment_km, receives_finish_share."""
    require_columns(frame, "frame", ("km", "relative_pace", "wbgt_c", "catchment_km", "receives_finish_share"))
    return frame.with_columns(
        expected_presentations=expected_presentations_per_runner(
            "km", "relative_pace", "wbgt_c", "catchment_km", "receives_finish_share", params
        )
    )


def require_columns(frame: pl.DataFrame | pl.LazyFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise naming the frame and the missing columns (shared by alerts, forecast, locator)."""
    present = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    missing = [c for c in columns if c not in present]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}; expected at least {list(columns)}, got {present}")
