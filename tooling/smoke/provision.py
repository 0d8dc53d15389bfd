"""One interface for the provisioners (mock, container, vm) and the request they get."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tooling.model import Target
from tooling.smoke.packages import RepoContents

GUEST_DIR = Path(__file__).with_name("guest")
CHECKS_SCRIPT = GUEST_DIR / "checks.sh"

# Which checks each provisioner can run (the others need disks, a kernel with
# dm-thin or a running engine).
# the engines the RPM-native guest (and a cloud image) installs as RPMs: this repo's build or the stand-ins
RPM_NATIVE_ENGINES = ("rpm", "standin")
VERSION_CHECKS = ("versions", "rpm-verify")
CONTAINER_CHECKS = ("versions", "storage-config-error", "rpm-verify")
VM_CHECKS = (
    "versions", "storage-config-error", "storage-refuses-signature", "storage-wipe-teardown", "storage-loop",
    "storage-setup", "storage-idempotent", "engine-start", "image-load", "container-run", "container-cp",
    "selinux-enforcing", "selinux-engine-domain", "selinux-labels", "engine-stop", "thin-check", "selinux-no-avc", "rpm-verify",
)


@dataclass(frozen=True)
class SmokeRequest:
    target: Target
    repo: RepoContents
    out_dir: Path  # build/smoke/<target>/
    image: str | None = None  # provisioner-specific override (image ref, qcow2 path, mock config)
    engine: str = "rpm"  # "rpm" (this repo's packages), "standin" (built here: tooling/smoke/standin.py),
    # "debian" (known-good), or a directory holding usr/bin/dockerd
    timeout: float = 600.0
    previous_repo: Path | None = None  # release N-1 for the upgrade steps (vm, engine "rpm")
    broken: str | None = None  # engine "standin": a deliberately broken variant (standin.BROKEN)
    steps: tuple[str, ...] = ()  # vm RPM-native guest: the steps of guest/rpm-native.sh (default: all)
    selinux: bool = False  # vm RPM-native guest: boot enforcing with Debian's policy (rpmimage.SELINUX_EXTRA)


@dataclass
class Outcome:
    """What a provisioner hands back: the console/log text holding the verdict lines."""

    console: str
    engine: str  # description of the engine that ran
    timings: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class Provisioner(Protocol):
    name: str

    def run(self, request: SmokeRequest) -> Outcome:
        """Provision, run guest/checks.sh with the checks this provisioner supports, tear down."""
        ...


def stage_checks(work: Path, checks: list[str] | tuple[str, ...], packages: list[str]) -> None:
    """Put guest/checks.sh and its env file (which checks, which packages) into ``work``."""
    import shutil

    from tooling.fsutil import atomic_write_text

    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHECKS_SCRIPT, work / "checks.sh")
    atomic_write_text(work / "env", env_file({
        "FORKLIFT_CHECKS": " ".join(checks),
        "FORKLIFT_PACKAGES": " ".join(packages),
    }))


def env_file(settings: dict[str, str]) -> str:
    """KEY='value' lines for the checks' environment (values single-quoted for sh)."""
    lines = []
    for key, value in sorted(settings.items()):
        lines.append(f"{key}='" + value.replace("'", "'\\''") + "'")
    return "\n".join(lines) + "\n"
