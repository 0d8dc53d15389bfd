"""The smoke repo built here (tooling/smoke/standin.py): stand-in specs keep the real
relations, scriptlets, %install and %files; release N-1; broken variants; real rpmbuild
of the stand-ins (with fake Debian packages) and of the real storage-setup spec; the
check that no built scriptlet carries unexpanded macro text."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import model, render
from tooling.errors import ForkliftError
from tooling.smoke import standin


def _sections(spec: str) -> dict[str, list[str]]:
    return {h: body for h, body in standin.sections(spec) if h}


def _tags(spec: str, tag: str) -> list[str]:
    return [ln for ln in spec.splitlines() if re.match(rf"^{tag}(\(\w+\))?:", ln)]


@pytest.mark.parametrize("name", ["moby-engine-dm", "docker-cli"])
def test_standin_keeps_what_users_get(name: str) -> None:
    m = model.load()
    t = m.targets["fedora-45"]
    pkg = m.packages[name]
    real = render.render_spec(m, t, pkg)
    stand = standin.standin_spec(real, pkg)
    for tag in ("Name", "Version", "Release", "Requires", "Conflicts", "Recommends", "Provides"):
        assert set(_tags(real, tag)) <= set(_tags(stand, tag)), tag
    rs, ss = _sections(real), _sections(stand)
    assert ss["%install"] == [standin.GO_SHIM_LINE, *rs["%install"]]
    for header in ("%files", "%post", "%preun", "%postun", "%pre"):
        if header in rs:
            assert ss[header] == rs[header], header
    assert "%check" not in ss and "BuildRequires:" not in stand
    assert standin.STANDIN_MARK in "".join(ss["%description"])
    assert f"Provides:       {standin.STANDIN_PROVIDE}" in stand and "AutoReq:        no" in stand
    assert not re.search(r"^Source\d+:\s*https?://", stand, re.M)


def test_release_n_minus_one_and_its_limit() -> None:
    m = model.load()
    prev = standin.shifted(m, -1)
    for name, pkg in m.packages.items():
        assert prev.packages[name].release == pkg.release - 1
    with pytest.raises(ForkliftError, match="has no release"):
        standin.shifted(m, -100)


def test_break_spec_puts_the_line_first_and_refuses_a_missing_section() -> None:
    spec = "Name: x\n%post\necho hi\n%files\n"
    assert standin.break_spec(spec, "%post", "exit 1") == "Name: x\n%post\nexit 1\necho hi\n%files\n"
    with pytest.raises(ForkliftError, match="no %preun"):
        standin.break_spec(spec, "%preun", "exit 1")


def _fake_deb(tmp: Path, name: str, files: dict[str, str]) -> Path:
    root = tmp / f"deb-{name}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(f"Package: {name}\nVersion: 1.0\nArchitecture: amd64\n"
                                         "Maintainer: t <t@example.org>\nDescription: fake\n")
    for path, text in files.items():
        p = root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(0o755)
    out = tmp / f"{name}_1.0_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def fake_debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("dpkg-deb", "rpmbuild", "createrepo_c")
    tmp = tmp_path_factory.mktemp("debs")
    paths = {p.split(":", 2)[2] for spec in standin.PAYLOAD.values() for p in spec.values() if p.startswith("deb:")}
    docker = {p: "#!/bin/sh\necho fake\n" for p in paths if "tini" not in p}
    return {"docker.io": _fake_deb(tmp, "docker.io", docker),
            "tini": _fake_deb(tmp, "tini", {"usr/bin/tini-static": "#!/bin/sh\n"})}


def test_repo_builds_n_and_n_minus_one_and_caches(fake_debs: dict[str, Path], tmp_path: Path) -> None:
    m = model.load()
    t = m.targets["fedora-45"]
    n = standin.build_repo(m, t, fake_debs, tmp_path)
    prev = standin.build_repo(m, t, fake_debs, tmp_path, release_offset=-1)
    names = sorted(p.name for p in n.rpms)
    assert len(names) == 3 and (n.directory / "repodata/repomd.xml").exists()
    engine = m.packages["moby-engine-dm"]
    assert f"moby-engine-dm-{engine.version}-{engine.release}.fc45.x86_64.rpm" in names
    assert f"moby-engine-dm-{engine.version}-{engine.release - 1}.fc45.x86_64.rpm" in [p.name for p in prev.rpms]
    for rpm in n.rpms:
        assert standin.scriptlet_problems(rpm) == []
    # the stand-in carries the repo's unit files and sysusers file, byte for byte
    files = subprocess.run(["rpm", "-qpl", str(n.directory / names[names.index(
        f"moby-engine-dm-{engine.version}-{engine.release}.fc45.x86_64.rpm")])], capture_output=True, text=True).stdout
    assert "/usr/lib/systemd/system/docker.socket" in files and "/usr/lib/sysusers.d/docker.conf" in files
    mtime = n.directory.stat().st_mtime_ns
    assert standin.build_repo(m, t, fake_debs, tmp_path).directory == n.directory
    assert n.directory.stat().st_mtime_ns == mtime  # from the cache
    assert not list(tmp_path.glob(".build-*"))


def test_broken_variant_is_built_in(fake_debs: dict[str, Path], tmp_path: Path) -> None:
    m = model.load()
    repo = standin.build_repo(m, m.targets["fedora-45"], fake_debs, tmp_path, broken="post-exit-1,preun-removes-pool")
    scripts = {p.name.split("-0")[0].split("-2")[0]: subprocess.run(["rpm", "-qp", "--scripts", str(p)],
               capture_output=True, text=True).stdout for p in repo.rpms}
    engine = next(v for k, v in scripts.items() if k.startswith("moby-engine-dm"))
    assert re.search(r"postinstall scriptlet.*:\nexit 1\n", engine)
    tool = next(v for k, v in scripts.items() if k.startswith("moby-dm-storage-setup"))
    assert "lvremove -y -f forklift/thinpool" in tool
    with pytest.raises(ForkliftError, match="unknown broken variant 'nope'"):
        standin.build_repo(m, m.targets["fedora-45"], fake_debs, tmp_path, broken="nope")


def test_scriptlet_with_an_undefined_macro_is_caught(tmp_path: Path) -> None:
    """Scriptlet macros come from the buildroot's macro packages (%selinux_* from selinux-policy-devel on
    Fedora); one that is undefined (here %selinux_set_booleans: neither host-compat.macros nor Debian's rpm
    define it) is left as text, and the scriptlet would run `%selinux_set_booleans ...` in the shell."""
    require_tool("rpmbuild")
    m = model.load()
    t = m.targets["fedora-45"]
    spec = ("Name: forklift-undefined-macro\nVersion: 1\nRelease: 1\nSummary: t\nLicense: MIT\nBuildArch: noarch\n"
            "%description\nt\n%post\n%selinux_set_booleans -s targeted container_manage_cgroup=1\n%files\n")
    out = tmp_path / "out"
    out.mkdir()
    rpms = standin.rpmbuild(spec, {}, t, out, tmp_path / "w")
    problems = standin.scriptlet_problems(rpms[0])
    assert len(problems) == 1 and "postinstall scriptlet has unexpanded macro text" in problems[0]
    assert "%selinux_set_booleans" in problems[0]


def test_the_real_selinux_spec_on_this_host(tmp_path: Path) -> None:
    """The real moby-engine-dm-selinux spec, built here with the host-compat macros, which stand in for
    selinux-policy-devel's: no literal macro text, and the scriptlets install and remove the module."""
    require_tool("rpmbuild", "make")
    if not Path("/usr/share/selinux/devel/Makefile").exists():
        pytest.skip("needs the SELinux policy devel Makefile (apt-get install selinux-policy-dev)")
    m = model.load()
    t = m.targets["fedora-45"]
    pkg = m.packages["moby-engine-dm-selinux"]
    out = tmp_path / "out"
    out.mkdir()
    rpms = standin.rpmbuild(render.render_spec(m, t, pkg), standin.local_sources(pkg), t, out, tmp_path / "w")
    defined = subprocess.run(["rpm", "--load", str(standin.HOST_MACROS), "--eval", "%{?selinux_modules_install:yes}"],
                             capture_output=True, text=True).stdout.strip() == "yes"
    assert defined, "specs/host-compat.macros must define the %selinux_* scriptlet macros"
    assert standin.scriptlet_problems(rpms[0]) == []
    scripts = subprocess.run(["rpm", "-qp", "--scripts", str(rpms[0])], capture_output=True, text=True,
                             check=True).stdout
    post = scripts.split("postinstall scriptlet", 1)[1].split("scriptlet (using", 1)[0]
    assert "/usr/sbin/semodule -n -s ${_policytype} -X 200 -i /usr/share/selinux/packages/targeted/moby_dm.pp.bz2" in post
    postun = scripts.split("postuninstall scriptlet", 1)[1]
    assert "-r moby_dm" in postun and "if [ $1 -eq 0 ]" in postun
