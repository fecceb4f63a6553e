"""The one atomic writer: temp file, fsync, rename into place, fsync the directory.

Every file racecramp writes for someone else to read (landing batches, snapshots, the
manifest, status files, reports, token files) goes through `atomic_write`, so a reader sees
the old file or the new one, never half of one, and after it returns the file survives a
crash or kill -9. Temporary files are named `.<name>.<pid>.tmp` (hidden, recognisable), so
readers skip them and `remove_stale_temporaries` can clean up after a crash or a full disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (a rename, a new file or folder) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(directory: Path) -> Path:
    """mkdir -p, syncing each parent whose entry was created (a new folder survives a crash too)."""
    directory = Path(directory)
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for created in reversed(missing):
        try:
            created.mkdir()
        except FileExistsError:  # another process made it meanwhile
            continue
        fsync_dir(created.parent)
    return directory


def temporary_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


def is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(TMP_SUFFIX)


def atomic_write(path: Path, write: Callable[[Path], object], mode: int | None = None,
                 keep_old: Callable[[Path], bool] | None = None) -> Path | None:
    """Call `write(tmp)` to fill a temporary file beside `path`, then make it `path` durably.

    `mode` (e.g. 0o600 for secrets) is set before the data is written. `keep_old(tmp)` true:
    the new file is dropped and `path` left as it is (None is returned). On any error the
    temporary file is removed and the error raised: `path` keeps its old content.
    """
    path = Path(path)
    ensure_dir(path.parent)
    tmp = temporary_path(path)
    try:
        if mode is not None:
            tmp.touch(mode=mode)
            os.chmod(tmp, mode)
        write(tmp)
        if keep_old is not None and keep_old(tmp):
            tmp.unlink()
            return None
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode=mode)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), mode=mode)


def writer_pid(tmp: Path) -> int | None:
    """The pid in a temporary's name (`.<name>.<pid>.tmp`), None when it has none."""
    _, _, pid = tmp.name[1 : -len(TMP_SUFFIX)].rpartition(".")
    return int(pid) if pid.isdigit() else None


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete temporary files left under `directory` by writers that died (kill -9, full disk).

    A temporary whose writer (the pid in its name) is still running is left alone, so this is
    safe at any process's start (the intake's, `racecramp serve`'s) while others write."""
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for tmp in directory.rglob(f"*{TMP_SUFFIX}"):
        if not (is_temporary(tmp) and tmp.is_file()):
            continue
        pid = writer_pid(tmp)
        if pid is not None and _is_alive(pid):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed
