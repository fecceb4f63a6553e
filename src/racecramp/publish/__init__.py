"""Publishing: what readers see. After each ingest the writer publishes snapshots
(publish.snapshots), the read replica for SQL (publish.replica); publish.publisher decides what.
"""
