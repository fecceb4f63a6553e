"""What the dashboard pages show, computed from the published snapshots (no Streamlit here).

One module per page (command, course, rates, runner, data_quality, station) and the helpers
they share (shared). The pages in racecramp.dashboard only draw; every number they put on
screen comes from a function here, so tests and the benchmark check the numbers without a
browser.

Rules shared by every page:
- Only the Parquet snapshots in `settings.snapshot_dir` are read (never warehouse.duckdb),
  through publish.snapshots.load_snapshot (cached on the file's identity).
- "Now" is the race clock: the latest event in the data (report or passing), capped at the
  wall clock. A replay of a past race is therefore shown as it was at its latest event.
- Cramp reports are the medical ones (aid stations and the finish tent), deduplicated by
  report_id; survey answers are not live reports.
"""
