"""Command: the one screen in the medical tent — cramp KPIs, WBGT, open alerts, data freshness."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import altair as alt
import polars as pl
import streamlit as st

from racecramp.dashboard import ui
from racecramp.domain import WBGT_BLACK_ABOVE_C, WBGT_RED_FROM_C, WBGT_WHITE_BELOW_C, WBGT_YELLOW_FROM_C
from racecramp.views import command as command_view
from racecramp.views import shared

# How far back the command charts look from the race clock.
CHART_WINDOW = timedelta(hours=4)

ui.require_access()  # also when Streamlit runs this file without app.py (see dashboard.ui)
start = ui.page_context()
ui.race_picker(start)


def _send_action(alert_id: str, action: str) -> None:
    cfg = ui.settings()
    token = ui.command_token()
    sent = st.session_state.setdefault("alert_actions_sent", {})
    if token is None:
        sent[alert_id] = (action, ui.IntakeAnswer(False, None, None, "no command token configured"))
        return
    answer = ui.post_to_intake(
        cfg, f"/v1/alerts/{quote(alert_id, safe='')}/actions", token, ui.actor_body(action=action)
    )
    sent[alert_id] = (action, answer)


def _send_close(race_id: str) -> None:
    cfg = ui.settings()
    token = ui.command_token()
    sent = st.session_state.setdefault("race_close_sent", {})
    if token is None:
        sent[race_id] = ui.IntakeAnswer(False, None, None, "no command token configured")
        return
    sent[race_id] = ui.post_to_intake(cfg, f"/v1/races/{quote(race_id, safe='')}/close", token, ui.actor_body())
    st.session_state[f"confirm-close-{race_id}"] = False


def _close_race(ctx: ui.PageContext) -> None:
    """Close the race (two steps: tick the confirmation, then press): the post-race report is written next."""
    if ctx.race_id is None:
        return
    with st.expander("Close race and write the post-race report"):
        token = ui.command_token()
        if token is None:
            st.caption(f"Closing the race needs the command token (`command_token` in secrets or `{ui.COMMAND_TOKEN_ENV}`).")
        confirmed = st.checkbox(
            f"{ctx.race_id} is over: no more runners on course, every tent has entered its reports",
            key=f"confirm-close-{ctx.race_id}", disabled=token is None,
        )
        st.button("Close race", key=f"close-{ctx.race_id}", on_click=_send_close, args=(ctx.race_id,),
                  disabled=token is None or not confirmed, type="primary")
        answer = st.session_state.get("race_close_sent", {}).get(ctx.race_id)
        if answer is not None:
            if answer.ok:
                st.success(f"{ctx.race_id} closed at {answer.body.get('closed_at_utc')} (landing batch {answer.body.get('batch_id')}); "
                           "the post-race report is being written (docs/report.md).")
            else:
                st.error(f"Close race not sent: {answer.error}")


def _freshness(ctx: ui.PageContext) -> None:
    fresh = shared.freshness(ctx.snapshots.manifest(), ctx.wall_now_utc)
    if fresh.stale:
        st.error(f"### DATA MAY BE STALE\n{fresh.message}", icon=":material/warning:")
    else:
        st.caption(
            f"Data as of {ui.local_time(ctx, fresh.last_ingest_utc or fresh.published_at_utc, with_date=True)} "
            f"(published {ui.local_time(ctx, fresh.published_at_utc)}). {fresh.message}"
        )


def _kpis(kpis: command_view.CommandKpis) -> None:
    st.subheader(f"Cramp reports{ui.sim_suffix(kpis.simulated)}")
    row1 = st.columns(4)
    for column, minutes, count, expected, passed in (
        (row1[0], 15, kpis.reports_last_15m, kpis.expected_last_15m, kpis.runners_passed_last_15m),
        (row1[1], 60, kpis.reports_last_60m, kpis.expected_last_60m, kpis.runners_passed_last_60m),
    ):
        column.metric(f"Last {minutes} min", count, border=True,
                      help=f"Aid-station and finish-tent reports in the {minutes} minutes before the race clock, one per "
                           "report_id; expected: station_load_15m over the quarter hours the window touches.")
        column.caption(command_view.window_caption(expected, passed))
    row1[2].metric("Total", kpis.reports_total, border=True)
    row1[2].caption(f"{kpis.cases} cases among {kpis.runners:,} {kpis.denominator_kind}")
    ci = kpis.cases_per_1000_ci
    row1[3].metric(
        f"Cases per 1000 {kpis.denominator_kind}", shared.format_number(kpis.cases_per_1000, 1), border=True,
        help=(f"{kpis.cases} cases (runners with a report, plus reports without a bib) / {kpis.runners} "
              f"{kpis.denominator_kind}" + (f"; Wilson 95% CI {ci[0]:.1f}–{ci[1]:.1f}" if ci else "")),
    )
    if ci:
        row1[3].caption(f"{kpis.cases} / {kpis.runners:,} {kpis.denominator_kind} · 95% CI {ci[0]:.1f}–{ci[1]:.1f}")
    st.subheader("Runners")
    row2 = st.columns(4)
    row2[0].metric("Runners on course", shared.format_number(kpis.runners_on_course), border=True,
                   help="runner_status = on_course at the race clock (seen at a mat or started, not finished or stopped)")
    row2[1].metric("Finishers", shared.format_number(kpis.finishers), border=True)
    row2[2].metric("In medical now", shared.format_number(kpis.in_medical), border=True,
                   help="latest report after the latest passing, no disposition yet")
    row2[3].metric("DNF / transported", shared.format_number(kpis.dnf), border=True)
    if kpis.runners_on_course is None:
        ui.missing("runner_status")


def _wbgt(ctx: ui.PageContext, heat: pl.DataFrame | None) -> None:
    now = command_view.wbgt_now(heat, ctx.race_id, ctx.race_now_utc, ctx.settings.weather_stale_after_s)
    if now is None:
        st.warning("WBGT unknown: no weather observation for this race yet.", icon=":material/thermostat:")
        return
    flag = now.flag if now.flag in command_view.FLAG_COLOURS else "unknown"  # only our own words go into the HTML
    text_colour = "#111" if flag in ("white", "yellow") else "#fff"
    sim = " · SIMULATED" if now.simulated else ""
    interp = " · interpolated" if now.interpolated else ""
    st.markdown(
        f"<div style='background:{command_view.FLAG_COLOURS.get(flag, '#9e9e9e')};color:{text_colour};"
        f"border:2px solid #333;border-radius:10px;padding:0.6rem 1rem;font-size:1.4rem;font-weight:700'>"
        f"{flag.upper()} FLAG · WBGT {float(now.wbgt_c):.1f} °C{sim}{interp}</div>",
        unsafe_allow_html=True,
    )
    delta = None if now.change_c is None else f"{now.change_c:+.1f} °C since {ui.local_time(ctx, now.previous_at_utc)}"
    st.metric("WBGT now", f"{now.wbgt_c:.1f} °C", delta=delta, delta_color="inverse", border=False)
    st.caption(
        f"Source **{ui.plain(now.source)}**{' at ' + ui.plain(now.location) if now.location else ''}, observed "
        f"{ui.local_time(ctx, now.observed_at_utc)} ({shared.format_age(now.age_s)} before the race clock). "
        f"Estimated, not measured with a globe thermometer (docs/heat.md), method {ui.plain(now.method)}: {ui.plain(now.inputs)}."
    )
    if now.stale:
        st.warning(f"Weather is stale: last observation {shared.format_age(now.age_s)} old.", icon=":material/schedule:")
    series = command_view.wbgt_series(heat, ctx.race_id, ctx.race_now_utc)
    series = series.filter(pl.col("observed_at_utc") >= ctx.race_now_utc - CHART_WINDOW * 2)
    if series.height >= 2:
        data = series.select(
            pl.col("observed_at_utc").dt.convert_time_zone(str(ctx.timezone or "UTC")).dt.replace_time_zone(None).alias("time"),
            "wbgt_c", "wbgt_flag",
        )
        line = alt.Chart(data).mark_line(point=True, color="#333").encode(
            x=alt.X("time:T", title="local time", axis=alt.Axis(format="%H:%M")),
            y=alt.Y("wbgt_c:Q", title="WBGT °C", scale=alt.Scale(zero=False)),
            tooltip=["time:T", alt.Tooltip("wbgt_c:Q", format=".1f"), "wbgt_flag:N"],
        )
        edges = pl.DataFrame({
            "wbgt_c": [WBGT_WHITE_BELOW_C, WBGT_YELLOW_FROM_C, WBGT_RED_FROM_C, WBGT_BLACK_ABOVE_C],
            "flag": ["green from", "yellow from", "red from", "black above"],
        })
        low, high = float(series["wbgt_c"].min()), float(series["wbgt_c"].max())
        edges = edges.filter(pl.col("wbgt_c").is_between(low - 3, high + 3))
        rules = alt.Chart(edges).mark_rule(strokeDash=[4, 4]).encode(
            y="wbgt_c:Q",
            color=alt.Color("flag:N", scale=alt.Scale(
                domain=["green from", "yellow from", "red from", "black above"],
                range=[command_view.FLAG_COLOURS["green"], command_view.FLAG_COLOURS["yellow"], command_view.FLAG_COLOURS["red"], command_view.FLAG_COLOURS["black"]],
            ), legend=alt.Legend(title="ACSM flag")),
        )
        st.altair_chart((line + rules).properties(title="WBGT trend"), width="stretch", height=220)


def _load_chart(ctx: ui.PageContext) -> None:
    per_bucket = command_view.load_by_quarter_hour(ctx.snapshots.table("station_load_15m"), ctx.race_id)
    if per_bucket is None:
        ui.missing("station_load_15m")
        return
    recent = per_bucket.filter(pl.col("bucket_start_utc") >= ctx.race_now_utc - CHART_WINDOW) if ctx.race_now_utc else per_bucket
    if recent.height == 0:
        return
    data = recent.select(
        pl.col("bucket_start_utc").dt.convert_time_zone(str(ctx.timezone or "UTC")).dt.replace_time_zone(None).alias("time"),
        "observed", "expected", "runners_passed",
    )
    sim = ui.sim_suffix(bool(recent["simulated"].any()))
    base = alt.Chart(data).encode(x=alt.X("time:T", title="local time (15-min buckets)", axis=alt.Axis(format="%H:%M")))
    tooltip = ["time:T", alt.Tooltip("observed:Q", title="cases observed"),
               alt.Tooltip("expected:Q", title="cases expected", format=".1f"),
               alt.Tooltip("runners_passed:Q", title="runners passing stations")]
    bars = base.mark_bar(color="#c62828").encode(y=alt.Y("observed:Q", title="cramp cases"), tooltip=tooltip)
    expected = base.mark_tick(color="#333", thickness=2).encode(y="expected:Q", tooltip=tooltip)
    st.altair_chart((bars + expected).properties(title=f"Cramp cases per 15 min, all stations, observed (bars) vs "
                                                       f"expected (ticks){sim}"), width="stretch", height=220)


def _alerts(ctx: ui.PageContext) -> None:
    alerts = command_view.open_alerts(ctx.snapshots.table("alerts"), ctx.race_id)
    st.subheader("Open alerts")
    if alerts is None:
        ui.missing("alerts")
        return
    if alerts.height == 0:
        st.success("No open alerts.")
        return
    token = ui.command_token()
    if token is None:
        st.caption("Acknowledge/resolve need the command token (`command_token` in secrets or "
                   f"`{ui.COMMAND_TOKEN_ENV}`).")
    sent = st.session_state.get("alert_actions_sent", {})
    for alert in alerts.iter_rows(named=True):
        colour = {"critical": "red", "warning": "orange", "info": "blue"}.get(alert["severity"], "gray")
        with st.container(border=True):
            cols = st.columns([6, 1.2, 1.2])
            sim = " · **SIMULATED**" if alert.get("simulated") else ""
            with cols[0]:
                st.markdown(f":{colour}[**{ui.plain(str(alert['severity']).upper())}**] · {ui.plain(alert['rule'])} · "
                            f"{ui.plain(alert['status'])}{sim}  \n{ui.plain(alert['message'])}")
                cleared = command_view.cleared_note(alert, str(ctx.timezone) if ctx.timezone else None)
                st.caption(f"opened {ui.local_time(ctx, alert['opened_at_utc'])} · id {ui.plain(alert['alert_id'])}"
                           + (f" · acknowledged by {ui.plain(alert['acknowledged_by'])}" if alert.get("acknowledged_by") else "")
                           + (f" · **{cleared}**" if cleared else ""))
            done = sent.get(alert["alert_id"])
            cols[1].button(
                "Acknowledge", key=f"ack-{alert['alert_id']}", on_click=_send_action, args=(alert["alert_id"], "acknowledge"),
                disabled=token is None or alert["status"] != "open", width="stretch",
            )
            cols[2].button(
                "Resolve", key=f"resolve-{alert['alert_id']}", on_click=_send_action, args=(alert["alert_id"], "resolve"),
                disabled=token is None, width="stretch", type="primary",
            )
            if done is not None and not (done[0] == "acknowledge" and alert["status"] != "open"):
                # the note stays until the published alert shows the action
                action, answer = done
                if answer.ok:
                    st.info(f"{action} sent (landing batch {answer.body.get('batch_id')}); "
                            "the alert changes after the next ingest.")
                else:
                    st.error(f"{action} not sent: {answer.error}")


@st.fragment(run_every=ui.REFRESH_EVERY)
def live() -> None:
    ctx = ui.page_context()
    st.title(f"Medical command · {ctx.race_label}")
    if ui.no_race_yet(ctx):
        return
    _freshness(ctx)
    ui.clock_caption(ctx)
    snaps = ctx.snapshots
    kpis = command_view.command_kpis(
        snaps.table("cramp_reports"), snaps.table("participants", command_view.KPI_PARTICIPANT_COLUMNS),
        snaps.table("runner_status", command_view.KPI_STATUS_COLUMNS), ctx.race_id, ctx.race_now_utc,
        station_load=snaps.table("station_load_15m"),
    )
    if kpis.simulated:
        ui.simulated_banner("Reports or runners on this page")
    _kpis(kpis)
    left, right = st.columns([1, 1])
    with left:
        _wbgt(ctx, command_view.weather_with_heat(snaps))
    with right:
        _load_chart(ctx)
    _alerts(ctx)


live()
_close_race(start)
