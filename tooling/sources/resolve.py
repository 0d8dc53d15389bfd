"""Resolve a package's sources to verified local files.

For each Source: a local one is its file in specs/<package>/; a remote or
lookaside one comes from the cache, or else from the first mirror location that
has it (downloaded to a partial file, hash-checked, signature-checked, renamed
into the cache). Patches are files in specs/<package>/. Offline, only the cache
and local ``dir`` mirrors are used.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError, os_error, warn
from tooling.model import Package, Source
from tooling.sources.cache import HashMismatchError, SourceCache, file_digest
from tooling.sources.fetch import FetchPolicy, NotFoundError, TransientFailure, download
from tooling.sources.mirrors import Location, Mirror, locations
from tooling.sources.signature import SignatureError, verify_detached


@dataclass(frozen=True)
class MissingSource:
    package: str
    file: str
    tried: tuple[str, ...]  # "where: why"
    offline: bool
    vendored: bool  # a lookaside-only source made by `invoke vendor`

    def describe(self) -> str:
        lines = [f"{self.package}: {self.file} is missing"]
        lines += [f"    looked in {t}" for t in self.tried] or ["    no place to look (no mirrors configured)"]
        lines.append(f"    to supply it: {self.how()}")
        return "\n".join(lines)

    def how(self) -> str:
        ways = []
        if self.offline:
            ways.append("run `invoke sources` on a machine with network (fills the cache)")
        else:
            ways.append("add a mirror that has it (--mirror, FORKLIFT_MIRRORS, ~/.config/forklift/mirrors.toml)")
        ways.append("drop the file into a local mirror directory (--mirror dir:PATH)")
        if self.vendored:
            ways.append(f"run `invoke vendor --package {self.package}` to produce it")
        return "; or ".join(ways)


class MissingSourcesError(ForkliftError):
    def __init__(self, missing: list[MissingSource]) -> None:
        self.missing = missing
        body = "\n".join(m.describe() for m in missing)
        super().__init__(
            f"{len(missing)} source file(s) missing:\n{body}",
            hint="`invoke sources` fetches and verifies them into the cache; add --offline to use only the cache "
            "and local mirror directories",
        )


def resolve_sources(
    package: Package,
    *,
    cache: SourceCache,
    mirrors: list[Mirror],
    offline: bool,
    policy: FetchPolicy | None = None,
) -> dict[str, Path]:
    """file name -> verified path for every Source and Patch of ``package``.

    Raises MissingSourcesError listing every file that could not be found, and
    HashMismatchError / SignatureError at once for a file that was found but is wrong.
    """
    found: dict[str, Path] = {}
    missing: list[MissingSource] = []
    for src in package.sources:
        if src.kind == "local":
            found[src.file] = package.directory / src.file
            continue
        path = resolve_one(package, src, cache=cache, mirrors=mirrors, offline=offline, policy=policy)
        if isinstance(path, MissingSource):
            missing.append(path)
        else:
            found[src.file] = path
    for patch in package.patches:
        if patch.source is None:
            found[patch.file] = package.directory / patch.file
            continue
        path = resolve_one(package, patch.source, cache=cache, mirrors=mirrors, offline=offline, policy=policy)
        if isinstance(path, MissingSource):
            missing.append(path)
        else:
            found[patch.file] = path
    if missing:
        raise MissingSourcesError(missing)
    return found


def resolve_one(
    package: Package,
    src: Source,
    *,
    cache: SourceCache,
    mirrors: list[Mirror],
    offline: bool,
    policy: FetchPolicy | None = None,
) -> Path | MissingSource:
    """The verified cached file for ``src``, else the first mirror location with the right bytes.

    A location that serves other bytes is kept in ``rejected/`` with a warning and the next one is
    tried; HashMismatchError only when no location had the right bytes and at least one had wrong ones.
    All locations together get ``policy.deadline`` seconds.
    """
    assert src.hash is not None, f"{package.name}: {src.file} has no hash (model guarantees one)"
    policy = policy or FetchPolicy.from_env()
    cache.check_usable()
    cached = cache.get(src.hash)
    if cached is not None:
        return cached
    with cache.lock(src.hash):  # another process may be fetching the same file
        cached = cache.get(src.hash)
        if cached is not None:
            return cached
        tried = [f"cache {cache.path_for(src.hash)}: not there"]
        deadline = time.monotonic() + policy.deadline
        mismatches: list[HashMismatchError] = []
        for loc in locations(src, package.name, mirrors, offline=offline):
            if not loc.is_local and time.monotonic() >= deadline:
                tried.append(f"{loc.where}: skipped, the deadline of {policy.deadline:g} s for this file passed")
                continue
            try:
                got = _try(package, src, loc, cache, policy, tried, offline, deadline)
            except HashMismatchError as exc:
                mismatches.append(exc)
                tried.append(f"{loc.where}: wrong bytes, {src.hash.hashtype.upper()} {exc.actual}, "
                             f"kept at {exc.kept}")
                warn(f"{src.file} from {loc.where}: {src.hash.hashtype.upper()} mismatch (expected "
                     f"{src.hash.hexdigest[:16]}..., got {exc.actual[:16]}...); kept at {exc.kept}; trying the next mirror")
                continue
            if got is not None:
                return got
    if mismatches:
        raise MirrorsMismatchError(package.name, src, mismatches, tried)
    return MissingSource(package.name, src.file, tuple(tried), offline, vendored=src.kind == "lookaside")


class MirrorsMismatchError(HashMismatchError):
    """No mirror had the right bytes, and at least one had wrong ones."""

    def __init__(self, package: str, src: Source, mismatches: list[HashMismatchError], tried: list[str]) -> None:
        assert src.hash is not None
        first = mismatches[0]
        super().__init__(src.hash, first.actual, first.origin, first.kept)
        self.mismatches = mismatches
        where = "\n".join(f"    {t}" for t in tried)
        ForkliftError.__init__(
            self,
            f"{package}: {src.file}: no mirror has the right bytes; {len(mismatches)} served other bytes\n"
            f"  expected {src.hash.hashtype.upper()} {src.hash.hexdigest}\n{where}",
            hint="if upstream re-rolled the tarball, check why and run invoke new-version; otherwise remove or fix "
            "the mirrors that served it (the bad files are kept under the cache's rejected/)",
        )


def _try(package: Package, src: Source, loc: Location, cache: SourceCache, policy: FetchPolicy,
         tried: list[str], offline: bool, deadline: float | None = None) -> Path | None:
    assert src.hash is not None
    h = src.hash
    if loc.is_local:
        p = Path(loc.where)
        if not p.is_file():
            tried.append(f"{loc.where}: no such file")
            return None
        candidate = cache.scratch(h.filename)
        try:
            shutil.copyfile(p, candidate)
        except OSError as exc:
            cache.discard(candidate)
            if exc.filename is None or str(exc.filename) == str(p):
                tried.append(f"{loc.where}: cannot read: {exc.strerror}")
                return None
            raise os_error(exc, f"copying {p} into the source cache:") from None
        origin = str(p)
    else:
        candidate = cache.partial_path(h)
        try:
            download(loc.where, candidate, policy=policy, deadline=deadline)
        except NotFoundError as exc:
            tried.append(f"{loc.where}: HTTP {exc.status}")
            return None
        except TransientFailure as exc:
            tried.append(f"{loc.where}: {exc.last}" + (f" (after {exc.attempts} attempts)" if exc.attempts else ""))
            return None
        origin = loc.where
    # hash first: a mismatch raises and keeps the file aside in rejected/
    return _verify(package, src, loc, candidate, cache, origin, policy, offline)


def _verify(package: Package, src: Source, loc: Location, candidate: Path, cache: SourceCache,
            origin: str, policy: FetchPolicy, offline: bool) -> Path:
    assert src.hash is not None
    actual = file_digest(candidate, src.hash.hashtype)
    if actual != src.hash.hexdigest:
        kept = cache.reject(candidate, src.file)
        raise HashMismatchError(src.hash, actual, origin, kept)
    if src.signature and src.keyring:
        try:
            sig = fetch_signature(package, src, loc, cache, policy, offline=offline)
        except SignatureError:
            cache.discard(candidate)  # hash-verified, but unusable without its signature
            raise
        try:
            verify_detached(candidate, sig, package.directory / src.keyring, what=f"{package.name}: {src.file}")
        except SignatureError:
            cache.reject(candidate, src.file)
            raise
        finally:
            cache.discard(sig)
    return cache.admit(candidate, src.hash, origin=origin)


def fetch_signature(package: Package, src: Source, loc: Location, cache: SourceCache, policy: FetchPolicy, *,
                    offline: bool) -> Path:
    """The detached signature for ``src``: next to the file in a local directory, else from its URL."""
    assert src.signature is not None
    sig_name = src.signature.rsplit("/", 1)[-1]
    tried: list[str] = []
    if loc.is_local:
        p = Path(loc.where).with_name(sig_name)
        if p.is_file():
            tmp = cache.scratch(sig_name)
            shutil.copyfile(p, tmp)
            return tmp
        tried.append(f"{p}: no such file")
    if not offline:
        tmp = cache.scratch(sig_name)
        tmp.unlink()
        try:
            return download(src.signature, tmp, policy=policy)
        except (NotFoundError, TransientFailure) as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tried.append(str(exc))
    raise SignatureError(
        f"{package.name}: {src.file} declares a signature ({src.signature}) but it could not be obtained:\n"
        + "\n".join(f"    {t}" for t in tried),
        hint=f"put {sig_name} next to {src.file} in the mirror directory, or fetch online",
    )

