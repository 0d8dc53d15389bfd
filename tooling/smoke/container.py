"""The container provisioner: podman (or docker) runs the target's image,
installs this repo's packages with dnf from the local repo (mounted read-only)
and runs the checks that need no disks or kernel: versions, configuration
errors of the storage tool, rpm -V."""

from __future__ import annotations

import shutil
import time

from tooling.errors import ForkliftError
from tooling.run import CommandError, run
from tooling.smoke.provision import CONTAINER_CHECKS, Outcome, SmokeRequest, stage_checks


def container_tool() -> str:
    """podman if installed, else docker with a reachable daemon."""
    if shutil.which("podman"):
        return "podman"
    if shutil.which("docker") and run(["docker", "info"], check=False, timeout=20).ok:
        return "docker"
    raise ForkliftError(
        "the container provisioner needs podman, or docker with a running daemon",
        hint="install podman (apt-get install podman) or use --via vm",
    )


def container_argv(tool: str, image: str, repo_dir: str, guest_dir: str, packages: list[str]) -> list[str]:
    """The one command (pure): dnf install from the mounted repo, then the checks."""
    script = (
        "set -e; dnf -y -q install --repofrompath=forklift,file:///forklift-repo "
        "--setopt=forklift.gpgcheck=0 " + " ".join(packages) + "; "
        "set -a; . /forklift/env; set +a; sh /forklift/checks.sh"
    )
    return [
        tool, "run", "--rm", "--network", "host",
        "-v", f"{repo_dir}:/forklift-repo:ro,z", "-v", f"{guest_dir}:/forklift:ro,z",
        image, "sh", "-c", script,
    ]


class ContainerProvisioner:
    name = "container"

    def run(self, request: SmokeRequest) -> Outcome:
        tool = container_tool()
        image = request.image or request.target.images.container
        names = [n for n in request.repo.names if not n.endswith("-selinux")] or []
        if not names:
            raise ForkliftError(f"no RPMs in {request.repo.directory}", hint="run invoke build first")
        work = request.out_dir / "container"
        stage_checks(work, CONTAINER_CHECKS, names)
        argv = container_argv(tool, image, str(request.repo.directory.resolve()), str(work.resolve()), names)
        t0 = time.monotonic()
        problems = []
        try:
            res = run(argv, timeout=request.timeout, check=False, log=work / "container.log")
            console = res.stdout + res.stderr
        except CommandError as exc:
            console = exc.output
            problems.append(f"{tool} run timed out after {request.timeout:.0f} s")
        return Outcome(console, f"{', '.join(names)} in {image}", {"run": time.monotonic() - t0}, problems)
