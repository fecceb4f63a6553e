"""The report's charts: altair specs rendered to inline SVG by vl-convert (no browser, no network)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import altair as alt
import polars as pl
import vl_convert as vlc

from racecramp.domain import WBGT_BLACK_ABOVE_C, WBGT_RED_FROM_C, WBGT_WHITE_BELOW_C, WBGT_YELLOW_FROM_C

WIDTH = 640
HEIGHT = 220
BAR_STEP = 90  # px per category at most, so two editions do not fill the page with two slabs
TICK_PX = 12  # width of the CI whisker ends
RATE_COLOUR = "#c62828"
FLAG_COLOURS = {"white": "#e0e0e0", "green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "black": "#212121",
                "no weather": "#9e9e9e"}


def svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an inline <svg> element."""
    return vlc.vegalite_to_svg(chart.to_json())


def _title(text: str, simulated: bool) -> str:
    return f"{text} · SIMULATED" if simulated else text


def _wall_clock(frame: pl.DataFrame, column: str, timezone: str) -> pl.DataFrame:
    """Local wall-clock time as ISO text read on a UTC scale: vl-convert shows it unshifted."""
    return frame.with_columns(
        pl.col(column).dt.convert_time_zone(timezone).dt.replace_time_zone(None).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("local_time")
    )


def rate_bars(frame: pl.DataFrame, category: str, title: str, x_title: str, sort: list[str] | None = None) -> str:
    """Rate per 1000 with its 95% CI as an error bar, one bar per category in the given order."""
    data = frame.filter(pl.col("rate_per_1000").is_not_null()).select(
        pl.col(category).cast(pl.String).alias("category"), "rate_per_1000", "ci_low_per_1000", "ci_high_per_1000", "cases", "runners"
    )
    order = sort if sort is not None else data["category"].to_list()
    width = min(WIDTH, BAR_STEP * max(len(order), 1))
    x = alt.X("category:N", sort=order, title=x_title, axis=alt.Axis(labelAngle=-40))
    bars = alt.Chart(data).mark_bar(color=RATE_COLOUR, opacity=0.8).encode(x=x, y=alt.Y("rate_per_1000:Q", title="per 1000"))
    errors = alt.Chart(data).mark_errorbar(ticks=True, size=TICK_PX, color="#222").encode(
        x=x, y=alt.Y("ci_low_per_1000:Q", title="per 1000"), y2="ci_high_per_1000:Q"
    )
    simulated = bool(frame["simulated"].any()) if "simulated" in frame.columns and frame.height else False
    return svg((bars + errors).properties(width=width, height=HEIGHT, title=_title(title, simulated)))


def timeline(line: pl.DataFrame, wbgt: pl.DataFrame, timezone: str, simulated: bool) -> str:
    """Presentations per 15 min (bars, left axis) against WBGT (line, right axis) in local time."""
    bars_data = _wall_clock(line, "bucket_start_utc", timezone).select("local_time", "presentations")
    x = alt.X("local_time:T", title=f"local time ({timezone})", scale=alt.Scale(type="utc"), axis=alt.Axis(format="%H:%M"))
    bars = alt.Chart(bars_data).mark_bar(color=RATE_COLOUR, opacity=0.75).encode(
        x=x, y=alt.Y("presentations:Q", title="cramp presentations per 15 min")
    )
    layers = [bars]
    if wbgt.height:
        wbgt_data = _wall_clock(wbgt, "observed_at_utc", timezone).select("local_time", "wbgt_c")
        low = min(float(wbgt["wbgt_c"].min()), WBGT_WHITE_BELOW_C) - 2
        high = max(float(wbgt["wbgt_c"].max()), WBGT_YELLOW_FROM_C) + 2
        y = alt.Y("wbgt_c:Q", title="WBGT °C", scale=alt.Scale(domain=[low, high]))
        layers.append(alt.Chart(wbgt_data).mark_line(color="#1565c0", point=True).encode(x=x, y=y))
        edges = pl.DataFrame({"wbgt_c": [WBGT_WHITE_BELOW_C, WBGT_YELLOW_FROM_C, WBGT_RED_FROM_C, WBGT_BLACK_ABOVE_C]})
        edges = edges.filter(pl.col("wbgt_c").is_between(low, high))
        if edges.height:
            layers.append(alt.Chart(edges).mark_rule(strokeDash=[4, 4], color="#1565c0", opacity=0.5).encode(y=y))
    chart = alt.layer(*layers).resolve_scale(y="independent")
    return svg(chart.properties(width=WIDTH, height=HEIGHT, title=_title("Cramp presentations and WBGT", simulated)))


def odds_ratios(frame: pl.DataFrame) -> str:
    """Forest plot: odds ratio with 95% CI per factor on a log scale, a rule at 1 (no association)."""
    data = frame.filter(pl.col("odds_ratio").is_not_null()).select("exposed_means", "odds_ratio", "or_ci_low", "or_ci_high")
    y = alt.Y("exposed_means:N", title=None, sort=data["exposed_means"].to_list())
    scale = alt.Scale(type="log")
    points = alt.Chart(data).mark_point(filled=True, color=RATE_COLOUR, size=60).encode(
        x=alt.X("odds_ratio:Q", scale=scale, title="odds ratio (log scale), 95% CI"), y=y
    )
    errors = alt.Chart(data).mark_rule(color="#222").encode(x=alt.X("or_ci_low:Q", scale=scale), x2="or_ci_high:Q", y=y)
    one = alt.Chart(pl.DataFrame({"x": [1.0]})).mark_rule(strokeDash=[4, 4], color="#555").encode(x=alt.X("x:Q", scale=scale))
    simulated = bool(frame["simulated"].any()) if frame.height else False
    return svg((errors + points + one).properties(width=WIDTH - 160, height=28 * max(data.height, 1),
                                                  title=_title("Survey risk factors (association only)", simulated)))


def comparison(frame: pl.DataFrame) -> str:
    """Cramp cases per 1000 starters, with CI, for each edition of the series."""
    data = frame.select(pl.col("race_id").alias("category"), pl.col("per_1000_starters").alias("rate_per_1000"),
                        "ci_low_per_1000", "ci_high_per_1000", "cases", pl.col("starters").alias("runners"), "simulated")
    return rate_bars(data, "category", "Cramp cases per 1000 starters by edition", "edition")


def share_bars(frame: pl.DataFrame, category: str, title: str, x_title: str) -> str:
    """A share (0-1) with its Wilson CI, as percent bars."""
    data = frame.select(pl.col(category).alias("category"), (pl.col("share") * 100).alias("pct"),
                        (pl.col("ci_low") * 100).alias("low"), (pl.col("ci_high") * 100).alias("high"))
    x = alt.X("category:N", sort=data["category"].to_list(), title=x_title, axis=alt.Axis(labelAngle=-40))
    bars = alt.Chart(data).mark_bar(color="#6a1b9a", opacity=0.8).encode(x=x, y=alt.Y("pct:Q", title="% of finishers"))
    errors = alt.Chart(data).mark_errorbar(ticks=True, size=TICK_PX, color="#222").encode(
        x=x, y=alt.Y("low:Q", title="% of finishers"), y2="high:Q"
    )
    return svg((bars + errors).properties(width=WIDTH, height=HEIGHT, title=title))


def local(moment: datetime | None, timezone: str, with_date: bool = True) -> str:
    """A UTC moment as local text for the page."""
    if moment is None:
        return "—"
    shown = moment.astimezone(ZoneInfo(timezone))
    return shown.strftime("%Y-%m-%d %H:%M %Z") if with_date else shown.strftime("%H:%M")
