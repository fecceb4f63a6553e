"""The Streamlit medical command dashboard (app.py and pages/); numbers come from racecramp.views."""
