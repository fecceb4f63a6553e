"""Rates: cramp cases per 1000 by distance, pace group, relative pace, WBGT band, sex and age — with CIs."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from racecramp.dashboard import ui
from racecramp.views import rates as rates_view
from racecramp.views import shared

ui.require_access()  # also when Streamlit runs this file without app.py (see dashboard.ui)
start = ui.page_context()
ui.race_picker(start)

TAIL_LABELS = {
    "cases": "cases",
    "runners": st.column_config.NumberColumn("runners", help="see 'denominator' text below the table"),
    "runner_hours": st.column_config.NumberColumn("runner-hours", format="%.1f", help="the denominator of a person-time rate"),
    "rate_per_1000": st.column_config.NumberColumn("rate /1000", format="%.1f", help="per 1000 of what: the 'unit' column"),
    "rate_unit": "unit",
    "ci_low_per_1000": st.column_config.NumberColumn("95% CI low", format="%.1f"),
    "ci_high_per_1000": st.column_config.NumberColumn("95% CI high", format="%.1f"),
    "small_count": st.column_config.CheckboxColumn("< 5 cases"),
    "denominator_kind": "denominator counts",
    "simulated": st.column_config.CheckboxColumn("SIMULATED"),
}

# Groups with a smaller denominator stay in the table but not on the chart: a CI spanning
# hundreds per 1000 would squash every other group against the axis.
MIN_CHART_DENOMINATOR = 20
CHART_ROW_PX = 34
CHART_AXIS_PX = 60

# (title, mart, key columns, grouping, category column shown on the chart, sort column)
SECTIONS = (
    ("By distance (course segment between timing mats)", "cramp_rate_by_distance",
     ("segment", "from_km", "to_km"), None, "segment", "segment_order"),
    ("By declared pace group (min/km)", "cramp_rate_by_pace_group", ("pace_group",), "declared_pace", "pace_group", "band_order"),
    ("By relative pace (pace so far ÷ declared pace)", "cramp_rate_by_pace_group", ("pace_group",), "relative_pace",
     "pace_group", "band_order"),
    ("By observed first-half pace (min/km; for rosters without declared times)", "cramp_rate_by_pace_group",
     ("pace_group",), "early_pace", "pace_group", "band_order"),
    ("By WBGT band, per 1000 runner-hours on course in the band (ACSM flags)", "cramp_rate_by_wbgt",
     ("wbgt_flag", "wbgt_band"), None, "wbgt_band", "band_order"),
    ("By sex and age band", "cramp_rate_by_sex_age", ("sex", "age_band"), None, "group", None),
)


def _chart(table: pl.DataFrame, category: str, order: list[str]) -> alt.LayerChart:
    data = table.filter(pl.col("rate_per_1000").is_not_null())
    interval = "exact Poisson" if "runner_hours" in table.columns else "Wilson"
    base = alt.Chart(data).encode(y=alt.Y(f"{category}:N", sort=order, title=None))
    ci = base.mark_rule(strokeWidth=2, color="#555").encode(
        x=alt.X("ci_low_per_1000:Q", title=f"cramp cases {rates_view.rate_units(table)} (95% {interval} CI)"),
        x2="ci_high_per_1000:Q",
    )
    point = base.mark_circle(size=120, color="#c62828").encode(
        x="rate_per_1000:Q",
        tooltip=[f"{category}:N", "cases:Q", alt.Tooltip("runners:Q", title="denominator"),
                 alt.Tooltip("rate_per_1000:Q", format=".1f"), alt.Tooltip("ci_low_per_1000:Q", format=".1f"),
                 alt.Tooltip("ci_high_per_1000:Q", format=".1f")],
    )
    labels = base.mark_text(align="left", dx=8, dy=-8, fontSize=11, color="#333").encode(
        x="rate_per_1000:Q", text=alt.Text("label:N")
    )
    return ci + point + labels.transform_calculate(label="datum.cases + ' / ' + datum.runners")


def _section(ctx: ui.PageContext, title: str, mart: str, keys: tuple[str, ...], grouping: str | None,
             category: str, order_col: str | None) -> None:
    raw = ctx.snapshots.table(mart)
    table = rates_view.rate_table(raw, ctx.race_id, keys + ((order_col,) if order_col else ()), grouping)
    if table is None:
        st.subheader(title)
        ui.missing(mart)
        return
    if order_col is not None and order_col in table.columns:
        table = table.sort(order_col, nulls_last=True).drop(order_col)
    simulated = bool(table["simulated"].any()) if table.height else False
    st.subheader(title + ui.sim_suffix(simulated))
    if table.height == 0:
        st.info("No rows yet for this race.")
        return
    shown = table.with_columns((pl.col("sex") + " " + pl.col("age_band")).alias("group")) if category == "group" else table
    charted = shown.filter(pl.col("runners") >= MIN_CHART_DENOMINATOR)  # runners (or, for runner-hours, people at risk)
    if charted.height:
        st.altair_chart(_chart(charted, category, charted[category].to_list()), width="stretch",
                        height=CHART_ROW_PX * charted.height + CHART_AXIS_PX)
    st.dataframe(table, hide_index=True, column_config=TAIL_LABELS, key=f"rates-{mart}-{grouping or ''}")
    kinds = table["denominator_kind"].unique().to_list()
    st.caption(f"Rates {rates_view.rate_units(table)}. Denominator: {', '.join(kinds)}. Rows with fewer than 5 cases are "
               "flagged; read their CI, not the "
               f"point. The chart leaves out groups with fewer than {MIN_CHART_DENOMINATOR} in the denominator "
               "(their intervals span most of the axis); the table has every group.")


@st.fragment(run_every=ui.REFRESH_EVERY)
def live() -> None:
    ctx = ui.page_context()
    st.title(f"Rates · {ctx.race_label}")
    if ui.no_race_yet(ctx):
        return
    ui.clock_caption(ctx)
    st.caption("Every rate shows its numerator (cases), its denominator, its unit and a 95% CI (Wilson for runners, exact "
               "Poisson for runner-hours; marts/rates.py).")
    sims = [rates_view.rate_table(ctx.snapshots.table(m), ctx.race_id, ()) for m in {s[1] for s in SECTIONS}]
    if any(t is not None and t.height and bool(t["simulated"].any()) for t in sims):
        ui.simulated_banner("Part of the data behind these rates")
    for section in SECTIONS:
        _section(ctx, *section)
    for extra, title in (("late_slowdown_by_edition", "Late-race slowdown by edition"),
                         ("survey_risk_factors", "Survey risk factors (odds ratios)")):
        frame = ctx.snapshots.table(extra)
        if frame is not None and frame.height:
            sim = shared.any_simulated(frame)
            st.subheader(title + ui.sim_suffix(sim))
            st.dataframe(frame, hide_index=True, key=f"extra-{extra}")


live()
