"""A content-addressed store of verified source files.

Layout under the cache root::

    <hashtype>/<hh>/<hexdigest>/<file name>   verified files (hh = first two hex digits)
    partial/<hashtype>-<hexdigest>.part        downloads in progress (resumable)
    rejected/<file name>.<actual sha512[:16]>  downloads that failed verification, kept for inspection

A file enters ``<hashtype>/...`` only through :meth:`SourceCache.admit`, which
hashes it first and renames it into place. A file is hashed again each time it
is used (:meth:`SourceCache.get`; once per process while its inode, size, mtime
and ctime stay the same): a file changed on disk after it was admitted (a bad
disk, a stray write) is moved to ``rejected/`` with a warning and counts as
missing, so it is fetched again or reported. Nothing unverified is ever used.
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

from tooling.errors import ForkliftError, os_error, warn
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


# files verified in this process: (path, inode, size, mtime_ns, ctime_ns) -> digest. ctime cannot be set
# back by a writer, so a file changed in place is hashed again.
_verified: dict[tuple[str, int, int, int, int], str] = {}


def _stat_key(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class CacheError(ForkliftError):
    """The source cache itself is unusable (not a directory, not writable, full)."""


@contextlib.contextmanager
def _cache_os_errors(root: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        err = os_error(exc, f"source cache {root}:")
        more = "pick another cache with --cache-dir or $FORKLIFT_CACHE"
        raise CacheError(err.message, hint=f"{err.hint}; or {more}" if err.hint else more) from None


@dataclass(frozen=True)
class SourceCache:
    root: Path

    def path_for(self, h: SourceHash) -> Path:
        return self.root / h.hashtype / h.hexdigest[:2] / h.hexdigest / h.filename

    def check_usable(self) -> None:
        """Fail early, with one message, when the cache root is a file or a file is in the way."""
        for p in (self.root, *self.root.parents):
            if p.exists():
                if not p.is_dir():
                    raise CacheError(f"source cache {self.root}: {p} is not a directory",
                                     hint="remove that file, or pick another cache with --cache-dir or $FORKLIFT_CACHE")
                break

    def get(self, h: SourceHash) -> Path | None:
        """The cached file for this hash, hashed again now; None when absent.

        A file whose bytes no longer match its hash is moved to ``rejected/`` (one warning line
        naming it and where it went) and None is returned: the caller fetches it again."""
        path = self.path_for(h)
        if not path.is_file():
            return None
        key = _stat_key(path)
        if _verified.get(key) == h.hexdigest:
            return path
        actual = file_digest(path, h.hashtype)
        if actual == h.hexdigest:
            _verified[key] = actual
            return path
        try:
            kept = self.reject(path, h.filename)
        except CacheError as exc:
            raise CacheError(f"{path}: corrupt cache file ({h.hashtype.upper()} {actual[:16]}..., expected "
                             f"{h.hexdigest[:16]}...), and it cannot be moved aside: {exc.message}",
                             hint=f"remove {path} by hand and run `invoke sources` again") from None
        with contextlib.suppress(OSError):
            path.parent.rmdir()
        warn(f"{path}: corrupt cache file ({h.hashtype.upper()} {actual[:16]}..., expected {h.hexdigest[:16]}...); "
             f"moved to {kept}; it will be fetched again (or run `invoke sources`)")
        return None

    def partial_path(self, h: SourceHash) -> Path:
        return self.root / "partial" / f"{h.hashtype}-{h.hexdigest}.part"

    @contextlib.contextmanager
    def lock(self, h: SourceHash) -> Iterator[None]:
        """An exclusive lock (flock) for fetching one file, so that parallel runs do not share a partial file."""
        d = self.root / "partial"
        with _cache_os_errors(self.root):
            d.mkdir(parents=True, exist_ok=True)
            fh = open(d / f"{h.hashtype}-{h.hexdigest}.lock", "w")  # noqa: SIM115 (closed below)
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def scratch(self, name: str) -> Path:
        """A fresh temporary path inside the cache (same file system as the store)."""
        d = self.root / "partial"
        with _cache_os_errors(self.root):
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
            try:
                shutil.copyfile(candidate, tmp)
            except OSError as exc:
                self.discard(tmp)
                raise os_error(exc, f"copying into the source cache {self.root}:") from None
            candidate = tmp
        actual = file_digest(candidate, h.hashtype)
        if actual != h.hexdigest:
            kept = self.reject(candidate, h.filename)
            raise HashMismatchError(h, actual, origin, kept)
        dest = self.path_for(h)
        with _cache_os_errors(self.root):
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(candidate, 0o644)
            os.replace(candidate, dest)
        _verified[_stat_key(dest)] = actual
        return dest

    def add_unhashed(self, candidate: Path, filename: str, hashtype: str = "sha512") -> tuple[SourceHash, Path]:
        """Hash a new file (new-version, vendor) and store it under that hash."""
        h = SourceHash(filename, hashtype, file_digest(candidate, hashtype))
        return h, self.admit(candidate, h, origin=str(candidate))

    def reject(self, candidate: Path, filename: str) -> Path:
        d = self.root / "rejected"
        kept = d / f"{filename}.{file_digest(candidate, 'sha512')[:16]}"
        with _cache_os_errors(self.root):
            d.mkdir(parents=True, exist_ok=True)
            os.replace(candidate, kept)
        return kept

    def discard(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
