"""The one exception type for user errors.

A ForkliftError carries a message meant for a person: what went wrong, where
(file and key, or command and log line) and what to do. Tasks print it and
exit non-zero without a traceback; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from pathlib import Path


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
