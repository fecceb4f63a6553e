"""Orchestration: the Prefect flows and deployments, the ingest drain loop, the process supervisor."""
