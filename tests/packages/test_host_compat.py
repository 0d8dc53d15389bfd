"""specs/host-compat.macros gives a non-Fedora rpm the Fedora macros the package specs use."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import require_tool
from tests.packages.conftest import MATRIX

COMPAT = MATRIX.root / "host-compat.macros"


def rpm_eval(expr: str) -> str:
    require_tool("rpm")
    res = subprocess.run(["rpm", "--load", str(COMPAT), "--eval", expr], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize(("macro", "value"), [
    ("%_unitdir", "/usr/lib/systemd/system"),
    ("%_sysusersdir", "/usr/lib/sysusers.d"),
    ("%_sharedstatedir", "/var/lib"),
    ("%_buildshell", "/bin/bash"),
])
def test_fedora_paths(macro: str, value: str) -> None:
    assert rpm_eval(macro) == value


def test_systemd_scriptlets_name_the_units() -> None:
    post = rpm_eval("%systemd_post docker.service docker.socket")
    assert "preset docker.service docker.socket" in post
    assert "try-restart docker.service" in rpm_eval("%systemd_postun_with_restart docker.service")
    assert "disable --now docker.service" in rpm_eval("%systemd_preun docker.service")


def test_sysusers_compat_creates_what_the_file_declares() -> None:
    sysusers = MATRIX.packages["moby-engine-dm"].directory / "docker.sysusers"
    out = rpm_eval(f"%sysusers_create_compat {sysusers}")
    assert out.splitlines() == ["getent group docker >/dev/null || groupadd -r docker"]
