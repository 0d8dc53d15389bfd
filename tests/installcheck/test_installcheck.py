"""Installability, the way users meet it: real dnf resolving and installing (into throw-away
roots) what each target ships, against stub packages of what its distro ships
(specs/target-base.toml), with and without SELinux policy, next to rival engines, plus
`dnf repoclosure`. The Forklift packages are stubs built with rpmbuild from the real
rendered specs: every relation they carry is the real one.

Each defect class has a test that breaks the specs the way it once broke (or could):
- the engine's -selinux relation naming a version no -selinux package has (shipped once);
- a missing Conflicts with a rival engine;
- a Requires on something no distro of the target ships.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import installcheck, model
from tooling.errors import DataError
from tooling.installcheck import base as base_mod
from tooling.installcheck.stubs import stub_from_expanded

ENGINE_TEMPLATE = Path("moby-engine-dm") / "moby-engine-dm.spec.j2"


def _tools() -> None:
    require_tool("dnf", "rpmbuild", "rpmspec", "createrepo_c")


def _failures(verdicts: list[installcheck.Verdict]) -> dict[str, str]:
    return {f"{v.target}/{v.scenario}": v.detail for v in verdicts if not v.ok}


@pytest.mark.slow
def test_every_target_installs_what_it_ships(tmp_path: Path) -> None:
    _tools()
    matrix = model.load()
    verdicts = installcheck.check(matrix, None, tmp_path)
    assert not _failures(verdicts), _failures(verdicts)
    by = {(v.target, v.scenario): v for v in verdicts}
    for target in matrix.targets:
        for scenario in ("install", f"install+{installcheck.POLICY}", "install-all", "repoclosure",
                         "next-to docker-ce", "next-to podman-docker"):
            assert (target, scenario) in by, (target, scenario)
        # a rival is refused at resolution, and dnf says why
        assert re.search(r"conflicts with (docker-ce|moby-engine|podman-docker)", by[(target, "next-to docker-ce")].detail)


def _break(spec_tree: Path, rel: Path, old: str, new: str) -> None:
    path = spec_tree / rel
    text = path.read_text()
    assert old in text, f"{rel} no longer holds {old!r}: update this test"
    path.write_text(text.replace(old, new))


def test_wrong_selinux_version_is_caught(spec_tree: Path, tmp_path: Path) -> None:
    """The relation as it shipped once: the engine's own version-release for the -selinux module."""
    _tools()
    _break(spec_tree, ENGINE_TEMPLATE, "moby-engine-dm-selinux >= {{ sel.evr }}%{?dist}",
           "moby-engine-dm-selinux = %{version}-%{release}")
    matrix = model.load(spec_tree)
    engine = matrix.packages["moby-engine-dm"]
    verdicts = installcheck.check(matrix, ["fedora-45"], tmp_path)
    failed = _failures(verdicts)
    assert set(failed) == {"fedora-45/install+selinux-policy-targeted", "fedora-45/install-all",
                           "fedora-45/repoclosure"}, failed
    assert "none of the providers can be installed" in failed["fedora-45/install+selinux-policy-targeted"]
    assert f"moby-engine-dm-selinux = {engine.version}-{engine.release}.fc45" in failed["fedora-45/repoclosure"]
    # without the policy the rich dependency is inert, so a user of a non-SELinux system never saw it
    assert next(v for v in verdicts if v.scenario == "install").ok


def test_missing_conflicts_is_caught(spec_tree: Path, tmp_path: Path) -> None:
    _tools()
    for rel in (ENGINE_TEMPLATE, Path("docker-cli") / "docker-cli.spec.j2"):
        text = (spec_tree / rel).read_text()
        (spec_tree / rel).write_text(re.sub(r"^Conflicts:\s+podman-docker\n", "", text, flags=re.M))
    failed = _failures(installcheck.check(model.load(spec_tree), ["centos-stream-9"], tmp_path))
    assert list(failed) == ["centos-stream-9/next-to podman-docker"], failed
    assert "a Conflicts is missing" in failed["centos-stream-9/next-to podman-docker"]


def test_requirement_no_distro_ships_is_caught(spec_tree: Path, tmp_path: Path) -> None:
    _tools()
    _break(spec_tree, ENGINE_TEMPLATE, "Requires:       lvm2\n",
           "Requires:       lvm2\nRequires:       lvm2-thin-tools-nonexistent\n")
    failed = _failures(installcheck.check(model.load(spec_tree), ["rhel-10"], tmp_path))
    assert "rhel-10/install" in failed and "rhel-10/repoclosure" in failed
    assert "lvm2-thin-tools-nonexistent" in failed["rhel-10/repoclosure"]


# --------------------------------------------------------------------------- pure parts


def test_stub_keeps_every_relation_and_no_build() -> None:
    expanded = """Name: demo
Version: 1.0
Release: 1.fc45
Summary: d
License: MIT
BuildRequires: gcc
Source0: demo.tar.gz
Requires: (demo-extra >= 1.0-1.fc45 if policy)
Requires(post): systemd
Conflicts: rival
%description
Demo.
%package -n demo-extra
Summary: extra
BuildArch: noarch
Provides: bundled(x) = 1
Obsoletes: old-extra < 1
%description -n demo-extra
Extra.
%prep
tar xf demo.tar.gz
%build
make
%install
make install
%check
make test
%post
systemctl preset demo
%post -n demo-extra -p /sbin/ldconfig
%files
/usr/bin/demo
%files -n demo-extra -f extra.lang
/usr/share/extra
%changelog
* Mon Nov 30 2026 A <a@b> - 1.0-1
- x
"""
    stub = stub_from_expanded(expanded)
    for kept in ("Requires: (demo-extra >= 1.0-1.fc45 if policy)", "Requires(post): systemd", "Conflicts: rival",
                 "%package -n demo-extra", "BuildArch: noarch", "Provides: bundled(x) = 1",
                 "Obsoletes: old-extra < 1", "%post -n demo-extra -p /sbin/ldconfig", "%files -n demo-extra"):
        assert kept in stub, kept
    for dropped in ("BuildRequires", "Source0", "make", "tar xf", "/usr/bin/demo", "%changelog", "-f extra.lang",
                    "systemctl"):
        assert dropped not in stub, dropped
    assert re.search(r"^%post\n:$", stub, re.M)  # the scriptlet stays, with a no-op body


def test_plan_expects_the_selinux_module_only_where_the_target_has_selinux() -> None:
    matrix = model.load(model.SPECS_DIR)
    base = base_mod.load(matrix)
    names = ["moby-engine-dm", "docker-cli", "moby-engine-dm-selinux", "moby-dm-storage-setup"]
    target = matrix.targets["fedora-45"]
    scenarios = {s.name: s for s in installcheck.plan(target, base, names)}
    assert "moby-engine-dm-selinux" in scenarios["install+selinux-policy-targeted"].must_have
    assert "moby-engine-dm-selinux" in scenarios["install"].must_not_have
    assert all(not s.expect_ok for n, s in scenarios.items() if n.startswith("next-to "))
    no_selinux = dataclasses.replace(target, features={**target.features, "selinux": False})
    scenarios = {s.name: s for s in installcheck.plan(no_selinux, base, names)}
    assert "moby-engine-dm-selinux" not in scenarios["install+selinux-policy-targeted"].must_have


BAD_BASE = [
    ('evr = "1.0"', "evr", "is not [epoch:]version-release"),
    ('targets = ["debian-*"]', "targets[0]", "matches no target"),
    ('targets = []', "targets", "empty"),
    ('source = " "', "source", "say where the fact comes from"),
    ('role = "friend"', "role", "is not one of distro, rival"),
    ('arch = "x86_64"', "arch", "only \"noarch\""),
    ('files = ["usr/bin/x"]', "files[0]", "not an absolute path"),
    ('colour = "blue"', "colour", "unknown field"),
]


@pytest.mark.parametrize(("line", "key", "message"), BAD_BASE, ids=[b[1] for b in BAD_BASE])
def test_bad_target_base_names_file_and_key(spec_tree: Path, line: str, key: str, message: str) -> None:
    path = spec_tree / base_mod.BASE_FILE
    field = line.split(" = ")[0]
    entry = '[[package]]\nname = "extra"\nevr = "1.0-1"\ntargets = ["*"]\nsource = "test"\n'
    if re.search(rf"^{field} = ", entry, re.M):
        entry = re.sub(rf"^{field} = .*$", line, entry, flags=re.M)
    else:
        entry += line + "\n"
    path.write_text(path.read_text() + "\n" + entry)
    with pytest.raises(DataError) as exc:
        base_mod.load(model.load(spec_tree))
    msg = str(exc.value)
    assert base_mod.BASE_FILE in msg and key in msg and message in msg, msg
    assert "\n" not in exc.value.message


def test_a_package_listed_twice_for_a_target_is_an_error(spec_tree: Path) -> None:
    path = spec_tree / base_mod.BASE_FILE
    path.write_text(path.read_text() + '\n[[package]]\nname = "bash"\nevr = "5.3-1"\ntargets = ["rhel-9"]\nsource = "t"\n')
    with pytest.raises(DataError, match="bash is listed twice for target rhel-9"):
        base_mod.load(model.load(spec_tree))


def test_every_rival_is_a_package_the_engine_or_cli_conflicts_with() -> None:
    """The rivals in the data and the Conflicts in the templates stay in step."""
    matrix = model.load(model.SPECS_DIR)
    rivals = {p.name for p in base_mod.load(matrix).packages if p.role == "rival"}
    conflicts = set()
    for rel in (ENGINE_TEMPLATE, Path("docker-cli") / "docker-cli.spec.j2"):
        conflicts |= set(re.findall(r"^Conflicts:\s+(\S+)", (matrix.root / rel).read_text(), re.M))
    assert rivals <= conflicts, rivals - conflicts


def test_a_binary_needing_a_newer_glibc_than_el9s_is_caught(spec_tree: Path, tmp_path: Path) -> None:
    """What a binary linked against Fedora's glibc would require: installable on Fedora, not on EL 9."""
    _tools()
    _break(spec_tree, ENGINE_TEMPLATE, "Requires:       lvm2\n",
           "Requires:       lvm2\nRequires:       libc.so.6(GLIBC_2.38)(64bit)\n")
    failed = _failures(installcheck.check(model.load(spec_tree), ["fedora-45", "rhel-9"], tmp_path))
    assert not any(k.startswith("fedora-45/") for k in failed), failed
    assert "rhel-9/install" in failed and "GLIBC_2.38" in failed["rhel-9/repoclosure"]
