"""Post-race report: HTML/PDF from the published snapshots, consensus-style CSVs, race closure."""
