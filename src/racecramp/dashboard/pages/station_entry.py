"""Station entry: aid-station volunteers use the station app the intake serves at /station/
(offline first: docs/station-app.md); this page only says where it is and why."""

from __future__ import annotations

import streamlit as st

from racecramp.dashboard import ui

cfg = ui.settings()
url = f"{ui.intake_url(cfg)}/station/"
st.title("Station entry")
st.markdown(
    f"Aid stations and the finish tent enter cramp reports in the **station app**: [{url}]({url})"
)
st.write(
    "Open it once on the station's phone or tablet while there is a network, sign in with the "
    "station card (scan its QR code or type the token), and add it to the home screen. From then "
    "on it works without a network: every report is kept on the device until the intake has "
    "stored it, and a retry is never counted twice."
)
st.caption("Medical command keeps this dashboard; volunteers need only the station app.")
