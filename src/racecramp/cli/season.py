"""`racecramp season` and `racecramp season-generate`: thin commands over racecramp.season."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Callable, Optional

import typer
from rich.console import Console

from racecramp.config import Settings

console = Console()


def load_season_flow() -> ModuleType:
    """The season flow module (imported on demand: it pulls in Prefect, Dask and distributed)."""
    from racecramp.orchestration import season_flow

    return season_flow


def _use_running_prefect(settings: Settings) -> None:
    """Run the flow against the Prefect server of `racecramp serve` when it is up (its runs then
    show in the Prefect UI and no temporary server is started); PREFECT_API_URL, if set, wins."""
    import os

    from racecramp.orchestration.supervisor import component_health

    if "PREFECT_API_URL" not in os.environ and component_health(settings)["prefect"] == "up":
        os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{settings.prefect_port}/api"
        console.print(f"[dim]using the running Prefect server at {os.environ['PREFECT_API_URL']}[/dim]")


def register(app: typer.Typer, settings_fn: Callable[[], Settings]) -> None:
    """Add the season commands to the racecramp CLI."""

    @app.command("season")
    def season(
        cluster: Optional[str] = typer.Option(None, "--cluster", help="Dask scheduler address; default: setting dask_address, else a local 2-process cluster"),
        out: Optional[Path] = typer.Option(None, "--out", help="folder for the season_*.parquet results; default <data_dir>/season_results"),
        root: Optional[str] = typer.Option(None, "--root", help="season dataset root; default: setting season_dataset_root"),
    ) -> None:
        """Pooled cramp analytics over every edition in the season dataset, on Dask."""
        import polars as pl

        from racecramp.season.run import SEASON_OUTPUTS, season_rich_tables

        settings = settings_fn()
        out_dir = out or settings.data_dir / "season_results"
        address = cluster if cluster is not None else settings.dask_address
        dataset = root or settings.season_root
        console.print(f"season dataset {dataset} on {'Dask scheduler ' + address if address else 'a local Dask cluster (2 worker processes)'}")
        _use_running_prefect(settings)
        load_season_flow().run_season(dataset, str(out_dir), address=address, storage_options=settings.season_storage_options or None)
        tables = {name: pl.read_parquet(Path(out_dir) / f"{name}.parquet") for name in SEASON_OUTPUTS}
        for table in season_rich_tables(tables):
            console.print(table)
        console.print(f"[dim]written: {', '.join(f'{n}.parquet' for n in SEASON_OUTPUTS)} in {out_dir}[/dim]")

    @app.command("season-generate")
    def season_generate(
        editions: int = typer.Option(..., "--editions", min=1, help="how many SIMULATED editions"),
        runners: int = typer.Option(..., "--runners", min=1, help="runners per edition"),
        out: Optional[str] = typer.Option(None, "--out", help="dataset root (folder or fsspec URL); default: setting season_dataset_root"),
        seed: int = typer.Option(20260417, "--seed"),
    ) -> None:
        """Write N SIMULATED editions built from Boston 2017/2018 (docs/season.md) to a season dataset."""
        from racecramp.season.generate import generate_season

        settings = settings_fn()
        root = out or settings.season_root
        race_ids = generate_season(root, editions, runners, seed=seed, storage_options=settings.season_storage_options or None,
                                   progress=lambda i, r: console.print(f"[dim]{i}/{editions} {r}[/dim]") if i % 10 == 0 or i == editions else None)  # fmt: skip
        console.print(f"wrote {len(race_ids)} SIMULATED editions × {runners:,} runners to {root}")
