"""The package is self-contained: a wheel installed in a fresh venv outside the checkout runs
`racecramp --help`, `racecramp serve` (until the intake answers) and a replay to a folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paths import REPO
from stack import free_port

pytestmark = pytest.mark.integration

UV = Path(sys.executable).parent / "uv"
SERVE_TIMEOUT_S = 180


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv (outside the checkout) with the built wheel and the locked dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    _run([str(UV), "build", "--wheel", "--out-dir", str(dist), str(REPO)], cwd=root)
    (wheel,) = dist.glob("racecramp-*.whl")
    venv = root / "venv"
    _run([str(UV), "venv", "--python", sys.executable, str(venv)], cwd=root)
    python = venv / "bin" / "python"
    _run([str(UV), "pip", "install", "--python", str(python), "-r", str(REPO / "requirements.lock")], cwd=root)
    _run([str(UV), "pip", "install", "--python", str(python), "--no-deps", str(wheel)], cwd=root)
    return venv / "bin"


def _env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RACECRAMP_", "PREFECT_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    env["PYTHONPATH"] = ""
    config = directory / "racecramp.toml"
    config.write_text(
        f'data_dir = "{directory / "var"}"\nintake_port = {free_port()}\nprefect_port = {free_port()}\n'
        f"dashboard_port = {free_port()}\n"
    )
    env["RACECRAMP_CONFIG"] = str(config)
    return env


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    done = _run([str(installed / "python"), "-c", "import racecramp, sys; print(racecramp.__file__)"], cwd=tmp_path,
                env=_env(tmp_path))
    assert not done.stdout.strip().startswith(str(REPO)), done.stdout


def test_help_lists_the_commands(installed, tmp_path):
    done = _run([str(installed / "racecramp"), "--help"], cwd=tmp_path, env=_env(tmp_path))
    for command in ("serve", "replay", "demo", "season", "marts", "import"):
        assert command in done.stdout


def test_a_replay_of_boston_2017_is_written_to_a_folder(installed, tmp_path):
    out = tmp_path / "stream"
    _run([str(installed / "racecramp"), "replay", "--race", "boston-2017", "--to", str(out)], cwd=tmp_path,
         env=_env(tmp_path), timeout=900)
    (stream,) = out.glob("*.events.jsonl")
    assert sum(1 for _ in stream.open()) > 250_000 and any(out.glob("*.manifest.json"))


def test_serve_starts_the_stack_until_the_intake_answers(installed, tmp_path):
    env = _env(tmp_path)
    port = int(Path(env["RACECRAMP_CONFIG"]).read_text().split("intake_port = ")[1].split()[0])
    log = open(tmp_path / "serve.log", "w")
    process = subprocess.Popen([str(installed / "racecramp"), "serve"], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                if health.status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert health is not None and health.json()["version"] != "0+unknown", (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]
