"""The vm provisioner for real: build the Debian test image (mmdebstrap), boot
it under qemu (TCG here) with a blank pool disk and a spare disk, and run every
check, with Debian's docker.io as the known-good engine: it validates the
harness and the storage tool in the Debian guest (``--engine debian`` or a
directory). The repo's own RPMs are tested in the RPM-native guest:
tests/smoke/test_rpm_guest.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import model
from tooling.smoke import smoke

STORAGE_AND_ENGINE = (
    "versions", "storage-config-error", "storage-refuses-signature", "storage-wipe-teardown", "storage-loop",
    "storage-setup", "storage-idempotent", "engine-start", "image-load", "container-run", "container-cp", "engine-stop",
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
