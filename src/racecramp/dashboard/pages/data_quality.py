"""Data quality: quarantined records with their reasons, feed freshness, landing backlog, ingest status."""

from __future__ import annotations

import polars as pl
import streamlit as st

from racecramp.dashboard import ui
from racecramp.orchestration.drain import landing_backlog, read_status
from racecramp.views import data_quality as quality_view
from racecramp.views import shared

ui.require_access()  # also when Streamlit runs this file without app.py (see dashboard.ui)
start = ui.page_context()
ui.race_picker(start)

# The quarantine table shows the newest rows first, at most this many.
QUARANTINE_ROWS_SHOWN = 500


@st.fragment(run_every=ui.REFRESH_EVERY)
def live() -> None:
    ctx = ui.page_context()
    st.title("Data quality")
    fresh = shared.freshness(ctx.snapshots.manifest(), ctx.wall_now_utc)
    backlog = landing_backlog(ctx.settings)
    cols = st.columns(3)
    cols[0].metric("Landing backlog (batches)", backlog, border=True,
                   help="batches landed but not yet ingested (landing folder vs the published manifest)")
    cols[1].metric("Last ingest", shared.format_age(fresh.age_s) + " ago" if fresh.age_s is not None else "never", border=True)
    quarantine = ctx.snapshots.table("quarantine")
    cols[2].metric("Quarantined rows", 0 if quarantine is None else quarantine.height, border=True)
    if fresh.stale:
        st.error(fresh.message, icon=":material/warning:")
    else:
        st.caption(fresh.message)

    st.subheader("Feeds")
    if ctx.race_id is not None:
        ui.clock_caption(ctx)
        feeds = quality_view.feed_freshness(ctx.snapshots.table("passings"), ctx.snapshots.table("cramp_reports"),
                                  ctx.snapshots.table("weather_observations"), ctx.race_id, ctx.race_now_utc,
                                  ctx.wall_now_utc)
        readable = feeds.with_columns(
            pl.col(c).map_elements(shared.format_age, return_dtype=pl.String).alias(c.removesuffix("_s").replace("_", " "))
            for c in ("age_on_race_clock_s", "age_on_wall_clock_s")
        )
        st.dataframe(readable, hide_index=True, key="feeds", column_config={
            "age_on_race_clock_s": st.column_config.NumberColumn("race clock age (s)", format="%.0f"),
            "age_on_wall_clock_s": st.column_config.NumberColumn("wall clock age (s)", format="%.0f"),
        })
    components = []
    for component in ("ingest", "weather_feed"):
        status = read_status(ctx.settings, component)
        components.append({"component": component, "last_activity_utc": (status or {}).get("at_utc"),
                           "detail": ", ".join(f"{k}={v}" for k, v in (status or {}).items() if k != "at_utc") or "no record"})
    st.dataframe(pl.DataFrame(components), hide_index=True, key="components")

    st.subheader("Quarantine")
    if quarantine is None:
        ui.missing("quarantine")
        return
    if quarantine.height == 0:
        st.success("Nothing quarantined.")
        return
    st.dataframe(quality_view.quarantine_summary(quarantine), hide_index=True, key="quarantine-summary")
    rows = quarantine.sort("landed_at_utc", descending=True).head(QUARANTINE_ROWS_SHOWN)
    st.dataframe(rows.select("message", "check", "column", "source", "landed_at_utc", "batch_id", "record"),
                 hide_index=True, key="quarantine-rows")
    if quarantine.height > QUARANTINE_ROWS_SHOWN:
        st.caption(f"Newest {QUARANTINE_ROWS_SHOWN} of {quarantine.height} rows; all are in `racecramp sql`.")


live()
