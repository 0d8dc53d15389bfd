"""guest/checks.sh on the host: the verdict protocol, skips with reasons and failures."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tooling.smoke import verdict
from tooling.smoke.provision import CHECKS_SCRIPT, VM_CHECKS


def run_checks(tmp_path: Path, checks: str, **env: str) -> tuple[int, str]:
    full = {"PATH": os.environ["PATH"], "FORKLIFT_CHECKS": checks, "FORKLIFT_LOG": str(tmp_path / "log"), **env}
    proc = subprocess.run(["sh", str(CHECKS_SCRIPT)], capture_output=True, text=True, env=full, timeout=120)
    return proc.returncode, proc.stdout


def test_every_vm_check_exists_in_the_script() -> None:
    text = CHECKS_SCRIPT.read_text()
    for name in VM_CHECKS:
        assert f"check_{name.replace('-', '_')}()" in text


def test_missing_engine_fails_and_end_line_names_it(tmp_path: Path) -> None:
    rc, out = run_checks(tmp_path, "versions", PATH="/usr/bin:/bin")
    results = verdict.parse(out)
    assert rc != 0 and results[0].status == "FAIL" and "dockerd: not installed" in results[0].detail
    assert "FORKLIFT-END failed=[versions]" in out


def test_checks_without_disks_skip_with_a_reason(tmp_path: Path) -> None:
    rc, out = run_checks(tmp_path, "storage-setup storage-config-error engine-start rpm-verify selinux-no-avc")
    results = verdict.parse(out)
    assert rc == 0
    assert [r.status for r in results] == ["SKIP"] * 5
    assert all(r.detail and r.detail != "-" for r in results)
    assert "FORKLIFT_POOL_DEV" in results[0].detail


def test_unknown_check_fails(tmp_path: Path) -> None:
    rc, out = run_checks(tmp_path, "no-such-check")
    assert rc != 0 and verdict.parse(out)[0].status == "FAIL"


def test_storage_config_error_on_a_plain_file_is_refused(tmp_path: Path) -> None:
    """A regular file is no spare disk: the check must skip, not pretend."""
    spare = tmp_path / "spare.img"
    spare.write_bytes(b"\0" * 4096)
    _rc, out = run_checks(tmp_path, "storage-config-error", FORKLIFT_SPARE_DEV=str(spare))
    assert verdict.parse(out)[0].status == "SKIP"
