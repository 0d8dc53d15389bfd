"""The vm provisioner for real: build the Debian test image (mmdebstrap), boot
it under qemu (TCG here) with a blank pool disk and a spare disk, and run every
check. The first test uses Debian's docker.io as the known-good engine to
validate the harness and the storage tool; the second runs the engine this
repo built (build/repos/<target>/), and skips with a reason when there is none.
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

STORAGE_AND_ENGINE = (
    "versions", "storage-config-error", "storage-refuses-signature", "storage-wipe-teardown", "storage-loop",
    "storage-setup", "storage-idempotent", "engine-start", "image-load", "container-run", "engine-stop",
    "thin-check",
)
NOT_ON_DEBIAN = ("selinux-enforcing", "selinux-engine-domain", "selinux-no-avc", "rpm-verify")


def _require_vm_host() -> None:
    require_tool("qemu-system-x86_64", "mmdebstrap", "mkfs.ext4", "busybox", "cpio", "rpm2archive")
    if os.geteuid() != 0:
        pytest.skip("building the test image (mmdebstrap --mode=root) needs root")
    if not list(Path("/boot").glob("vmlinuz-*")):
        pytest.skip("needs a Debian kernel under /boot (apt-get install linux-image-amd64)")


def _assert_all_pass(rep: object, out: Path) -> None:
    results = {r.name: r for r in rep.results}  # type: ignore[attr-defined]
    summary = (out / "summary.txt").read_text()
    print(summary)
    assert not rep.problems, summary  # type: ignore[attr-defined]
    for name in STORAGE_AND_ENGINE:
        assert name in results, f"no verdict for {name}\n{summary}"
        assert results[name].status == "PASS", f"{name}: {results[name].detail}\n{summary}"
    for name in NOT_ON_DEBIAN:
        assert results[name].status == "SKIP", summary
    assert (out / "junit.xml").exists()


@pytest.mark.slow
def test_vm_with_known_good_engine(tmp_path: Path) -> None:
    _require_vm_host()
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)
    matrix = model.load()
    rep = smoke(matrix, "fedora-45", via="vm", image=None, build_dir=tmp_path, engine="debian", timeout=420)
    _assert_all_pass(rep, tmp_path / "smoke" / "fedora-45")
    assert "docker.io" in rep.engine


@pytest.mark.slow
def test_vm_with_engine_from_repo(tmp_path: Path) -> None:
    _require_vm_host()
    matrix = model.load()
    build_dir = Path(os.environ.get("FORKLIFT_SMOKE_BUILD_DIR", REPO_ROOT / "build"))
    target = os.environ.get("FORKLIFT_SMOKE_TARGET", matrix.default_target)
    repo = read_repo(build_dir / "repos" / target)
    if repo.get(ENGINE) is None:
        pytest.skip(f"no {ENGINE} RPM in {repo.directory}: build it first (invoke build --target {target})")
    # run on a copy of the repo so the test writes its report under tmp_path
    copy = tmp_path / "repos" / target
    shutil.copytree(repo.directory, copy)
    rep = smoke(matrix, target, via="vm", image=None, build_dir=tmp_path, engine="rpm", timeout=420)
    _assert_all_pass(rep, tmp_path / "smoke" / target)
    results = {r.name: r for r in rep.results}
    assert "version 24.0.9" in results["versions"].detail
