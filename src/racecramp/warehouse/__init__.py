"""The warehouse: the single DuckDB writer, its migrations, and the ingest that merges validated batches."""
