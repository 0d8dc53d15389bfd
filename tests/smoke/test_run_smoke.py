"""run_smoke: writes junit.xml and summary.txt, raises ForkliftError naming failed checks.

The provisioner is replaced by one that runs guest/checks.sh on the host (real
script, real verdicts), so this stays fast; test_vm.py runs the real VM."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tooling.smoke as smoke_pkg
from tooling import model
from tooling.errors import ForkliftError
from tooling.smoke.provision import CHECKS_SCRIPT, Outcome, SmokeRequest


class HostChecks:
    name = "host"

    def __init__(self, checks: str) -> None:
        self.checks = checks

    def run(self, request: SmokeRequest) -> Outcome:
        env = {"PATH": "/usr/bin:/bin", "FORKLIFT_CHECKS": self.checks, "FORKLIFT_LOG": str(request.out_dir / "log")}
        proc = subprocess.run(["sh", str(CHECKS_SCRIPT)], capture_output=True, text=True, env=env, check=False)
        return Outcome(proc.stdout, "none", {"run": 0.1})


def test_failure_raises_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smoke_pkg, "provisioner", lambda via: HostChecks("versions rpm-verify"))
    with pytest.raises(ForkliftError) as err:
        smoke_pkg.run_smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path)
    assert "failed: versions" in str(err.value) and "dockerd: not installed" in str(err.value)
    out = tmp_path / "smoke" / "fedora-45"
    assert "FAIL  versions" in (out / "summary.txt").read_text()
    assert b"<failure" in (out / "junit.xml").read_bytes()


def test_all_skipped_or_passed_is_ok(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smoke_pkg, "provisioner", lambda via: HostChecks("rpm-verify"))
    smoke_pkg.run_smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path)
    assert "SKIP  rpm-verify" in (tmp_path / "smoke/fedora-45/summary.txt").read_text()


def test_unknown_via_and_target(tmp_path: Path) -> None:
    with pytest.raises(ForkliftError, match="unknown provisioner"):
        smoke_pkg.run_smoke(model.load(), "fedora-45", via="lxc", image=None, build_dir=tmp_path)
    with pytest.raises(ForkliftError, match="unknown target"):
        smoke_pkg.run_smoke(model.load(), "fedora-1", via="vm", image=None, build_dir=tmp_path)


def test_vm_without_engine_rpm_says_what_to_do(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the vm provisioner builds its image as root")
    with pytest.raises(ForkliftError, match="no moby-engine-dm RPM") as err:
        smoke_pkg.run_smoke(model.load(), "fedora-45", via="vm", image=None, build_dir=tmp_path)
    assert "invoke build --target fedora-45" in str(err.value)
