"""docs/warehouse.md, the migrations and the registries say the same thing."""

from __future__ import annotations

from racecramp.landing.kinds import KINDS, SYSTEM_TABLES
from racecramp.marts.registry import MARTS
from racecramp.warehouse.docs import warehouse_markdown
from racecramp.warehouse.sql import describe
from racecramp.warehouse.writer import open_writer

from paths import REPO


def test_docs_warehouse_md_is_generated_from_the_registries():
    committed = (REPO / "docs" / "warehouse.md").read_text()
    assert committed == warehouse_markdown(), "docs/warehouse.md is stale: run `make docs`"


def test_every_kind_and_mart_column_is_documented():
    text = warehouse_markdown()
    for table in [*KINDS.values(), *SYSTEM_TABLES.values(), *MARTS.values()]:
        for column in table.columns:
            assert f"| {column.name} |" in text, (table.name, column.name)


def test_the_migrations_create_every_staging_and_pipeline_table_as_the_registry_declares(tmp_path):
    with open_writer(tmp_path / "warehouse.duckdb") as con:
        for kind in KINDS.values():
            if kind.staging_table is None:
                continue
            declared = [(c.name, c.sql_type, c.nullable) for c in kind.columns]
            assert describe(con, kind.staging_table) == declared, kind.name
            if kind.view is not None:
                assert [c[0] for c in describe(con, kind.view)] == [c.name for c in kind.columns], kind.view
        for table in SYSTEM_TABLES.values():
            assert describe(con, table.name) == [(c.name, c.sql_type, c.nullable) for c in table.columns], table.name
