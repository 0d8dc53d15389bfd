"""`invoke cache`: what Forklift's caches hold, and pruning them to a size cap.

The caches, in the order pruning empties them (cheapest to make again first):

1. Go build caches, one per toolchain (tooling/builds/gocache.py): made again by compiling;
2. installcheck stubs (``build/installcheck/stubs``) and the smoke caches
   (``.cache/smoke``: images, package repositories, stubs): made again offline;
3. the source cache (tooling/sources): tarballs whose re-download may need the network.

Pruning removes the least recently used entries first (by modification time: Go refreshes
an entry's time when it uses it; a smoke image or stub is one directory), class by class,
until the total is at most ``--max-size``. Go's own bookkeeping files (``README``,
``trim.txt``) stay, so a pruned cache is still a valid cache.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tooling.errors import ForkliftError

DEFAULT_MAX_SIZE = 20 * 2**30  # 20 GiB: a matrix of Go caches (~2 GiB a toolchain), sources, smoke images
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_GO_KEEP = {"README", "trim.txt"}


@dataclass
class Entry:
    path: Path
    size: int
    mtime: float


@dataclass
class Cache:
    name: str
    path: Path
    priority: int  # pruned in ascending order
    entries: list[Entry] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries)


def parse_size(text: str) -> int:
    """'20G', '500M', '1.5G', '123' (bytes) -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ForkliftError(f"not a size: {text!r}", hint="a number of bytes with K, M, G or T, e.g. 20G")
    return int(float(m[1]) * _UNITS[m[2].upper()])


def human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _tree_size(path: Path) -> tuple[int, float]:
    total, newest = 0, 0.0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            total += st.st_blocks * 512
            newest = max(newest, st.st_mtime)
    return total, newest


def _files(path: Path, keep: set[str] | None = None) -> Iterator[Entry]:
    """Every file under ``path`` as its own entry."""
    for root, _dirs, files in os.walk(path):
        for f in files:
            if keep and f in keep:
                continue
            p = Path(root) / f
            try:
                st = p.lstat()
            except OSError:
                continue
            yield Entry(p, st.st_blocks * 512, st.st_mtime)


def _dirs(path: Path) -> Iterator[Entry]:
    """Every child of ``path`` (a directory: one entry with its whole tree)."""
    if not path.is_dir():
        return
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.is_symlink():
            size, mtime = _tree_size(child)
            yield Entry(child, size, mtime or child.stat().st_mtime)
        else:
            st = child.lstat()
            yield Entry(child, st.st_blocks * 512, st.st_mtime)


def survey(*, go_root: Path, source_cache: Path, smoke_cache: Path, build_dir: Path) -> list[Cache]:
    """The caches and their entries (missing caches are listed empty)."""
    caches: list[Cache] = []
    if go_root.is_dir():
        for tc in sorted(p for p in go_root.iterdir() if p.is_dir()):
            caches.append(Cache(f"go build cache {tc.name}", tc, 0, list(_files(tc, _GO_KEEP))))
    else:
        caches.append(Cache("go build cache", go_root, 0))
    caches.append(Cache("installcheck stubs", build_dir / "installcheck" / "stubs", 1,
                        list(_dirs(build_dir / "installcheck" / "stubs"))))
    for sub in ("stubs", "repos"):
        caches.append(Cache(f"smoke {sub}", smoke_cache / sub, 1, list(_dirs(smoke_cache / sub))))
    images = [e for e in _dirs(smoke_cache) if e.path.name not in ("stubs", "repos")]
    caches.append(Cache("smoke images", smoke_cache, 1, images))
    caches.append(Cache("sources", source_cache, 2, list(_files(source_cache))))
    return caches


def prune(caches: list[Cache], max_size: int) -> list[Entry]:
    """Remove least recently used entries, cheapest class first, until the total is <= max_size."""
    total = sum(c.size for c in caches)
    removed: list[Entry] = []
    order = sorted((c.priority, e.mtime, id(e), e, c) for c in caches for e in c.entries)
    for _prio, _mtime, _id, entry, cache in order:
        if total <= max_size:
            break
        try:
            if entry.path.is_dir() and not entry.path.is_symlink():
                shutil.rmtree(entry.path)
            else:
                entry.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ForkliftError(f"could not remove {entry.path}: {exc.strerror}") from None
        cache.entries.remove(entry)
        total -= entry.size
        removed.append(entry)
    return removed


def cache_command(*, prune_to: int | None, source_cache: Path | None, build_dir: Path,
                  smoke_cache: Path | None = None, out: object = print) -> list[Cache]:
    """`invoke cache`: print each cache's size (and prune first when ``prune_to`` is given)."""
    from tooling import REPO_ROOT
    from tooling.builds.gocache import go_root
    from tooling.sources.api import default_cache_dir

    say = out if callable(out) else print
    caches = survey(go_root=go_root(), source_cache=(source_cache or default_cache_dir()).resolve(),
                    smoke_cache=smoke_cache or REPO_ROOT / ".cache" / "smoke", build_dir=build_dir)
    if prune_to is not None:
        before = sum(c.size for c in caches)
        removed = prune(caches, prune_to)
        freed = sum(e.size for e in removed)
        say(f"pruned {len(removed)} entries, {human(freed)} (total {human(before)} -> "
            f"{human(before - freed)}, cap {human(prune_to)})")
    width = max(len(c.name) for c in caches)
    for c in caches:
        say(f"{c.name:<{width}}  {human(c.size):>10}  {len(c.entries):>7} entries  {c.path}")
    say(f"{'total':<{width}}  {human(sum(c.size for c in caches)):>10}")
    return caches
