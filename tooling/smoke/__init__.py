"""Smoke tests of the packages in build/repos/<target>/: provisioners (mock,
container, vm) behind one interface, the checks written once
(guest/checks.sh), JUnit XML and a readable summary in build/smoke/<target>/."""

from __future__ import annotations

from pathlib import Path

from tooling.errors import ForkliftError
from tooling.model import Matrix
from tooling.smoke import report as report_mod
from tooling.smoke import verdict
from tooling.smoke.packages import read_repo
from tooling.smoke.provision import RPM_NATIVE_ENGINES, Provisioner, SmokeRequest

VIAS = ("mock", "container", "vm")


def provisioner(via: str) -> Provisioner:
    if via == "vm":
        from tooling.smoke.vm import VmProvisioner

        return VmProvisioner()
    if via == "container":
        from tooling.smoke.container import ContainerProvisioner

        return ContainerProvisioner()
    if via == "mock":
        from tooling.smoke.mock import MockProvisioner

        return MockProvisioner()
    raise ForkliftError(f"unknown provisioner --via {via!r}", hint=f"choose one of: {', '.join(VIAS)}")


ENGINES = ("rpm", "standin", "debian")  # standin: tooling/smoke/standin.py


def check_arguments(matrix: Matrix, target: str, *, via: str, engine: str, build_dir: Path,
                    previous_repo: Path | None = None, image: str | None = None, selinux: bool = False) -> None:
    """Every argument of `invoke smoke`, checked before any work (no image built, no directory made)."""
    matrix.select_targets([target])
    if selinux and (via != "vm" or engine not in RPM_NATIVE_ENGINES or image):
        raise ForkliftError("--selinux: only with --via vm, --engine rpm or standin and no --image",
                            hint="the enforcing guest is the RPM-native Debian-userland one; on Fedora/RHEL images "
                                 "SELinux is the image's own")
    if image is not None and via == "vm":  # a cloud image (cloud.py): the RPM-native guest's engines only
        from tooling.smoke import cloud

        if engine not in RPM_NATIVE_ENGINES:
            raise ForkliftError(f"--image {image}: a cloud image installs RPMs, not --engine {engine}",
                                hint="use --engine rpm or standin with --image, or omit --image")
        cloud.check_image(image)
        cloud.direct_boot()  # the test-only $FORKLIFT_CLOUD_KERNEL/_INITRD, when set, must name files
    if previous_repo is not None:
        if via != "vm" or engine != "rpm":
            raise ForkliftError(f"--previous-repo {previous_repo}: only with --via vm --engine rpm",
                                hint="the stand-in engine builds its own release N-1")
        if not previous_repo.is_dir() or not any(previous_repo.glob("*.rpm")):
            raise ForkliftError(f"--previous-repo {previous_repo}: no RPMs there",
                                hint="give the repo of the previous release (build/repos/<target> of that build)")
    if via not in VIAS:
        raise ForkliftError(f"--via {via}: unknown provisioner", hint=f"choose one of: {', '.join(VIAS)}")
    if engine not in ENGINES:
        src = Path(engine)
        if not src.is_dir():
            raise ForkliftError(f"--engine {engine}: neither {' nor '.join(ENGINES)} nor a directory",
                                hint="rpm tests build/repos/<target>/; debian the known-good docker.io; "
                                     "a directory must hold usr/bin/dockerd or dockerd")
        if not ((src / "usr" / "bin" / "dockerd").is_file() or (src / "dockerd").is_file()):
            raise ForkliftError(f"--engine {engine}: the directory holds no dockerd (usr/bin/dockerd or dockerd)",
                                hint="point --engine at an unpacked engine, or use rpm / debian")
    if not build_dir.is_dir():
        raise ForkliftError(f"--build-dir {build_dir}: no such directory",
                            hint="smoke tests what invoke build put there: build first, or point --build-dir at it")


def smoke(
    matrix: Matrix, target: str, *, via: str, image: str | None, build_dir: Path,
    engine: str = "rpm", timeout: float = 600.0, previous_repo: Path | None = None, broken: str | None = None,
    steps: tuple[str, ...] = (), selinux: bool = False,
) -> report_mod.SmokeReport:
    """Run the suite and write build/smoke/<target>/junit.xml and summary.txt; returns the report."""
    check_arguments(matrix, target, via=via, engine=engine, build_dir=build_dir, previous_repo=previous_repo,
                    image=image, selinux=selinux)
    tgt = matrix.select_targets([target])[0]
    prov = provisioner(via)
    repo = read_repo(build_dir / "repos" / target)
    out_dir = build_dir / "smoke" / target
    out_dir.mkdir(parents=True, exist_ok=True)
    request = SmokeRequest(target=tgt, repo=repo, out_dir=out_dir, image=image, engine=engine, timeout=timeout,
                           previous_repo=previous_repo, broken=broken, steps=steps, selinux=selinux)
    outcome = prov.run(request)
    rep = report_mod.SmokeReport(
        target=target, via=via, engine=outcome.engine,
        results=tuple(verdict.parse(outcome.console)),
        timings=outcome.timings, problems=tuple(outcome.problems),
    )
    report_mod.write(rep, out_dir)
    return rep


def run_smoke(matrix: Matrix, target: str, *, via: str, image: str | None, build_dir: Path,
              engine: str = "rpm", previous_repo: Path | None = None, selinux: bool = False) -> None:
    """The `invoke smoke` entry point: raises ForkliftError when a check fails."""
    rep = smoke(matrix, target, via=via, image=image, build_dir=build_dir, engine=engine,
                previous_repo=previous_repo, selinux=selinux, timeout=1500.0 if selinux else 600.0)
    out = build_dir / "smoke" / target
    summary = out / "summary.txt"
    if summary.exists():
        print(summary.read_text(encoding="utf-8"), end="")
        print(f"JUnit XML: {out / 'junit.xml'}")
    if not rep.ok:
        failed = ", ".join(r.name for r in rep.failed) or "no verdict"
        detail = "\n".join(f"  {r.name}: {r.detail}" for r in rep.failed) + "".join(
            f"\n  harness: {p}" for p in rep.problems
        )
        raise ForkliftError(
            f"smoke {target} via {via}: failed: {failed}\n{detail}",
            hint=f"read {out / 'summary.txt'} and the logs under {out}",
        )
