"""Runner lookup: bib → last seen, projected position now, cramp reports, disposition. No names exist."""

from __future__ import annotations

import streamlit as st

from racecramp.dashboard import ui
from racecramp.views import runner as runner_view
from racecramp.views import shared

ui.require_access()  # also when Streamlit runs this file without app.py (see dashboard.ui)
start = ui.page_context()
ui.race_picker(start)

STATUS_TEXT = {
    "not_started": ":material/hourglass_empty: Not seen yet",
    "on_course": ":material/directions_run: On course",
    "finished": ":material/sports_score: Finished",
    "dnf": ":material/block: DNF / transported",
    "in_medical": ":material/medical_services: In medical (being treated)",
}

st.title(f"Runner lookup · {start.race_label}")
bib = st.text_input("Bib", key="bib", placeholder="e.g. 12345", max_chars=16)


@st.fragment(run_every=ui.REFRESH_EVERY)
def live() -> None:
    ctx = ui.page_context()
    if ui.no_race_yet(ctx):
        return
    ui.clock_caption(ctx)
    wanted = st.session_state.get("bib") or ""
    if not wanted.strip():
        st.caption("Type a bib number. Only bibs are stored; racecramp keeps no names.")
        return
    snaps = ctx.snapshots
    if snaps.table("runner_status") is None:
        ui.missing("runner_status")
        return
    view = runner_view.runner_lookup(snaps.table("runner_status"), snaps.table("cramp_reports"), snaps.table("participants"),
                            ctx.race_id, wanted, ctx.race_now_utc)
    if view is None:
        st.warning(f"Bib {wanted.strip()!r} is not among the participants of {ctx.race_id}.")
        return
    s = view.status
    if s.get("simulated") or shared.any_simulated(view.reports):
        ui.simulated_banner("This runner's data")
    st.header(f"Bib {s['bib']}: {STATUS_TEXT.get(s['status'], s['status'])}")
    cols = st.columns(4)
    cols[0].metric("Status", s["status"], border=True)
    cols[1].metric("Last seen", s.get("last_point_id") or "—", border=True, help="latest timing mat passed")
    if s.get("last_point_id"):
        cols[1].caption(f"{s['last_km']:.1f} km at {ui.local_time(ctx, s.get('last_passed_at_utc'))}")
    projected = s.get("projected_km_now")
    cols[2].metric("Projected position now", "—" if projected is None else f"{projected:.1f} km", border=True,
                   help="last km + time since / latest segment pace; for a runner in medical or DNF, where the report was made")
    cols[3].metric("Cramp reports", s["report_count"], border=True)
    if s.get("next_point_id"):
        overdue = " — **OVERDUE** (not seen 45 min after projected time)" if s.get("overdue") else ""
        st.write(f"Next mat: **{s['next_point_id']}** ({s['next_point_km']:.1f} km), expected "
                 f"{ui.local_time(ctx, s.get('next_point_eta_utc'))}{overdue}")
    if s.get("last_report_at_utc"):
        st.write(f"Latest report: **{s['last_report_point_id']}** at {ui.local_time(ctx, s['last_report_at_utc'])}; "
                 f"disposition **{s.get('last_disposition') or 'none yet (still being treated)'}**")
    person = view.participant or {}
    facts = [f"wave {person['wave']}" if person.get("wave") is not None else None,
             f"sex {person['sex']}" if person.get("sex") else None,
             f"age band {person['age_band']}" if person.get("age_band") else None]
    st.caption(" · ".join(f for f in facts if f))
    if view.reports.height:
        st.subheader("Reports")
        st.dataframe(
            view.reports.select("reported_at_utc", "point_id", "km", "source", "muscle_group", "severity", "treatment",
                                "disposition", "simulated", "report_id"),
            hide_index=True, key="runner-reports",
        )


live()
