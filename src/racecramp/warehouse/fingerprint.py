"""What a warehouse holds, table by table, as row counts and content hashes.

Two warehouses with the same fingerprints hold the same rows (in any order): a rebuild from
the landing zone and a restored backup are checked against the original this way. Columns
that record when and where *this* warehouse did its work, not what it holds, are left out:
the wall-clock time of a migration, a merge or a model fit, and the absolute path of the
batch file merged (another data dir has other paths; the batch_id names the file).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

# table -> columns stamped with when and where the work was done (a rebuild does it later)
WORK_COLUMNS: dict[str, tuple[str, ...]] = {
    "schema_migrations": ("applied_at_utc",),
    "landing_log": ("path", "ingested_at_utc"),
    "survey_rate_ratios": ("computed_at_utc",),
}


# Floats are compared to FLOAT_DIGITS significant digits: the same rows merged in another order
# give sums, model fits and the expectations built on them (station_load_30m's hazard model)
# that differ in their last bits. A statistical fit's own estimates (IRLS iterations) are
# compared to FITTED_DIGITS.
FLOAT_DIGITS = 9
FITTED_TABLES = frozenset({"survey_rate_ratios"})
FITTED_DIGITS = 6


@dataclass(frozen=True)
class TableFingerprint:
    rows: int
    sha256: str


def warehouse_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base table (views are over these), by name."""
    return [row[0] for row in con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY table_name").fetchall()]


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: str, leave_out: tuple[str, ...] = ()) -> TableFingerprint:
    """Row count and sha256 of the table's rows as text, sorted (so row order does not matter)."""
    described = [(r[0], r[1]) for r in con.sql(f'DESCRIBE "{table}"').fetchall() if r[0] not in leave_out]
    if not described:
        raise ValueError(f"table {table}: every column is left out of its fingerprint ({', '.join(leave_out)})")
    digits = FITTED_DIGITS if table in FITTED_TABLES else FLOAT_DIGITS
    row = ", ".join(f"format('{{:.{digits}g}}', \"{c}\")" if t in ("DOUBLE", "FLOAT") else f'"{c}"' for c, t in described)
    rows, digest = con.sql(
        f"SELECT count(*), sha256(coalesce(string_agg(h, ',' ORDER BY h), '')) "
        f'FROM (SELECT md5(CAST(row({row}) AS VARCHAR)) AS h FROM "{table}")'
    ).fetchall()[0]
    return TableFingerprint(int(rows), str(digest))


def fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, TableFingerprint]:
    """{table: fingerprint} for every table of the warehouse."""
    return {t: table_fingerprint(con, t, WORK_COLUMNS.get(t, ())) for t in warehouse_tables(con)}


def differences(expected: dict[str, TableFingerprint], actual: dict[str, TableFingerprint]) -> list[str]:
    """One line per table that is missing, extra, or holds other rows."""
    lines = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None:
            lines.append(f"{table}: not in the original ({got.rows} rows)")
        elif got is None:
            lines.append(f"{table}: missing ({want.rows} rows in the original)")
        elif want != got:
            lines.append(f"{table}: {got.rows} rows, hash {got.sha256[:12]}; the original has {want.rows} rows, hash {want.sha256[:12]}")
    return lines
