"""Versioned directories behind a symbolic link, swapped with one rename.

``<parent>/<name>`` is a link to ``<parent>/.<name>.d/<n>`` (the layout of tooling/repo.py, so
``build/repos/<target>`` keeps working for the build). A new version is prepared in a staging
directory beside the versions (same file system), renamed to the next number, and the link is
replaced with ``os.replace``: readers see the old tree or the new one, never half of one. A run that
dies before the swap leaves only a ``staging-*`` directory, which readers never see and the next
run removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

KEEP = 2  # the current version and the previous one (readers may still be inside it)


def versions_dir(link: Path) -> Path:
    return link.parent / f".{link.name}.d"


def current(link: Path) -> Path | None:
    """The directory the link points at (a plain directory from an older layout counts), or None."""
    if link.is_symlink():
        target = link.resolve()
        return target if target.is_dir() else None
    if link.is_dir():
        return link
    return None


def staging(link: Path) -> Path:
    """A fresh, world-readable staging directory for the next version of ``link``; stale staging
    directories of runs that died are removed first."""
    versions = versions_dir(link)
    versions.mkdir(parents=True, exist_ok=True)
    for old in versions.glob("staging-*"):
        shutil.rmtree(old, ignore_errors=True)
    path = Path(tempfile.mkdtemp(prefix="staging-", dir=versions))
    os.chmod(path, 0o755)
    return path


def swap_in(link: Path, staged: Path) -> Path:
    """Make ``staged`` the next numbered version and point ``link`` at it with one rename."""
    versions = versions_dir(link)
    number = 1 + max((int(p.name) for p in versions.iterdir() if p.name.isdigit()), default=0)
    final = versions / str(number)
    os.rename(staged, final)
    if link.exists() and not link.is_symlink():
        os.rename(link, versions / f"legacy-{number}")  # a plain directory of an older layout, once
    tmp = link.parent / f".{link.name}.link-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(final, link.parent), tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)
    prune(link)
    return final


def prune(link: Path) -> None:
    versions = versions_dir(link)
    keep = current(link)
    numbered = sorted((p for p in versions.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for path in numbered[:-KEEP]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in versions.iterdir():
        if path.name.startswith("legacy-"):
            shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


FAULT_ENV = "FORKLIFT_RELEASE_FAULT"


def fault_point(step: str) -> None:
    """Tests kill the process here (``$FORKLIFT_RELEASE_FAULT=<step>``) to show that a run that dies
    half-way leaves the previous tree serving."""
    if os.environ.get(FAULT_ENV) == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
