"""Which SRPMs go to koji, in which layers, and waiting for the buildroot repo between layers."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import koji
import koji.util

from tooling.builds.plan import SrpmInfo, plan_layers, read_srpm
from tooling.errors import ForkliftError
from tooling.koji.session import Hub


def select_srpms(srpm_dir: Path, target: str, packages: Sequence[str],
                 macros: Mapping[str, str] | None = None, known: Collection[str] | None = None) -> list[SrpmInfo]:
    """The SRPMs in build/srpms/<target>/, limited to ``packages`` when given (by SRPM name).
    ``macros`` (the target's rpm macros) decide conditional subpackages, as on the target;
    ``known`` (the packages under specs/) tells a misspelt package from an SRPM not yet made."""
    paths = sorted(srpm_dir.glob("*.src.rpm"))
    infos = [read_srpm(p, macros=macros) for p in paths]
    if not infos:
        raise ForkliftError(f"no SRPMs for target {target} in {srpm_dir}",
                            hint=f"run `invoke srpm --target {target}` first")
    if not packages:
        return infos
    by_name = {i.name: i for i in infos}
    missing = [p for p in packages if p not in by_name]
    unknown = [p for p in missing if known is not None and p not in known]
    if unknown:
        raise ForkliftError(f"unknown package(s) {', '.join(unknown)}: no such directory under specs/ "
                            f"and no such SRPM in {srpm_dir}",
                            hint="known packages: " + ", ".join(sorted(set(known or ()) | set(by_name))))
    if missing:
        options = "".join(f" --package {p}" for p in missing)
        raise ForkliftError(f"no SRPM for package(s) {', '.join(missing)} in {srpm_dir}",
                            hint=f"run `invoke srpm --target {target}{options}` first")
    return [by_name[p] for p in packages]


def layer_srpms(infos: list[SrpmInfo], *, scratch: bool, nowait: bool) -> list[list[SrpmInfo]]:
    """Dependency layers (tooling.builds.plan); refuse what koji cannot do with several layers."""
    layers = plan_layers(infos)
    if len(layers) > 1 and scratch:
        later = ", ".join(i.name for layer in layers[1:] for i in layer)
        raise ForkliftError(
            f"{later} build-require packages built in this run, but scratch builds never reach the "
            "buildroot repo, so the later layers could not see the earlier ones",
            hint="drop --scratch, or build the layers one at a time with --package",
        )
    if len(layers) > 1 and nowait:
        raise ForkliftError(
            f"{len(layers)} dependency layers need waiting for the buildroot repo between them; --nowait cannot",
            hint="drop --nowait, or submit one layer at a time with --package",
        )
    return layers


def wait_for_repo(hub: Hub, build_tag: str, nvrs: list[str], *, poll_interval: float,
                  timeout_minutes: float = 120) -> dict[str, object]:
    """Wait until the buildroot repo of ``build_tag`` contains ``nvrs`` (koji.util.RepoWatcher,
    i.e. repo.request/repo.checkRequest on hubs >= 1.35, like `koji wait-repo --build`)."""

    def wait() -> dict[str, object]:
        watcher = koji.util.RepoWatcher(hub.session, build_tag, nvrs=nvrs)
        watcher.PAUSE = poll_interval
        watcher.TIMEOUT = timeout_minutes
        repo: dict[str, object] = watcher.waitrepo()
        return repo

    return hub.guard(wait, f"wait-repo {build_tag} --build {' '.join(nvrs)}")
