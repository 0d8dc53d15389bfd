"""The RPM-native VM guest for real (qemu; TCG here): Debian userland, systemd as PID 1, an
rpmdb holding the target base, Debian's rpm and dnf.

- ``test_install_upgrade_remove``: stand-in RPMs built here from the real specs (Debian's
  dockerd as payload, tooling/smoke/standin.py), release N-1 then N, signed with a throw-away
  key and published (tooling/smoke/signed.py): dnf refuses the same RPMs unsigned, then installs
  N-1 from the published stable channel with gpgcheck=1 and repo_gpgcheck=1: dnf install, scriptlets,
  presets, socket activation, the storage service, the engine checks, a container's file on
  the pool, dnf upgrade (engine restarted, file kept, rpm -V), thin_check, dnf remove (pool and
  data untouched) and reinstall (the container's file is still there). One boot.
- ``test_broken_scriptlets_are_caught``: the same packages with a %post that exits 1 and a
  %preun that removes the pool: the run must fail on exactly those. One shorter boot.
- ``test_engine_from_repo``: the repo's own RPMs (build/repos/<target>), skips without them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import REPO_ROOT, model
from tooling.smoke import smoke
from tooling.smoke.packages import ENGINE, read_repo
from tooling.smoke.report import SmokeReport

STEPS = (
    "gpg-refuses-unsigned", "rpm-install", "rpm-scriptlets", "rpm-presets", "socket-activation", "storage-service", "data-write",
    "rpm-verify-installed", "upgrade", "engine-restarted", "data-kept", "rpm-verify-upgraded",
    "remove-keeps-data", "reinstall-data",
)
CHECKS = ("versions", "storage-config-error", "storage-setup", "storage-idempotent", "engine-start", "image-load",
          "container-run", "container-cp", "engine-stop", "thin-check")
NO_SELINUX_HERE = ("selinux-enforcing", "selinux-engine-domain", "selinux-labels", "selinux-no-avc")


def _require_vm_host() -> None:
    require_tool("qemu-system-x86_64", "mmdebstrap", "mkfs.ext4", "busybox", "cpio", "rpmbuild", "createrepo_c",
                 "dpkg-deb", "apt-get")
    if os.geteuid() != 0:
        pytest.skip("building the guest image (mmdebstrap --mode=root) needs root")
    if not list(Path("/boot").glob("vmlinuz-*")):
        pytest.skip("needs a Debian kernel under /boot (apt-get install linux-image-amd64)")


def _results(rep: SmokeReport, out: Path) -> dict[str, str]:
    summary = (out / "summary.txt").read_text()
    print(summary)
    assert not rep.problems, summary
    return {r.name: f"{r.status} {r.detail}" for r in rep.results}


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(2400)
def test_install_upgrade_remove(tmp_path: Path) -> None:
    _require_vm_host()
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)
    rep = smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path, engine="standin", timeout=1800)
    res = _results(rep, tmp_path / "smoke" / "fedora-45")
    for name in (*STEPS, *CHECKS):
        assert res.get(name, "missing").startswith("PASS"), f"{name}: {res.get(name)}"
    for name in NO_SELINUX_HERE:
        assert res[name].startswith("SKIP"), res[name]
    # installed as users do: the published forklift.repo, N-1 from stable, N from test, signatures checked
    assert "from stable (forklift.repo: gpgcheck=1 repo_gpgcheck=1; every package signed by" in res["rpm-install"]
    assert "-1.fc45" in res["upgrade"]
    assert "is not signed" in res["gpg-refuses-unsigned"]
    assert "docker.socket=enabled" in res["rpm-presets"] and "docker.service=disabled" in res["rpm-presets"]
    assert "stand-in" in rep.engine


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(2400)
def test_selinux_enforcing(tmp_path: Path) -> None:
    """The guest boots enforcing (Debian's policy under the name "targeted"); dnf pulls in the -selinux package
    through the engine's rich dependency and its own %post installs moby_dm; the storage tool runs in its domain
    and no AVC names Forklift's module during storage setup, engine start and a container run."""
    _require_vm_host()
    require_tool("semodule", "setfiles")
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)
    steps = ("rpm-install", "rpm-scriptlets", "socket-activation", "storage-service", "engine-checks",
             "engine-checks-final")
    rep = smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path, engine="standin", steps=steps,
                timeout=2000, selinux=True)
    res = _results(rep, tmp_path / "smoke" / "fedora-45")
    for name in (*steps[:-2], "storage-setup", "engine-start", "container-run", "selinux-enforcing",
                 "selinux-labels", "selinux-no-avc", "engine-stop", "thin-check"):
        assert res.get(name, "missing").startswith("PASS"), f"{name}: {res.get(name)}"
    assert "moby-engine-dm-selinux" in res["rpm-install"] or "moby_dm" in res["selinux-labels"], res
    # the engine's domain is container-selinux's: Debian's policy has none
    assert res["selinux-engine-domain"].startswith("SKIP"), res["selinux-engine-domain"]


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(1800)
def test_broken_scriptlets_are_caught(tmp_path: Path) -> None:
    _require_vm_host()
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)
    steps = ("rpm-install", "rpm-scriptlets", "socket-activation", "storage-service", "engine-checks-final",
             "remove-keeps-data")
    rep = smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path, engine="standin",
                broken="post-exit-1,preun-removes-pool", steps=steps, timeout=1500)
    res = _results(rep, tmp_path / "smoke" / "fedora-45")
    assert res["rpm-install"].startswith("PASS")  # dnf exits 0 although a %post failed: the check must look
    assert res["rpm-scriptlets"].startswith("FAIL") and "%post(moby-engine-dm" in res["rpm-scriptlets"], res
    assert res["socket-activation"].startswith("PASS") and res["storage-service"].startswith("PASS"), res
    assert res["remove-keeps-data"].startswith("FAIL") and "took the pool" in res["remove-keeps-data"], res
    assert not rep.ok


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(1800)
def test_engine_from_repo(tmp_path: Path) -> None:
    _require_vm_host()
    matrix = model.load()
    build_dir = Path(os.environ.get("FORKLIFT_SMOKE_BUILD_DIR", REPO_ROOT / "build"))
    target = os.environ.get("FORKLIFT_SMOKE_TARGET", matrix.default_target)
    repo = read_repo(build_dir / "repos" / target)
    if repo.get(ENGINE) is None:
        pytest.skip(f"no {ENGINE} RPM in {repo.directory}: build it first (invoke build --target {target})")
    shutil.copytree(repo.directory, tmp_path / "repos" / target)  # the report goes under tmp_path
    rep = smoke(matrix, target, via="vm", image=None, build_dir=tmp_path, engine="rpm", timeout=1500)
    res = _results(rep, tmp_path / "smoke" / target)
    for name in ("rpm-install", "rpm-scriptlets", "rpm-presets", "socket-activation", "storage-service",
                 "rpm-verify-installed", "remove-keeps-data", *CHECKS):
        assert res.get(name, "missing").startswith("PASS"), f"{name}: {res.get(name)}"
    assert "version 24.0.9" in res["versions"]
