"""Course: the map (route, stations, runner density, leader and sweeper, drawn without any tile
server), then every aid station and medical tent on a km axis: cases, rate with CI, runners,
forecast, beds."""

from __future__ import annotations

import math

import altair as alt
import polars as pl
import streamlit as st

from racecramp.dashboard import ui
from racecramp.views import course as course_views

ui.require_access()  # also when Streamlit runs this file without app.py (see dashboard.ui)
start = ui.page_context()
ui.race_picker(start)

COLUMN_LABELS = {
    "point_id": "station", "label": "name", "kind": "kind", "km": st.column_config.NumberColumn("km", format="%.1f"),
    "cases": "cases", "runners": st.column_config.NumberColumn("runners passed", help="denominator of the rate"),
    "rate_per_1000": st.column_config.NumberColumn("rate /1000", format="%.1f"),
    "ci_low_per_1000": st.column_config.NumberColumn("95% CI low", format="%.1f"),
    "ci_high_per_1000": st.column_config.NumberColumn("95% CI high", format="%.1f"),
    "small_count": st.column_config.CheckboxColumn("< 5 cases"),
    "runners_approaching": st.column_config.NumberColumn("runners approaching now",
                                                         help="on course, projected between the previous station and this one"),
    "in_tent_now": st.column_config.NumberColumn("in tent now", help="latest report here, no disposition yet"),
    "arrivals_next_30m": "arrivals next 30 min",
    "expected_cramps_next_30m": st.column_config.NumberColumn("expected cramps next 30 min", format="%.2f"),
    "expected_cramps_next_30m_lo": st.column_config.NumberColumn("30 min 90% low", format="%.0f"),
    "expected_cramps_next_30m_hi": st.column_config.NumberColumn("30 min 90% high", format="%.0f"),
    "arrivals_next_60m": "arrivals next 60 min",
    "expected_cramps_next_60m": st.column_config.NumberColumn("expected cramps next 60 min", format="%.2f"),
    "expected_cramps_next_60m_lo": st.column_config.NumberColumn("60 min 90% low", format="%.0f"),
    "expected_cramps_next_60m_hi": st.column_config.NumberColumn("60 min 90% high", format="%.0f"),
    "beds": "beds",
    "simulated": st.column_config.CheckboxColumn("SIMULATED"),
}


MAP_HEIGHT = 480
DENSITY_COLOURS = ["#cfd8dc", "#ffcc80", "#ef6c00", "#b71c1c"]  # no runners -> crowded
RUNNER_COLOURS = {"leader": "#0d47a1", "sweeper": "#6a1b9a"}


def _map_chart(course_map: course_views.CourseMap) -> alt.LayerChart:
    """The route coloured by runners per km now, stations sized by cases and coloured by rate,
    start and finish, the leader and the sweeper: Vega-Lite on lat/lon, no basemap tiles."""
    geo = {"longitude": "lon:Q", "latitude": "lat:Q"}
    casing = alt.Chart(course_map.route).mark_line(color="#37474f", strokeWidth=9, strokeCap="round", strokeJoin="round").encode(
        **geo, detail="bin:N", order="km:Q")
    route = alt.Chart(course_map.route).mark_line(strokeWidth=6, strokeCap="round", strokeJoin="round").encode(
        **geo, detail="bin:N", order="km:Q",
        color=alt.Color("runners:Q", title="runners per km now", scale=alt.Scale(range=DENSITY_COLOURS),
                        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=140)),
        tooltip=[alt.Tooltip("bin:Q", title="km from"), alt.Tooltip("runners:Q", title="runners in this km now")],
    )
    stations = course_map.stations.with_columns(
        pl.col("cases").fill_null(0) if "cases" in course_map.stations.columns else pl.lit(0).alias("cases"),
        pl.col("rate_per_1000") if "rate_per_1000" in course_map.stations.columns else pl.lit(None, pl.Float64).alias("rate_per_1000"),
        pl.col("kind").replace({"aid_station": "aid station", "medical_tent": "medical tent"}).alias("station"),
    )
    tooltip = ["label:N", alt.Tooltip("km:Q", format=".1f"), "station:N", alt.Tooltip("cases:Q", title="cramp cases"),
               alt.Tooltip("rate_per_1000:Q", title="rate /1000 passed", format=".1f")]
    tooltip += [alt.Tooltip(c, title=t) for c, t in (("in_tent_now:Q", "in tent now"), ("beds:Q", "beds"),
                                                     ("runners_approaching:Q", "runners approaching")) if c.split(":")[0] in stations.columns]
    markers = alt.Chart(stations).mark_point(filled=True, stroke="#212121", strokeWidth=1.2, opacity=0.95).encode(
        **geo,
        shape=alt.Shape("station:N", title="station", scale=alt.Scale(domain=["aid station", "medical tent"], range=["circle", "square"]),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        size=alt.Size("cases:Q", title="cramp cases", scale=alt.Scale(range=[70, 900], zero=True),
                      legend=alt.Legend(orient="bottom", direction="horizontal", format="d", tickMinStep=1)),
        color=alt.Color("rate_per_1000:Q", title="cases /1000 passed", scale=alt.Scale(scheme="reds"),
                        legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=140)),
        tooltip=tooltip,
    )
    ends = alt.Chart(course_map.ends).mark_point(shape="diamond", size=260, filled=True, color="#111", stroke="white").encode(
        **geo, tooltip=["what:N", alt.Tooltip("km:Q", format=".1f")])
    end_labels = alt.Chart(course_map.ends).mark_text(dy=-16, fontSize=13, fontWeight="bold", color="#111").encode(
        **geo, text=alt.Text("what:N"))
    layers = [casing, route, markers, ends, end_labels]
    if course_map.runners.height:
        runners = course_map.runners.with_columns(pl.format("{} · km {}", "who", pl.col("km").round(1)).alias("text"))
        colour = alt.Color("who:N", scale=alt.Scale(domain=list(RUNNER_COLOURS), range=list(RUNNER_COLOURS.values())), legend=None)
        layers += [
            alt.Chart(runners).mark_point(shape="triangle-up", size=420, filled=True, stroke="white", strokeWidth=1.5).encode(
                **geo, color=colour, tooltip=["who:N", alt.Tooltip("km:Q", format=".1f")]),
            alt.Chart(runners).mark_text(dy=24, fontSize=13, fontWeight="bold").encode(**geo, text="text:N", color=colour),
        ]
    return alt.layer(*layers).project(type="mercator").properties(height=MAP_HEIGHT).configure_view(stroke=None)


def _km_axis(view: pl.DataFrame) -> float:
    """The km axis runs to just past the finish of this race's course."""
    return math.ceil(float(view["km"].max() or 0)) + 1


def _rate_chart(view: pl.DataFrame) -> alt.LayerChart:
    data = view.filter(pl.col("rate_per_1000").is_not_null())
    base = alt.Chart(data).encode(x=alt.X("km:Q", title="km from the start", scale=alt.Scale(domain=[0, _km_axis(view)])))
    bars = base.mark_rule(strokeWidth=2, color="#555").encode(
        y=alt.Y("ci_low_per_1000:Q", title="cases per 1000 passed (95% CI)"), y2="ci_high_per_1000:Q"
    )
    points = base.mark_circle(color="#c62828", opacity=0.9).encode(
        y="rate_per_1000:Q",
        size=alt.Size("cases:Q", title="cases", scale=alt.Scale(range=[30, 400]),
                      legend=alt.Legend(format="d", tickMinStep=1)),  # whole cases, also when all are 0
        tooltip=["label:N", alt.Tooltip("km:Q", format=".1f"), "cases:Q", "runners:Q",
                 alt.Tooltip("rate_per_1000:Q", format=".1f"), alt.Tooltip("ci_low_per_1000:Q", format=".1f"),
                 alt.Tooltip("ci_high_per_1000:Q", format=".1f")],
    )
    return bars + points


def _forecast_chart(view: pl.DataFrame) -> alt.LayerChart:
    base = alt.Chart(view).encode(x=alt.X("km:Q", title="km from the start", scale=alt.Scale(domain=[0, _km_axis(view)])))
    tooltip = ["label:N", alt.Tooltip("runners_approaching:Q", title="approaching now"),
               alt.Tooltip("arrivals_next_30m:Q", title="arriving next 30 min"),
               alt.Tooltip("arrivals_next_60m:Q", title="arriving next 60 min")]
    next_60 = base.mark_bar(size=10, color="#ef9a9a").encode(y=alt.Y("arrivals_next_60m:Q", title="runners"), tooltip=tooltip)
    next_30 = base.mark_bar(size=10, color="#c62828").encode(y="arrivals_next_30m:Q", tooltip=tooltip)
    now = base.mark_tick(color="#111", thickness=3, size=16, orient="horizontal").encode(
        y="runners_approaching:Q", tooltip=tooltip
    )
    return next_60 + next_30 + now


def _expected_chart(view: pl.DataFrame) -> alt.LayerChart:
    base = alt.Chart(view).encode(x=alt.X("km:Q", title="km from the start", scale=alt.Scale(domain=[0, _km_axis(view)])))
    interval = base.mark_rule(strokeWidth=6, opacity=0.35, color="#1565c0").encode(
        y=alt.Y("expected_cramps_next_60m_lo:Q", title="expected cramps, 60 min"),
        y2="expected_cramps_next_60m_hi:Q",
    )
    mean = base.mark_tick(color="#0d47a1", thickness=3, size=14, orient="horizontal").encode(
        y="expected_cramps_next_60m:Q",
        tooltip=["label:N", alt.Tooltip("expected_cramps_next_60m:Q", format=".2f"),
                 "expected_cramps_next_60m_lo:Q", "expected_cramps_next_60m_hi:Q"],
    )
    return interval + mean


@st.fragment(run_every=ui.REFRESH_EVERY)
def live() -> None:
    ctx = ui.page_context()
    st.title(f"Course · {ctx.race_label}")
    if ui.no_race_yet(ctx):
        return
    ui.clock_caption(ctx)
    snaps = ctx.snapshots
    view = course_views.course_view(
        snaps.table("course_points"), snaps.table("cramp_rate_by_station"), snaps.table("station_forecast"),
        snaps.table("runner_status"), ctx.race_id,
    )
    if view is None:
        ui.missing("course_points")
        return
    simulated = bool(view["simulated"].any())
    if simulated:
        ui.simulated_banner("Reports or runners at some stations")
    for table in ("cramp_rate_by_station", "station_forecast", "runner_status"):
        if snaps.table(table) is None:
            ui.missing(table)
    course_map = course_views.course_map(snaps.table("course_track"), view, snaps.table("course_points"),
                                         snaps.table("runner_status"), ctx.race_id)
    st.subheader(f"Course map{ui.sim_suffix(simulated)}")
    if course_map is None:
        st.info("No course track for this race: the map needs one (`track =` in the race file; `racecramp race new` writes it).")
    else:
        st.altair_chart(_map_chart(course_map), width="stretch")
        st.caption(f"{course_map.on_course:,} runners on course, placed by their projected km now (runner_status). "
                   "Route coloured by runners per km; stations sized by cramp cases so far and coloured by cases per 1000 "
                   "runners passed; ▲ the leader and the sweeper (first and last runner on course). Drawn from the course "
                   "track alone: no map tiles, works offline.")
    if "rate_per_1000" in view.columns:
        st.subheader(f"Cramp rate by station{ui.sim_suffix(simulated)}")
        st.altair_chart(_rate_chart(view), width="stretch", height=280)
    if "arrivals_next_30m" in view.columns and "runners_approaching" in view.columns:
        st.subheader("Runners approaching and arriving")
        st.altair_chart(_forecast_chart(view), width="stretch", height=240)
        st.caption("Bars: runners arriving within 60 min (light) and 30 min (dark); black tick: runners between the "
                   "previous station and this one now. Forecast = projection from each runner's latest pace "
                   "(transforms/forecast.py), not a measurement.")
    if "expected_cramps_next_60m" in view.columns:
        st.subheader("Expected cramp presentations, next 60 min")
        st.altair_chart(_expected_chart(view), width="stretch", height=240)
        st.caption("Tick: expected count from the hazard model for the runners arriving; bar: Poisson 90% interval.")
    has_beds = "beds" in view.columns and view["beds"].is_not_null().any()
    shown = view if has_beds else view.drop("beds", strict=False)
    if has_beds:
        tents = view.filter(pl.col("beds").is_not_null())
        cols = st.columns(min(4, tents.height))
        for i, row in enumerate(tents.iter_rows(named=True)):
            cols[i % len(cols)].metric(f"Beds in use · {row['label']}", f"{row.get('in_tent_now', 0)} / {row['beds']}",
                                       border=True, help="runners in the tent now (no disposition yet) / beds configured")
    st.subheader("Stations")
    st.dataframe(shown, hide_index=True, column_config=COLUMN_LABELS, key="stations")


live()
