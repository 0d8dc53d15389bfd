"""The target base (specs/target-base.toml): what each target's distro ships, as typed
records, loaded and validated once. Errors name the file and the key."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import DataError
from tooling.model import Matrix, Target, _Table, read_toml

BASE_FILE = "target-base.toml"
ROLES = ("distro", "rival")
ARCHES = ("noarch",)
_EVR = re.compile(r"^(?:(?P<epoch>\d+):)?(?P<version>[A-Za-z0-9._+~^]+)-(?P<release>[A-Za-z0-9._+~^]+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*$")


@dataclass(frozen=True)
class BasePackage:
    name: str
    epoch: int | None
    version: str
    release: str
    targets: tuple[str, ...]  # names or globs over targets.toml
    noarch: bool
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    files: tuple[str, ...]
    role: str
    source: str

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch is not None else "") + f"{self.version}-{self.release}"

    def for_target(self, target: Target) -> bool:
        return any(fnmatch.fnmatchcase(target.name, pattern) for pattern in self.targets)


@dataclass(frozen=True)
class TargetBase:
    path: Path
    packages: tuple[BasePackage, ...]

    def for_target(self, target: Target, role: str | None = None) -> list[BasePackage]:
        return [p for p in self.packages if p.for_target(target) and (role is None or p.role == role)]


def load(matrix: Matrix) -> TargetBase:
    """specs/target-base.toml next to targets.toml, checked against the matrix's targets."""
    path = matrix.root / BASE_FILE
    doc = _Table(path, "", read_toml(path))
    entries = doc.get("package", list)
    doc.no_unknown()
    packages: list[BasePackage] = []
    seen: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(entries):
        pkg = _load_package(_Table(path, f"package[{i}]", raw), matrix)
        for target in matrix.targets.values():
            if pkg.for_target(target):
                key = (pkg.name, target.name)
                if key in seen:
                    raise DataError(path, f"package[{i}]", f"{pkg.name} is listed twice for target {target.name} "
                                    f"(also package[{seen[key]}])", hint="narrow one entry's `targets`")
                seen[key] = i
        packages.append(pkg)
    return TargetBase(path, tuple(packages))


def _load_package(t: _Table, matrix: Matrix) -> BasePackage:
    name = t.get("name", str)
    if not _NAME.match(name):
        raise DataError(t.path, f"{t.key}.name", f"{name!r} is not a package name")
    evr = t.get("evr", str)
    m = _EVR.match(evr)
    if not m:
        raise DataError(t.path, f"{t.key}.evr", f"{evr!r} is not [epoch:]version-release", hint='e.g. "2:2.235.0-1"')
    targets = t.str_list("targets")
    if not targets:
        raise DataError(t.path, f"{t.key}.targets", "empty: name at least one target or glob")
    for j, pattern in enumerate(targets):
        if not any(fnmatch.fnmatchcase(n, pattern) for n in matrix.targets):
            raise DataError(t.path, f"{t.key}.targets[{j}]", f"{pattern!r} matches no target in targets.toml",
                            hint=f"known targets: {', '.join(matrix.targets)}")
    arch = t.get("arch", str, None)
    if arch is not None and arch not in ARCHES:
        raise DataError(t.path, f"{t.key}.arch", f"{arch!r}: only \"noarch\" may be given (default: the host's arch)")
    role = t.get("role", str, "distro")
    if role not in ROLES:
        raise DataError(t.path, f"{t.key}.role", f"{role!r} is not one of {', '.join(ROLES)}")
    files = t.str_list("files", ())
    for j, f in enumerate(files):
        if not f.startswith("/"):
            raise DataError(t.path, f"{t.key}.files[{j}]", f"{f!r} is not an absolute path")
    source = t.get("source", str)
    if not source.strip():
        raise DataError(t.path, f"{t.key}.source", "empty: say where the fact comes from")
    pkg = BasePackage(
        name=name, epoch=int(m["epoch"]) if m["epoch"] else None, version=m["version"], release=m["release"],
        targets=targets, noarch=arch == "noarch", provides=t.str_list("provides", ()),
        requires=t.str_list("requires", ()), files=files, role=role, source=source,
    )
    t.no_unknown()
    return pkg
