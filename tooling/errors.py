"""The one exception type for user errors.

A ForkliftError carries a message meant for a person: what went wrong, where
(file and key, or command and log line) and what to do. Tasks print it and
exit non-zero without a traceback; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from tooling.redact import redact


class ForkliftError(Exception):
    """A user-facing error: bad input, a failed tool, a missing file."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class DataError(ForkliftError):
    """Invalid data in one of Forklift's data files: names the file and the key."""

    def __init__(self, path: Path | str, key: str | None, problem: str, *, hint: str | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.problem = problem
        where = f"{path}" + (f": {key}" if key else "")
        super().__init__(f"{where}: {problem}", hint=hint)


def warn(message: str) -> None:
    """One warning line on stderr (redacted): something was wrong, and Forklift went on without it."""
    sys.stderr.write(redact(f"warning: {message}\n"))
    sys.stderr.flush()


_OS_HINTS = {
    errno.ENOSPC: "free space on that file system (df -h), or point the option at another one",
    errno.EDQUOT: "free space within your quota, or point the option at another file system",
    errno.EACCES: "make it writable for this user, or choose another location "
                  "(--build-dir, --cache-dir / $FORKLIFT_CACHE, --json, --out)",
    errno.EPERM: "make it writable for this user, or choose another location",
    errno.EROFS: "that file system is mounted read-only: choose another location "
                 "(--build-dir, --cache-dir / $FORKLIFT_CACHE, --json, --out)",
    errno.ENOTDIR: "a file is in the way where a directory is expected: remove it or choose another location",
    errno.EISDIR: "a directory is in the way where a file is expected: choose another file name",
    errno.EEXIST: "something is in the way: remove it or choose another location",
}


def os_error(exc: OSError, what: str | None = None) -> ForkliftError:
    """A ForkliftError for an operating-system error (full disk, permissions, a file in the way):
    one line naming the path (and what it is for), a hint on what to do."""
    path = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    where = " ".join(str(p) for p in (what, path) if p) or "a file operation"
    if exc.filename2 is not None:
        where += f" -> {exc.filename2}"
    err = ForkliftError(f"{where}: {reason}", hint=_OS_HINTS.get(exc.errno or 0))
    err.os_errno = exc.errno  # type: ignore[attr-defined]
    return err
