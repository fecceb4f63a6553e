"""racecramp medical dashboard: `streamlit run dashboards/app.py --server.address 127.0.0.1`.

Pages read only the published snapshots (settings.snapshot_dir). The command pages need a
login when one is configured in .streamlit/secrets.toml (OIDC via st.login when [auth] is
there, else the access code) and always when the app is exposed; without a login configured
they are open on loopback only. The station page needs a station token. See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from racecramp.dashboard import ui

# the favicon ships with the package: a :material/…: page icon is fetched from fonts.gstatic.com,
# and the command tent may be offline
st.set_page_config(page_title="racecramp medical command", page_icon=str(Path(__file__).with_name("icon.png")), layout="wide")

cfg = ui.settings()
station = st.Page("pages/station_entry.py", title="Station entry", icon=":material/edit_note:", url_path="station")
if ui.access_granted(cfg):
    pages = [
        st.Page("pages/command.py", title="Command", icon=":material/medical_services:", default=True),
        st.Page("pages/course.py", title="Course", icon=":material/route:", url_path="course"),
        st.Page("pages/rates.py", title="Rates", icon=":material/bar_chart:", url_path="rates"),
        st.Page("pages/runner.py", title="Runner lookup", icon=":material/person_search:", url_path="runner"),
        st.Page("pages/data_quality.py", title="Data quality", icon=":material/fact_check:", url_path="data-quality"),
        station,
    ]
else:
    pages = [st.Page(ui.login_page, title="Log in", icon=":material/lock:", default=True), station]

st.navigation(pages).run()
