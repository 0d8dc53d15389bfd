"""Provisioner planning (pure) and RPM handling with real rpmbuild/rpm2archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling.run import run
from tooling.smoke import image as image_mod
from tooling.smoke.container import container_argv
from tooling.smoke.mock import mock_argvs
from tooling.smoke.packages import extract, read_repo
from tooling.smoke.vm import qemu_argv

SPEC = """\
Name: forklift-smoke-fixture
Version: 1.2
Release: 3
Summary: fixture
License: MIT
BuildArch: noarch
%description
fixture
%install
mkdir -p %{buildroot}/usr/bin
printf '#!/bin/sh\\necho fixture\\n' > %{buildroot}/usr/bin/forklift-fixture
chmod 755 %{buildroot}/usr/bin/forklift-fixture
%files
/usr/bin/forklift-fixture
"""


@pytest.fixture
def fixture_repo(tmp_path: Path) -> Path:
    require_tool("rpmbuild", "rpm2archive")
    spec = tmp_path / "f.spec"
    spec.write_text(SPEC)
    top = tmp_path / "top"
    run(["rpmbuild", "-bb", "--define", f"_topdir {top}", str(spec)])
    repo = tmp_path / "repo"
    repo.mkdir()
    for rpm in top.rglob("*.rpm"):
        rpm.rename(repo / rpm.name)
    return repo


def test_read_repo_and_extract(fixture_repo: Path, tmp_path: Path) -> None:
    contents = read_repo(fixture_repo)
    assert contents.names == ["forklift-smoke-fixture"]
    rpm = contents.get("forklift-smoke-fixture")
    assert rpm is not None and (rpm.version, rpm.release, rpm.arch) == ("1.2", "3", "noarch")
    dest = tmp_path / "root"
    extract(rpm, dest, tmp_path / "work")
    tool = dest / "usr/bin/forklift-fixture"
    assert run([str(tool)]).stdout == "fixture\n"
    assert not list(fixture_repo.glob("*.tgz"))  # nothing written beside the repo


def test_read_repo_of_missing_dir_is_empty(tmp_path: Path) -> None:
    assert read_repo(tmp_path / "nope").rpms == ()


def test_qemu_argv_disk_order_and_console(tmp_path: Path) -> None:
    img = image_mod.Image(tmp_path, tmp_path / "k", tmp_path / "i", tmp_path / "root.ext4", 0)
    plan = qemu_argv(img, tmp_path / "p", tmp_path / "pool", tmp_path / "spare", kvm=False)
    argv = list(plan.argv)
    assert plan.accel == "tcg" and argv[argv.index("-accel") + 1] == "tcg"
    for flag in ("-nographic", "-no-reboot"):
        assert flag in argv
    devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device"]
    assert [d.split("serial=")[1] for d in devices] == ["root", "payload", "pool", "spare"]
    drives = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
    assert "snapshot=on" in drives[0] and "readonly=on" in drives[1]
    assert "console=ttyS0" in argv[argv.index("-append") + 1]
    assert argv[argv.index("-smp") + 1] == "1"  # TCG: a starved second vCPU soft-locks the guest
    kvm_argv = list(qemu_argv(img, tmp_path / "p", tmp_path / "pool", tmp_path / "spare", kvm=True).argv)
    assert kvm_argv[kvm_argv.index("-smp") + 1] == "2"


def test_image_key_changes_with_inputs() -> None:
    a = image_mod.ImageSpec(kernel="6.1.0-1-amd64")
    assert a.key() == image_mod.ImageSpec(kernel="6.1.0-1-amd64").key()
    assert a.key() != image_mod.ImageSpec(kernel="6.1.0-2-amd64").key()
    assert a.key() != image_mod.ImageSpec(kernel="6.1.0-1-amd64", packages=(*a.packages, "strace")).key()


def test_module_closure_lists_dependencies_first() -> None:
    require_tool("modprobe")
    kernel = image_mod.host_kernel()
    mods = [p.name for p in image_mod.module_closure(kernel, ("dm_thin_pool",))]
    assert mods[-1].startswith("dm-thin-pool")
    assert any(m.startswith("dm-persistent-data") for m in mods[:-1])


def test_container_and_mock_commands() -> None:
    argv = container_argv("podman", "registry.fedoraproject.org/fedora:45", "/r", "/g", ["moby-engine-dm"])
    assert argv[:3] == ["podman", "run", "--rm"] and "/r:/forklift-repo:ro,z" in argv
    assert "registry.fedoraproject.org/fedora:45" in argv
    assert "moby-engine-dm" in argv[-1] and "checks.sh" in argv[-1]
    steps = mock_argvs("fedora-45-x86_64", "file:///r", ["a", "b"], "/g")
    assert [s[s.index("file:///r") + 1] for s in steps] == ["--init", "--install", "--copyin", "--chroot", "--clean"]
    assert steps[1][-2:] == ["a", "b"]
