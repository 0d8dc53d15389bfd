"""moby-dm-storage-setup against real LVM in the dm-thin VM (the smoke harness, qemu; TCG here):
only the storage checks of guest/checks.sh, with Debian's docker.io as the engine in the image.

- storage-ownership: a pre-existing VG holding another LV survives teardown, that LV byte-identical
  (md5 of the whole LV); a second teardown is a no-op; a pool the tool did not create is refused;
  the tool's own VG is kept when it holds another LV.
- storage-kill-resume: setup SIGKILLed after each step in turn; status names the half-made step; a
  re-run completes; teardown leaves the disk blank.
- storage-refuses-in-use: a mounted disk and a partition given as DEVS are refused.

Unit tests of the tool (planning, config, state file, host loop devices) are in tests/storage/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import model
from tooling.smoke import smoke
from tooling.smoke import vm as vm_mod

# The checks this test adds; the older storage checks run in every VM smoke run (tests/smoke/test_vm.py).
# These three run here only: under TCG on a busy 2-core host they take minutes (each LVM command is slow).
STORAGE_CHECKS = ("storage-refuses-in-use", "storage-ownership", "storage-kill-resume")


def test_every_storage_check_is_in_checks_sh() -> None:
    from tooling.smoke.provision import CHECKS_SCRIPT

    script = CHECKS_SCRIPT.read_text()
    all_line = script[script.index('ALL="'):script.index('"', script.index('ALL="') + 5)]
    for name in STORAGE_CHECKS:
        assert name in all_line.split()
        assert f"check_{name.replace('-', '_')}()" in script


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(1800)  # the VM's own limit is 1500 s; the suite's default 900 s is too short under load
def test_storage_checks_in_the_vm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("qemu-system-x86_64", "mmdebstrap", "mkfs.ext4", "busybox", "cpio", "rpm2archive")
    if os.geteuid() != 0:
        pytest.skip("building the test image (mmdebstrap --mode=root) needs root")
    if not list(Path("/boot").glob("vmlinuz-*")):
        pytest.skip("needs a Debian kernel under /boot (apt-get install linux-image-amd64)")
    monkeypatch.setattr(vm_mod, "VM_CHECKS", STORAGE_CHECKS)
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)  # no RPMs: the tool comes from storage-setup/
    rep = smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path, engine="debian", timeout=1500)
    summary = (tmp_path / "smoke" / "fedora-45" / "summary.txt").read_text()
    print(summary)
    results = {r.name: r for r in rep.results}
    assert not rep.problems, summary
    for name in STORAGE_CHECKS:
        assert name in results, f"no verdict for {name}\n{summary}"
        assert results[name].status == "PASS", f"{name}: {results[name].detail}\n{summary}"
    assert "storage-setup: tree" in rep.engine
