"""Helpers shared by the dashboard pages (Streamlit glue only; numbers come from racecramp.dashboard_data)."""
