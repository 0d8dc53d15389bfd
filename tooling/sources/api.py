"""Task-level entry points for sources (called by tasks.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tooling.model import Matrix
from tooling.sources.cache import SourceCache
from tooling.sources.mirrors import Mirror, configured_mirrors
from tooling.sources.resolve import MissingSource, MissingSourcesError, resolve_one

Report = Callable[[str], None]


def default_cache_dir() -> Path:
    """$FORKLIFT_CACHE, else $XDG_CACHE_HOME/forklift/sources (~/.cache/forklift/sources)."""
    env = os.environ.get("FORKLIFT_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "forklift" / "sources"


def sources_config(cache_dir: Path | None = None, mirrors: list[str] | None = None) -> tuple[SourceCache, list[Mirror]]:
    """The cache (--cache-dir, else the default) and mirrors (--mirror options, else env/config)."""
    return SourceCache((cache_dir or default_cache_dir()).resolve()), configured_mirrors(mirrors)


def default_sources_config() -> tuple[SourceCache, list[Mirror]]:
    """Cache and mirrors from the environment and the user's config only."""
    return sources_config(None, None)


def fetch_sources(
    matrix: Matrix,
    packages: list[str],
    *,
    offline: bool,
    cache_dir: Path | None,
    mirrors: list[str],
    report: Report = print,
) -> None:
    """`invoke sources`: bring every remote/lookaside source of the packages (all when empty) into
    the cache, verified. Raises MissingSourcesError listing every file that could not be found."""
    cache, mirror_list = sources_config(cache_dir, mirrors)
    missing: list[MissingSource] = []
    for pkg in matrix.select_packages(packages):
        for src in pkg.remote_sources:
            assert src.hash is not None
            hit = cache.get(src.hash) is not None
            start = time.monotonic()
            got = resolve_one(pkg, src, cache=cache, mirrors=mirror_list, offline=offline)
            if isinstance(got, MissingSource):
                missing.append(got)
                report(f"MISSING  {pkg.name}: {src.file}")
                continue
            how = "cached  " if hit else f"fetched  ({time.monotonic() - start:.1f} s)"
            report(f"ok {src.hash.hashtype.upper()} {how} {pkg.name}: {src.file} -> {got}")
    if missing:
        raise MissingSourcesError(missing)
