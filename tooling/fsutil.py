"""Atomic file writes (a temporary name beside the target, then rename) and early checks that an
output place (--build-dir, --json, --out) can be written, so that a run fails before it does any work."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from tooling.errors import os_error


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    if path.exists() and not path.is_file() and not path.is_dir():
        # a device or a pipe (--json /dev/null, --json /dev/stdout): write into it; renaming a
        # temporary file over it would replace /dev/null with a regular file
        with open(path, "wb") as fh:
            fh.write(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def ensure_writable_dir(path: Path, option: str, *, create: bool = True) -> None:
    """Make sure files can be created in ``path`` (created if needed; with create=False only the
    nearest existing directory is probed and nothing is left behind); else a one-line error."""
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        probe = path
        while not create and not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise NotADirectoryError(20, "not a directory", str(probe))
        tempfile.TemporaryFile(dir=probe).close()
    except OSError as exc:
        raise os_error(exc, f"{option} {path}:") from None


def ensure_writable_file(path: Path, option: str) -> None:
    """``path`` can be written (its directory exists and takes new files; it is not a directory)."""
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a directory", str(path))
        if path.exists() and not path.is_file():  # a device or a pipe: written in place
            if not os.access(path, os.W_OK):
                raise PermissionError(13, "Permission denied", str(path))
            return
        if not path.parent.is_dir():
            raise FileNotFoundError(2, "no such directory", str(path.parent))
        tempfile.TemporaryFile(dir=path.parent).close()
        if path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(13, "Permission denied", str(path))
    except OSError as exc:
        raise os_error(exc, f"{option} {path}:") from None
