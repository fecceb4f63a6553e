"""A small real file system for disk-full drills: tmpfs mounted on a folder (needs root and
mount rights: the sandbox and CI have both), and a filler that takes every free byte."""

from __future__ import annotations

import errno
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FILLER = ".filler"


@contextmanager
def tiny_filesystem(directory: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a `size_bytes` tmpfs on `directory` (created empty if needed) until the block ends."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise RuntimeError(f"{directory} is not empty: mounting over it would hide its files")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(directory)], check=True,
                   capture_output=True, text=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True, capture_output=True, text=True)


def fill(directory: Path) -> Path:
    """Write a filler file until the file system is full (ENOSPC); returns it."""
    filler = Path(directory) / FILLER
    block = b"\0" * 65536
    with open(filler, "ab", buffering=0) as fh:
        while True:
            try:
                fh.write(block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(block) == 1:
                    return filler
                block = block[: len(block) // 2]


def free(directory: Path) -> None:
    (Path(directory) / FILLER).unlink(missing_ok=True)
