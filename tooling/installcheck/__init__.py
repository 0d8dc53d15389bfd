"""Installability: can a user of each target `dnf install` what Forklift ships?

For each target, against a *target base* repository of stub packages that provide what
the distro ships (specs/target-base.toml) and a *Forklift* repository (stubs built from
the real specs with no payload, or the RPMs of a real build), dnf resolves and installs
into a throw-away root:

- ``install``: ``dnf install moby-engine-dm docker-cli`` on a system without SELinux
  policy; the -selinux module must not come along;
- ``install+selinux``: the same with selinux-policy-targeted already installed; where the
  target has SELinux the -selinux module must come along (the engine's rich dependency);
- ``install-all``: every package the target ships, together;
- ``repoclosure``: every dependency of the Forklift repository resolves;
- ``next-to <rival>``: with another vendor's engine installed (docker-ce, moby-engine,
  podman-docker, ...), the install must fail at resolution, naming the rival; never
  succeed (that would end in a file conflict inside the transaction, or two engines).

Planning is pure (:func:`plan`); :func:`check` runs it through tooling/installcheck/dnf.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tooling import render
from tooling.errors import ForkliftError
from tooling.installcheck import base as base_mod
from tooling.installcheck import dnf, stubs
from tooling.lint import rpmspec_parse
from tooling.model import Matrix, Target

ENTRY_PACKAGES = ("moby-engine-dm", "docker-cli")  # what the docs tell a user to install
SELINUX_PACKAGE = "moby-engine-dm-selinux"
POLICY = "selinux-policy-targeted"
_SKIP_RPM = re.compile(r"-(debuginfo|debugsource)-|\.src\.rpm$")


@dataclass(frozen=True)
class Scenario:
    name: str
    preinstall: tuple[str, ...]  # from the base repository first
    install: tuple[str, ...]  # then from base + forklift
    expect_ok: bool
    must_have: tuple[str, ...] = ()  # installed afterwards
    must_not_have: tuple[str, ...] = ()
    must_name: str = ""  # a failure must name this package


@dataclass(frozen=True)
class Verdict:
    target: str
    scenario: str
    ok: bool
    detail: str


def plan(target: Target, base: base_mod.TargetBase, forklift_names: Iterable[str]) -> list[Scenario]:
    """The scenarios for one target (pure)."""
    names = sorted(set(forklift_names))
    selinux = target.features.get("selinux", False) and SELINUX_PACKAGE in names
    entry = tuple(n for n in ENTRY_PACKAGES if n in names)
    out = [
        Scenario("install", (), entry, True, must_have=entry, must_not_have=(SELINUX_PACKAGE, POLICY)),
        Scenario(f"install+{POLICY}", (POLICY,), entry, True, must_have=entry + ((SELINUX_PACKAGE,) if selinux else ())),
        Scenario("install-all", (POLICY,) if selinux else (), tuple(names), True, must_have=tuple(names)),
    ]
    for rival in base.for_target(target, role="rival"):
        out.append(Scenario(f"next-to {rival.name}", (rival.name,), entry, False, must_name=rival.name))
    return out


def check(
    matrix: Matrix,
    targets: Iterable[str] | None,
    work: Path,
    *,
    repo_dirs: dict[str, Path] | None = None,
    jobs: int = 2,
    report: Callable[[str], None] = lambda _msg: None,
) -> list[Verdict]:
    """Resolve every scenario for the selected targets. ``repo_dirs`` maps a target to a built
    repository to check instead of stubs made from the specs."""
    base = base_mod.load(matrix)
    selected = [matrix.targets[t] for t in targets] if targets else list(matrix.targets.values())
    unknown = [t for t in (targets or ()) if t not in matrix.targets]
    if unknown:
        raise ForkliftError(f"unknown target {unknown[0]!r}", hint=f"known targets: {', '.join(matrix.targets)}")
    work.mkdir(parents=True, exist_ok=True)

    def one(target: Target) -> list[Verdict]:
        verdicts = _check_target(matrix, target, base, work, (repo_dirs or {}).get(target.name))
        report(f"{target.name}: {sum(v.ok for v in verdicts)}/{len(verdicts)} ok")
        return verdicts

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, selected))
    return [v for vs in results for v in vs]


def _check_target(matrix: Matrix, target: Target, base: base_mod.TargetBase, work: Path,
                  built_repo: Path | None) -> list[Verdict]:
    tdir = work / target.name
    base_repo, fk_repo = tdir / "base", tdir / "forklift"
    for d in (base_repo, fk_repo):
        if d.exists():
            shutil.rmtree(d)
    stub_cache = work / "stubs"
    for pkg in base.for_target(target):
        for rpm in dnf.build_stub(stubs.base_stub_spec(pkg, target.dist), stub_cache, work / "tmp"):
            _link(rpm, base_repo)
    if built_repo is not None:
        rpms = [p for p in built_repo.glob("*.rpm") if not _SKIP_RPM.search(p.name)]
        if not rpms:
            raise ForkliftError(f"{built_repo}: no RPMs to check", hint=f"build the target first (invoke build -t {target.name})")
        for rpm in rpms:
            _link(rpm, fk_repo)
    else:
        specs = render.write_specs(render.render_all(matrix, [target.name], enabled_only=True), tdir / "specs")
        for spec in specs:
            expanded, findings = rpmspec_parse(spec, target, matrix.root)
            errors = [f for f in findings if f.level == "error"]
            if errors:
                raise ForkliftError(f"{spec}: rpmspec cannot parse it for {target.name}: {errors[0].message}")
            for rpm in dnf.build_stub(stubs.stub_from_expanded(expanded), stub_cache, work / "tmp"):
                _link(rpm, fk_repo)
    dnf.createrepo(base_repo)
    dnf.createrepo(fk_repo)
    names = _rpm_names(fk_repo)
    repos = {"base": base_repo, "forklift": fk_repo}
    verdicts = []
    for sc in plan(target, base, names):
        verdicts.append(_run(target, sc, tdir, repos))
    closure = dnf.InstallRoot(tdir / "root-closure", str(target.version), repos).repoclosure("forklift")
    verdicts.append(Verdict(target.name, "repoclosure", closure.ok, _tail(closure.output) if not closure.ok else "closed"))
    return verdicts


def _run(target: Target, sc: Scenario, tdir: Path, repos: dict[str, Path]) -> Verdict:
    root = dnf.InstallRoot(tdir / f"root-{re.sub(r'[^a-z0-9]+', '-', sc.name)}", str(target.version), repos)
    if sc.preinstall:
        pre = root.install(sc.preinstall, repos=["base"])
        if not pre.ok:
            return Verdict(target.name, sc.name, False, f"could not install {' '.join(sc.preinstall)} from the "
                           f"target base: {_tail(pre.output)}")
    res = root.install(sc.install)
    if sc.expect_ok:
        if not res.ok:
            return Verdict(target.name, sc.name, False, f"dnf install {' '.join(sc.install)} failed: {_tail(res.output)}")
        missing = [n for n in sc.must_have if n not in res.installed]
        extra = [n for n in sc.must_not_have if n in res.installed]
        if missing:
            return Verdict(target.name, sc.name, False, f"installed, but without {', '.join(missing)}")
        if extra:
            return Verdict(target.name, sc.name, False, f"installed, but pulled in {', '.join(extra)}")
        return Verdict(target.name, sc.name, True, f"{len(res.installed)} packages")
    if res.ok:
        return Verdict(target.name, sc.name, False,
                       f"{' '.join(sc.install)} installed next to {sc.must_name}: a Conflicts is missing "
                       "(the real packages would clash on files inside the transaction)")
    if sc.must_name not in res.output or "conflict" not in res.output.lower():
        return Verdict(target.name, sc.name, False, f"refused, but not for a conflict with {sc.must_name}: "
                       f"{_tail(res.output)}")
    return Verdict(target.name, sc.name, True, _conflict_line(res.output, sc.must_name))


def _link(rpm: Path, repo: Path) -> None:
    repo.mkdir(parents=True, exist_ok=True)
    dest = repo / rpm.name
    if not dest.exists():
        shutil.copy2(rpm, dest)


def _rpm_names(repo: Path) -> list[str]:
    import rpm as rpmlib

    ts = rpmlib.TransactionSet()
    ts.setVSFlags(rpmlib._RPMVSF_NOSIGNATURES | rpmlib._RPMVSF_NODIGESTS)
    names = []
    for path in sorted(repo.glob("*.rpm")):
        with open(path, "rb") as fh:
            names.append(str(ts.hdrFromFdno(fh.fileno())[rpmlib.RPMTAG_NAME]))
    return names


def _tail(output: str, lines: int = 6) -> str:
    keep = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.startswith(("Last metadata", "Added "))]
    return " | ".join(keep[-lines:])


def _conflict_line(output: str, rival: str) -> str:
    for line in output.splitlines():
        if rival in line and "conflict" in line.lower():
            return line.strip()
    return _tail(output, 2)
