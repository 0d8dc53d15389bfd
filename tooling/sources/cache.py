"""A content-addressed store of verified source files.

Layout under the cache root::

    <hashtype>/<hh>/<hexdigest>/<file name>   verified files (hh = first two hex digits)
    partial/<hashtype>-<hexdigest>.part        downloads in progress (resumable)
    rejected/<file name>.<actual sha512[:16]>  downloads that failed verification, kept for inspection

A file enters ``<hashtype>/...`` only through :meth:`SourceCache.admit`, which
hashes it first and renames it into place: nothing unverified is ever there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.sourcesfile import SourceHash

CHUNK = 1 << 20


def file_digest(path: Path, hashtype: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, hashtype).hexdigest()


class HashMismatchError(ForkliftError):
    """A downloaded or mirrored file does not have the hash its `sources` file lists."""

    def __init__(self, expected: SourceHash, actual: str, origin: str, kept: Path) -> None:
        self.expected = expected
        self.actual = actual
        self.origin = origin
        self.kept = kept
        super().__init__(
            f"{expected.filename}: {expected.hashtype.upper()} mismatch for the file from {origin}\n"
            f"  expected {expected.hexdigest}\n"
            f"  actual   {actual}\n"
            f"  the bad file is kept for inspection at {kept}",
            hint="if upstream re-rolled the tarball, check why and run invoke new-version; "
            "otherwise remove or fix the mirror that served it",
        )


@dataclass(frozen=True)
class SourceCache:
    root: Path

    def path_for(self, h: SourceHash) -> Path:
        return self.root / h.hashtype / h.hexdigest[:2] / h.hexdigest / h.filename

    def get(self, h: SourceHash) -> Path | None:
        """The cached file for this hash, or None."""
        path = self.path_for(h)
        return path if path.is_file() else None

    def partial_path(self, h: SourceHash) -> Path:
        return self.root / "partial" / f"{h.hashtype}-{h.hexdigest}.part"

    @contextlib.contextmanager
    def lock(self, h: SourceHash) -> Iterator[None]:
        """An exclusive lock (flock) for fetching one file, so that parallel runs do not share a partial file."""
        d = self.root / "partial"
        d.mkdir(parents=True, exist_ok=True)
        with open(d / f"{h.hashtype}-{h.hexdigest}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def scratch(self, name: str) -> Path:
        """A fresh temporary path inside the cache (same file system as the store)."""
        d = self.root / "partial"
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=d)
        os.close(fd)
        return Path(tmp)

    def admit(self, candidate: Path, h: SourceHash, *, origin: str, move: bool = True) -> Path:
        """Verify ``candidate`` against ``h`` and put it in the store; return the stored path.

        On a mismatch the candidate is moved to ``rejected/`` and HashMismatchError is raised.
        With move=False the candidate is copied (it belongs to someone else, e.g. a mirror directory).
        """
        if not move:
            tmp = self.scratch(h.filename)
            shutil.copyfile(candidate, tmp)
            candidate = tmp
        actual = file_digest(candidate, h.hashtype)
        if actual != h.hexdigest:
            kept = self.reject(candidate, h.filename)
            raise HashMismatchError(h, actual, origin, kept)
        dest = self.path_for(h)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(candidate, 0o644)
        os.replace(candidate, dest)
        return dest

    def add_unhashed(self, candidate: Path, filename: str, hashtype: str = "sha512") -> tuple[SourceHash, Path]:
        """Hash a new file (new-version, vendor) and store it under that hash."""
        h = SourceHash(filename, hashtype, file_digest(candidate, hashtype))
        return h, self.admit(candidate, h, origin=str(candidate))

    def reject(self, candidate: Path, filename: str) -> Path:
        d = self.root / "rejected"
        d.mkdir(parents=True, exist_ok=True)
        kept = d / f"{filename}.{file_digest(candidate, 'sha512')[:16]}"
        os.replace(candidate, kept)
        return kept

    def discard(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
