"""Pure planning: SRPM headers -> dependency graph -> ordered layers.

``read_srpm`` reads the source header with the rpm bindings (BuildRequires are
the source header's Requires, minus ``rpmlib(...)``). An SRPM header lists only
the source package, so the binary subpackages and their Provides come from the
spec packed inside the SRPM: it is read out of the payload with the rpm
bindings and parsed with ``rpm.spec`` under the target's macros (rpm 4.18:
``spec.packages[i].header`` carries each subpackage's PROVIDENAME). Nothing is
matched with regular expressions.

Internal dependencies: a BuildRequires is *internal* when a package of this
plan provides it (a subpackage name or an explicit Provides), or when its name
looks like one of this repository's packages: it equals a declared internal
name or starts with ``<name>-`` (``foo-devel``, ``foo-libs`` of package
``foo``). An internal-looking BuildRequires that nobody in the plan provides
is an error before anything runs; so is a cycle.
"""

from __future__ import annotations

import graphlib
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError

_rpm_lock = threading.Lock()  # rpm's macro context is process-global

JobId = tuple[str, str]  # (target, package)


@dataclass(frozen=True)
class SrpmInfo:
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    nvr: str
    provides: tuple[str, ...]  # names provided by the binary subpackages (package names included)
    buildrequires: tuple[str, ...]  # "name [op version]" as in the header
    path: Path
    packages: tuple[str, ...] = ()  # binary subpackage names

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name, "epoch": self.epoch, "version": self.version, "release": self.release,
            "arch": self.arch, "nvr": self.nvr, "provides": list(self.provides),
            "buildrequires": list(self.buildrequires), "path": str(self.path), "packages": list(self.packages),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> SrpmInfo:
        def strs(key: str) -> tuple[str, ...]:
            value = data[key]
            assert isinstance(value, list)
            return tuple(str(v) for v in value)

        epoch = data["epoch"]
        return cls(
            name=str(data["name"]), epoch=int(epoch) if isinstance(epoch, int) else None,
            version=str(data["version"]), release=str(data["release"]), arch=str(data["arch"]),
            nvr=str(data["nvr"]), provides=strs("provides"), buildrequires=strs("buildrequires"),
            path=Path(str(data["path"])), packages=strs("packages"),
        )


def dep_name(dep: str) -> str:
    """``'golang >= 1.22'`` -> ``'golang'``."""
    return dep.split(" ", 1)[0]


def _as_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_srpm(path: Path, *, macros: Mapping[str, str] | None = None) -> SrpmInfo:
    """Read name, EVR, BuildRequires and the subpackages' Provides of an SRPM.

    ``macros`` are defined while the packed spec is parsed (pass the target's
    ``rpm_macros`` so that conditional subpackages come out as on the target).
    """
    import rpm

    path = Path(path)
    if not path.is_file():
        raise ForkliftError(f"SRPM not found: {path}", hint="run `invoke srpm` first")
    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        fd = rpm.fd.open(str(path))
        hdr = ts.hdrFromFdno(fd)
    except (rpm.error, OSError) as exc:
        raise ForkliftError(f"{path}: not a readable RPM ({exc})", hint="rebuild it with `invoke srpm`") from None
    if not hdr[rpm.RPMTAG_SOURCEPACKAGE]:
        raise ForkliftError(f"{path}: is a binary RPM, not a source RPM", hint="pass the .src.rpm")
    brs = tuple(
        _dnevr(d) for d in rpm.ds(hdr, rpm.RPMTAG_REQUIRENAME) if not d.N().startswith("rpmlib(")
    )
    name = _as_str(hdr[rpm.RPMTAG_NAME])
    spec_bytes = _packed_spec(rpm, fd, hdr, path)
    fd.close()
    packages, provides = _spec_provides(rpm, spec_bytes, macros or {}, path)
    epoch = hdr[rpm.RPMTAG_EPOCH]
    version = _as_str(hdr[rpm.RPMTAG_VERSION])
    release = _as_str(hdr[rpm.RPMTAG_RELEASE])
    return SrpmInfo(
        name=name, epoch=int(epoch) if epoch is not None else None, version=version, release=release,
        arch=_as_str(hdr[rpm.RPMTAG_ARCH]), nvr=f"{name}-{version}-{release}", provides=provides,
        buildrequires=brs, path=path.resolve(), packages=packages,
    )


def _dnevr(ds: object) -> str:
    text: str = ds.DNEVR()  # type: ignore[attr-defined]
    return text[2:] if text[:2] in ("R ", "P ") else text


def _packed_spec(rpm: object, fd: object, hdr: object, path: Path) -> bytes:
    r = rpm
    try:
        files = r.files(hdr)  # type: ignore[attr-defined]
        payload = r.fd.open(fd, flags=hdr[r.RPMTAG_PAYLOADCOMPRESSOR])  # type: ignore[attr-defined,index]
        archive = files.archive(payload)
        for entry in archive:
            if entry.name.endswith(".spec"):
                data: bytes = archive.read()
                return data
    except Exception as exc:  # rpm raises plain errors for broken payloads
        raise ForkliftError(f"{path}: the payload cannot be read ({exc})", hint="rebuild it with `invoke srpm`") from None
    raise ForkliftError(f"{path}: holds no .spec file", hint="rebuild it with `invoke srpm`")


def _spec_provides(
    rpm: object, spec: bytes, macros: Mapping[str, str], path: Path
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    r = rpm
    with _rpm_lock, tempfile.TemporaryDirectory(prefix="forklift-spec-") as tmp:
        spec_path = os.path.join(tmp, "packed.spec")
        with open(spec_path, "wb") as fh:
            fh.write(spec)
        for k, v in macros.items():
            r.addMacro(k, v)  # type: ignore[attr-defined]
        r.addMacro("_sourcedir", tmp)  # type: ignore[attr-defined]
        try:
            parsed = r.spec(spec_path)  # type: ignore[attr-defined]
        except ValueError as exc:
            raise ForkliftError(f"{path}: its spec does not parse ({exc})", hint="check it with `invoke lint`") from None
        finally:
            r.delMacro("_sourcedir")  # type: ignore[attr-defined]
            for k in macros:
                r.delMacro(k)  # type: ignore[attr-defined]
        names: list[str] = []
        provides: set[str] = set()
        for pkg in parsed.packages:
            h = pkg.header
            names.append(_as_str(h[r.RPMTAG_NAME]))  # type: ignore[attr-defined]
            provides.update(_as_str(p) for p in h[r.RPMTAG_PROVIDENAME])  # type: ignore[attr-defined]
            provides.add(names[-1])
    return tuple(names), tuple(sorted(provides))


# --------------------------------------------------------------------------- graph


def is_internal_name(dep: str, internal_names: Iterable[str]) -> bool:
    name = dep_name(dep)
    return any(name == n or name.startswith(n + "-") for n in internal_names)


def dependencies(
    infos: list[SrpmInfo], internal_names: Iterable[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """For each package, the packages of ``infos`` it BuildRequires (sorted).

    Raises ForkliftError for an internal dependency nobody provides.
    """
    declared = set(internal_names or ()) | {i.name for i in infos}
    by_provide: dict[str, list[str]] = {}
    for info in infos:
        for prov in info.provides:
            by_provide.setdefault(prov, []).append(info.name)
    seen: set[str] = set()
    out: dict[str, tuple[str, ...]] = {}
    for info in infos:
        if info.name in seen:
            raise ForkliftError(f"two SRPMs of package {info.name}: {info.path} and another one",
                                hint="remove the stale SRPM from build/srpms/")
        seen.add(info.name)
        deps: set[str] = set()
        for br in info.buildrequires:
            providers = by_provide.get(dep_name(br), [])
            if providers:
                deps.update(p for p in providers if p != info.name)
            elif is_internal_name(br, declared):
                raise ForkliftError(
                    f"{info.nvr} BuildRequires {br!r}, an internal package, but no package of this build provides it "
                    f"(SRPM {info.path})",
                    hint="build the package that provides it too (or drop the --package filter), "
                         "or fix the BuildRequires in the spec template",
                )
        out[info.name] = tuple(sorted(deps))
    return out


def plan_layers(infos: list[SrpmInfo], internal_names: Iterable[str] | None = None) -> list[list[SrpmInfo]]:
    """Order ``infos`` into layers: each layer needs only packages of earlier layers.

    Raises ForkliftError on a cycle (naming it) or on an internal dependency
    that nobody provides (see the module docstring).
    """
    deps = dependencies(infos, internal_names)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for name in sorted(deps):
        sorter.add(name, *deps[name])
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(exc.args[1])
        raise ForkliftError(
            "build dependency cycle: " + " -> ".join(cycle),
            hint="break it in the spec templates (e.g. a bootstrap conditional)",
        ) from None
    by_name = {i.name: i for i in infos}
    layers: list[list[SrpmInfo]] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        layers.append([by_name[n] for n in ready])
        sorter.done(*ready)
    return layers


def closure(deps: Mapping[str, tuple[str, ...]], wanted: Iterable[str]) -> set[str]:
    """``wanted`` plus everything it needs, transitively."""
    out: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name in out:
            continue
        out.add(name)
        stack.extend(deps.get(name, ()))
    return out


def estimated_costs(jobs: Iterable[JobId], history: Mapping[JobId, float],
                    sizes: Mapping[JobId, int] | None = None) -> dict[JobId, float]:
    """Each job's expected build time: its last recorded time, else that package's mean on other
    targets, else the median of everything recorded. With nothing recorded at all (a first run),
    the SRPMs' sizes rank the jobs (the larger sources build longer: the engine before containerd
    before the CLI); without those, 1.0 each."""
    jobs = list(jobs)
    known = [s for s in history.values() if s > 0]
    if not known and sizes:
        # per package (its largest SRPM), so the targets of one package tie and keep name order
        largest: dict[str, int] = {}
        for (_, package), size in sizes.items():
            largest[package] = max(largest.get(package, 0), size)
        return {job: largest.get(job[1], 0) / 1e6 or 1.0 for job in jobs}
    fallback = sorted(known)[len(known) // 2] if known else 1.0
    by_package: dict[str, list[float]] = {}
    for (_, package), seconds in history.items():
        if seconds > 0:
            by_package.setdefault(package, []).append(seconds)
    out: dict[JobId, float] = {}
    for job in jobs:
        if history.get(job, 0) > 0:
            out[job] = history[job]
        elif job[1] in by_package:
            out[job] = sum(by_package[job[1]]) / len(by_package[job[1]])
        else:
            out[job] = fallback
    return out


def critical_path(deps: Mapping[JobId, Iterable[JobId]], cost: Mapping[JobId, float]) -> dict[JobId, float]:
    """For each job, its cost plus that of the longest chain of jobs that wait for it: the
    scheduler starts the ready job with the highest value first (longest remaining path), so the
    head of a long chain is not left queued behind short independent jobs.

    ``deps`` maps every job to the jobs it needs (all of them keys of ``deps``).
    """
    waiting: dict[JobId, list[JobId]] = {j: [] for j in deps}
    for job, needs in deps.items():
        for d in needs:
            waiting[d].append(job)
    sorter: graphlib.TopologicalSorter[JobId] = graphlib.TopologicalSorter()
    for job, needs in deps.items():
        sorter.add(job, *needs)
    out: dict[JobId, float] = {}
    for job in reversed(list(sorter.static_order())):  # dependents before what they need
        out[job] = cost.get(job, 1.0) + max((out[w] for w in waiting[job]), default=0.0)
    return out
