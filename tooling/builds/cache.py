"""The build cache: skip a build whose inputs are unchanged and whose results exist.

The key of a build is a SHA-256 over: the SRPM's content hash, the target's
facts, the builder's settings and the content hashes of the results of its
internal build dependencies. An entry (``build/cache/<target>/<package>.json``)
records the key and the result RPMs with their sizes and hashes; it is written
atomically after the results are published, so an interrupted build leaves no
entry that claims results it does not have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.fsutil import atomic_write_text
from tooling.model import Target


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class HashMemo:
    """Content hashes remembered by (path, size, mtime): a no-op run hashes nothing twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, list[Any]] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self.data = {}
        self.dirty = False

    def sha256(self, file: Path) -> str:
        st = file.stat()
        key = str(file.resolve())
        cached = self.data.get(key)
        if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
            return str(cached[2])
        digest = file_sha256(file)
        self.data[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            atomic_write_text(self.path, json.dumps(self.data, sort_keys=True))
            self.dirty = False


def target_facts(target: Target) -> dict[str, Any]:
    facts = dataclasses.asdict(target)
    return json.loads(json.dumps(facts, default=str, sort_keys=True))


def build_key(srpm_sha256: str, target: Target, builder_settings: Mapping[str, str],
              dep_results: Mapping[str, Mapping[str, str]]) -> str:
    payload = {
        "srpm": srpm_sha256,
        "target": target_facts(target),
        "builder": dict(sorted(builder_settings.items())),
        "deps": {name: dict(sorted(r.items())) for name, r in sorted(dep_results.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    key: str
    nvr: str
    rpms: Mapping[str, str]  # file name -> sha256
    sizes: Mapping[str, int]

    def valid_in(self, resultdir: Path) -> bool:
        for name, size in self.sizes.items():
            try:
                if (resultdir / name).stat().st_size != size:
                    return False
            except FileNotFoundError:
                return False
        return bool(self.sizes)


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, target: str, package: str) -> Path:
        return self.root / target / f"{package}.json"

    def get(self, target: str, package: str) -> Entry | None:
        try:
            data = json.loads(self._path(target, package).read_text())
            return Entry(key=data["key"], nvr=data["nvr"], rpms=data["rpms"], sizes=data["sizes"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def put(self, target: str, package: str, key: str, nvr: str, rpms: Iterable[Path], memo: HashMemo) -> Entry:
        files = sorted(rpms)
        entry = Entry(key=key, nvr=nvr, rpms={p.name: memo.sha256(p) for p in files},
                      sizes={p.name: p.stat().st_size for p in files})
        atomic_write_text(self._path(target, package), json.dumps(dataclasses.asdict(entry), indent=1, sort_keys=True))
        return entry

    def durations(self) -> dict[tuple[str, str], float]:
        """Seconds each (target, package) took when it was last built: the scheduler's estimates."""
        try:
            data = json.loads((self.root / "durations.json").read_text())
            return {(t, p): float(s) for key, s in data.items() for t, _, p in [key.partition("/")]}
        except (FileNotFoundError, ValueError, TypeError, AttributeError):
            return {}

    def record_durations(self, seconds: Mapping[tuple[str, str], float]) -> None:
        if not seconds:
            return
        merged = self.durations() | dict(seconds)
        data = {f"{t}/{p}": round(s, 2) for (t, p), s in sorted(merged.items())}
        atomic_write_text(self.root / "durations.json", json.dumps(data, indent=1))

    def drop(self, target: str, package: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(target, package))
