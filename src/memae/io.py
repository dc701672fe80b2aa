"""Outputs written whole or not at all: a temporary name beside the target, then a rename;
files and folders get the modes a plain ``open`` / ``mkdir`` would give under the umask."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def usual_modes(path: Path) -> None:
    """Temporary files and folders are created 0600 / 0700; give ``path`` (and what it holds)
    0666 / 0777 less the umask, as ``open`` and ``mkdir`` do."""
    mask = os.umask(0)
    os.umask(mask)
    for entry in [path, *(path.rglob("*") if path.is_dir() else [])]:
        if not entry.is_symlink():
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` fills a temporary file beside ``path``, which then replaces ``path``: a
    failure leaves ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        usual_modes(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


@contextmanager
def staged_outputs(folder: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``folder`` for a run's outputs. When the block ends without
    an error each file moves into ``folder`` (one rename each); after an error nothing moves,
    so a failed run leaves earlier outputs untouched."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        yield stage
        usual_modes(stage)
        for entry in sorted(stage.rglob("*")):
            if entry.is_file():
                dest = folder / entry.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
