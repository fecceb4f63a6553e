"""Station entry: a tablet form for aid-station volunteers. Ten seconds, big buttons, one report per tap.

The station is the one the token belongs to (the command token may pick any station). The
report goes to the intake (POST /v1/reports) with a report_id made here and kept in the
session: a double tap or a retry after a network error re-sends the SAME id (same fields),
and the intake stores it once. A new id is made for different fields or after "Next runner",
which also resets the form to its defaults.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import streamlit as st

from racecramp.dashboard import ui
from racecramp.domain import MUSCLE_GROUPS, TREATMENTS, Disposition, Severity
from racecramp.views import station as station_view

# When the race clock is this far behind the wall clock the data is a replay of a past
# race, and a report is time-stamped on the race clock so it lands inside the replay.
REPLAY_LAG = timedelta(hours=1)

BIG_TARGETS_CSS = """
<style>
div[data-testid="stForm"] button, div[data-testid="stButton"] button { min-height: 3.4rem; font-size: 1.25rem; }
div[data-testid="stForm"] [data-testid="stButtonGroup"] button { min-height: 3.2rem; min-width: 6.5rem; font-size: 1.15rem; }
div[data-testid="stTextInput"] input { min-height: 3.2rem; font-size: 1.5rem; }
</style>
"""

LABELS = {
    "stretch_massage": "stretch / massage", "oral_fluids": "oral fluids", "iv_fluids": "IV fluids",
    "returned_to_race": "back in race", "dnf": "DNF", "transported": "transported", "discharged": "discharged",
}


def _label(value: str) -> str:
    return LABELS.get(value, value)


def _next_runner() -> None:
    st.session_state["station_draft"] = None
    st.session_state["station_last"] = None
    st.session_state["station_form_n"] = st.session_state.get("station_form_n", 0) + 1


def _forget_token() -> None:
    for key in ("station_token", "station_draft", "station_last"):
        st.session_state.pop(key, None)


def _stamp(ctx: ui.PageContext) -> tuple[datetime, bool]:
    """Time stamp for a new report: the wall clock, or the race clock during a replay."""
    if ctx.race_now_utc is not None and ctx.wall_now_utc - ctx.race_now_utc > REPLAY_LAG:
        return ctx.race_now_utc, True
    return ctx.wall_now_utc, False


def _token_form(cfg) -> None:
    st.write("Enter the token printed on your station card.")
    with st.form("station-token", border=False):
        token = st.text_input("Station token", type="password", key="token_entry")
        if st.form_submit_button("Open my station", type="primary", width="stretch"):
            principal = station_view.principal_for_token(cfg.token_hashes, token)
            if principal is not None and (station_view.station_of(principal) or principal == "command"):
                st.session_state["station_token"] = token
                st.rerun()
            st.error("This token is not a station token. Check the card, or ask medical command.")


def _send(ctx: ui.PageContext, token: str, station: dict, fields: dict) -> None:
    key = (station["point_id"], *(fields[k] for k in sorted(fields)))
    draft = st.session_state.get("station_draft")
    if draft is None or draft["key"] != key:
        stamp, replay = _stamp(ctx)
        draft = {"key": key, "report_id": str(uuid.uuid4()), "reported_at_utc": stamp, "replay": replay, "stored": False}
        st.session_state["station_draft"] = draft
    payload = station_view.report_payload(draft["report_id"], ctx.race_id, station, draft["reported_at_utc"], **fields)
    answer = ui.post_to_intake(ctx.settings, "/v1/reports", token, payload)
    # The intake answers a repeated request exactly as the first one; remember it was stored already.
    repeated = draft["stored"] and answer.ok
    draft["stored"] = draft["stored"] or answer.ok
    st.session_state["station_last"] = {"report_id": draft["report_id"], "answer": answer, "replay": draft["replay"],
                                        "reported_at_utc": draft["reported_at_utc"], "repeated": repeated}


st.markdown(BIG_TARGETS_CSS, unsafe_allow_html=True)
ctx = ui.page_context()
cfg = ctx.settings
st.title("Station entry")
if ui.no_race_yet(ctx):
    st.stop()
token = st.session_state.get("station_token")
principal = station_view.principal_for_token(cfg.token_hashes, token) if token else None
if principal is None:
    _token_form(cfg)
    st.stop()

stations = station_view.station_choices(ctx.snapshots.table("course_points"), ctx.race_id)
point_id = station_view.station_of(principal)
if point_id is None:  # the command token: choose the station
    point_id = st.selectbox("Station", stations["point_id"].to_list(), key="station_point",
                            format_func=lambda p: f"{p} · {stations.filter(stations['point_id'] == p)['label'][0]}")
match = stations.filter(stations["point_id"] == point_id)
if match.height == 0:
    st.error(f"Station {point_id!r} is not on the published course of {ctx.race_id}; ask medical command.")
    st.button("Use another token", on_click=_forget_token)
    st.stop()
station = match.row(0, named=True)
st.header(f"{station['label']} · {station['km']:.1f} km")
st.sidebar.button("Use another token", on_click=_forget_token)

last = st.session_state.get("station_last")
if last is not None:
    answer = last["answer"]
    if answer.ok:
        repeated = last["repeated"] or last["report_id"] in [str(x) for x in (answer.body or {}).get("already_received", [])]
        note = (" (this tap re-sent the same report; stored once). For another runner tap **Next runner**."
                if repeated else "")
        st.success(f"### Report stored\nReport id `{last['report_id']}`{note}", icon=":material/check_circle:")
        st.button("Next runner", on_click=_next_runner, type="primary", width="stretch", key="next-runner")
    else:
        st.error(f"### Not stored yet\n{answer.error}\n\nTap **Send report** again: the same report id is re-sent, "
                 "so it is stored once.")
    if last["replay"]:
        st.caption(f"Replay: time-stamped on the race clock ({ui.local_time(ctx, last['reported_at_utc'])}).")

n = st.session_state.get("station_form_n", 0)
with st.form(f"report-{n}", border=False):
    bib = st.text_input("Bib (leave empty if the runner has none)", key=f"bib-{n}", max_chars=16)
    muscle = st.segmented_control("Muscle", list(MUSCLE_GROUPS), default="calf", required=True, key=f"muscle-{n}")
    severity = st.segmented_control("Severity", [s.value for s in Severity], default=Severity.MILD.value,
                                    required=True, key=f"severity-{n}")
    treatment = st.segmented_control("Treatment", list(TREATMENTS), default="stretch_massage", required=True,
                                     format_func=_label, key=f"treatment-{n}")
    disposition = st.segmented_control("Disposition", [d.value for d in Disposition],
                                       default=Disposition.RETURNED_TO_RACE.value, required=True, format_func=_label,
                                       key=f"disposition-{n}")
    sent = st.form_submit_button("Send report", type="primary", width="stretch")
if sent:
    _send(ctx, token, station, {"bib": bib, "muscle_group": muscle, "severity": severity, "treatment": treatment,
                                "disposition": disposition})
    st.rerun()
