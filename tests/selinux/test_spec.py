"""The -selinux subpackage: its rendered spec parses for every target and builds here."""

from __future__ import annotations

import bz2
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.selinux.conftest import require_devel
from tooling import lint, model, render
from tooling.selinux import SELINUX_DIR
from tooling.selinux.cil import facts, module_cil

PKG = "moby-engine-dm-selinux"


def _spec(tmp_path: Path, target: str) -> Path:
    matrix = model.load()
    text = render.render_spec(matrix, matrix.targets[target], matrix.packages[PKG])
    path = tmp_path / f"{PKG}.spec"
    path.write_text(text)
    return path


@pytest.mark.parametrize("target", ["fedora-45", "rhel-9", "centos-stream-10", "fedora-rawhide"])
def test_spec_parses_for_target(tmp_path: Path, target: str) -> None:
    require_tool("rpmspec")
    matrix = model.load()
    spec = _spec(tmp_path, target)
    # with selinux-policy-devel's macros (here: the host-compat stand-ins, as every host build loads them)
    res = subprocess.run(["rpmspec", "-P", *lint.macro_load_args(matrix.root), *matrix.targets[target].macro_args(),
                          str(spec)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    parsed = res.stdout
    # the scriptlets container-selinux uses, on the targeted store, expanded: no macro text left
    assert not re.search(r"^\s*%selinux", parsed, re.M)
    assert re.search(r"semodule -n -s \S+ -X 200 -i /usr/share/selinux/packages/targeted/moby_dm.pp.bz2", parsed)
    assert re.search(r"semodule -n -X 200 -s \S+ -r moby_dm", parsed)
    assert "file_contexts.pre" in parsed  # relabel pre/post
    assert "%ghost %dir %verify(not md5 size mode mtime) /var/lib/selinux/targeted/active/modules/200/moby_dm" in parsed
    release = matrix.packages["moby-engine-dm-selinux"].release
    assert f"Release:        {release}{matrix.targets[target].dist}" in parsed


@pytest.mark.slow
def test_rpmbuild_builds_the_subpackage(tmp_path: Path) -> None:
    """rpmbuild -ba on this host (the devel Makefile is Debian's): the RPM carries the module."""
    require_devel()
    require_tool("rpmbuild", "rpm", "rpm2cpio", "cpio")
    top = tmp_path / "rpmbuild"
    (top / "SOURCES").mkdir(parents=True)
    matrix = model.load()
    pkg = matrix.packages[PKG]
    for src in pkg.sources:
        shutil.copyfile(pkg.directory / src.file, top / "SOURCES" / src.file)  # follows the links to selinux/
    spec = _spec(tmp_path, "fedora-45")
    subprocess.run(["rpmbuild", "-ba", "--nodeps", "--define", f"_topdir {top}", *lint.macro_load_args(matrix.root),
                    *matrix.targets["fedora-45"].macro_args(), str(spec)], check=True, capture_output=True, text=True)
    [rpm] = (top / "RPMS" / "noarch").glob("*.rpm")
    assert rpm.name == f"moby-engine-dm-selinux-{pkg.version}-{pkg.release}.fc45.noarch.rpm"
    assert len(list((top / "SRPMS").glob("*.src.rpm"))) == 1

    def q(*args: str) -> str:
        return subprocess.run(["rpm", "-qp", *args, str(rpm)], check=True, capture_output=True, text=True).stdout

    assert q("-l").split() == [
        f"/usr/share/doc/moby-engine-dm-selinux-{pkg.version}",
        f"/usr/share/doc/moby-engine-dm-selinux-{pkg.version}/README.md",
        "/usr/share/selinux/devel/include/distributed/moby_dm.if",
        "/usr/share/selinux/packages/targeted/moby_dm.pp.bz2",
        "/var/lib/selinux/targeted/active/modules/200/moby_dm",
    ]
    # Requires(post) on the policy and container-selinux
    reqs = q("--qf", "[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]")
    assert "selinux-policy-targeted post" in reqs
    assert "container-selinux post" in reqs
    # the packaged module is the one in selinux/
    work = tmp_path / "x"
    work.mkdir()
    cpio = subprocess.run(["rpm2cpio", str(rpm)], check=True, capture_output=True).stdout
    subprocess.run(["cpio", "-idm", "--quiet"], input=cpio, cwd=work, check=True)
    packaged = work / "usr/share/selinux/packages/targeted/moby_dm.pp.bz2"
    bz2.decompress(packaged.read_bytes())  # valid bzip2
    assert "moby_dm_storage_setup_t" in facts(module_cil(packaged, tmp_path / "cil")).types


def test_module_version_matches_the_package() -> None:
    te = (SELINUX_DIR / "moby_dm.te").read_text()
    m = re.search(r"^policy_module\(moby_dm, ([^)]+)\)", te, re.M)
    assert m is not None
    assert m.group(1) == model.load().packages[PKG].version
