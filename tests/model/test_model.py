"""Loading the real data, and bad input: every error names the file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tooling import model, render
from tooling.errors import DataError, ForkliftError


def test_real_matrix_loads_with_every_target_and_package() -> None:
    m = model.load()
    assert m.default_target in m.targets
    for name in ("fedora-44", "fedora-45", "fedora-rawhide", "centos-stream-9", "centos-stream-10", "rhel-9", "rhel-10"):
        assert name in m.targets
    assert set(m.packages) >= {"moby-engine-dm", "docker-cli", "containerd",
                               "moby-dm-storage-setup", "moby-engine-dm-selinux"}
    f45 = m.targets["fedora-45"]
    assert f45.mock_chroot() == "fedora-45-x86_64"
    assert f45.rpm_macros == {"dist": ".fc45", "fedora": "45"}
    assert f45.macro_args() == ["--define", "dist .fc45", "--define", "fedora 45"]


def test_package_enablement_follows_target_flags() -> None:
    m = model.load()
    containerd = m.packages["containerd"]
    assert not containerd.enabled_for(m.targets["fedora-45"])  # Fedora ships containerd
    assert containerd.enabled_for(m.targets["centos-stream-9"])
    built = {p.name for t, p in m.pairs(["rhel-9"])}
    assert "containerd" in built


def test_sources_have_sha512_for_every_remote_source() -> None:
    for pkg in model.load().packages.values():
        for s in pkg.remote_sources:
            assert s.hash is not None and s.hash.hashtype == "sha512" and len(s.hash.hexdigest) == 128


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _expect(root: Path, pattern: str) -> DataError:
    with pytest.raises(DataError) as info:
        model.load(root)
    assert re.search(pattern, str(info.value)), str(info.value)
    return info.value


def test_broken_toml_names_file_and_position(spec_tree: Path) -> None:
    _edit(spec_tree / "targets.toml", 'default = "fedora-45"', 'default = "fedora-45')
    err = _expect(spec_tree, r"targets\.toml: invalid TOML: .*line \d+")
    assert err.path.name == "targets.toml"


def test_unknown_default_target(spec_tree: Path) -> None:
    _edit(spec_tree / "targets.toml", 'default = "fedora-45"', 'default = "fedora-99"')
    _expect(spec_tree, r"targets\.toml: default: default target 'fedora-99' is not defined")


def test_unknown_target_selected() -> None:
    with pytest.raises(DataError, match=r"unknown target 'fedora-99'.*\n  hint: known targets: fedora-44"):
        model.load().select_targets(["fedora-99"])


def test_missing_field(spec_tree: Path) -> None:
    _edit(spec_tree / "targets.toml", 'koji_target = "f44"\n', "")
    _expect(spec_tree, r"targets\.toml: targets\.fedora-44\.koji_target: missing required field")


def test_mistyped_field(spec_tree: Path) -> None:
    path = spec_tree / "moby-engine-dm" / "package.toml"
    path.write_text(re.sub(r"^release = (\d+)$", r'release = "\1"', path.read_text(), count=1, flags=re.M))
    _expect(spec_tree, r"moby-engine-dm/package\.toml: release: expected int, got str '\d+'")


def test_unknown_field_is_a_typo(spec_tree: Path) -> None:
    _edit(spec_tree / "docker-cli" / "package.toml", "release = 2", "release = 2\nrelase = 3")
    _expect(spec_tree, r"docker-cli/package\.toml: relase: unknown field")


def test_bad_hash_line(spec_tree: Path) -> None:
    path = spec_tree / "docker-cli" / "sources"
    path.write_text("SHA512 (cli-24.0.9.tar.gz) = abc123\n")
    _expect(spec_tree, r"docker-cli/sources: line 1: SHA512 hash of cli-24\.0\.9\.tar\.gz has 6 hex digits, expected 128")


def test_garbage_hash_line(spec_tree: Path) -> None:
    path = spec_tree / "docker-cli" / "sources"
    path.write_text("cli-24.0.9.tar.gz sha512 deadbeef\n")
    _expect(spec_tree, r"docker-cli/sources: line 1: not a sources line")


def test_mixed_hash_types(spec_tree: Path) -> None:
    path = spec_tree / "moby-engine-dm" / "sources"
    lines = path.read_text().splitlines()
    lines[1] = "0123456789abcdef0123456789abcdef  tini-0.19.0.tar.gz"
    path.write_text("\n".join(lines) + "\n")
    _expect(spec_tree, r"moby-engine-dm/sources: mixed hash types \(md5, sha512\)")


def test_missing_hash_for_a_source(spec_tree: Path) -> None:
    (spec_tree / "docker-cli" / "sources").write_text("")
    _expect(spec_tree, r"docker-cli/sources: no hash for cli-24\.0\.9\.tar\.gz .*\n  hint: add 'SHA512")


def test_stale_hash_line(spec_tree: Path) -> None:
    path = spec_tree / "docker-cli" / "sources"
    path.write_text(path.read_text() + f"SHA512 (old-1.0.tar.gz) = {'0' * 128}\n")
    _expect(spec_tree, r"docker-cli/sources: old-1\.0\.tar\.gz has a hash but is not a source")


def test_unknown_feature_flag_in_target(spec_tree: Path) -> None:
    _edit(spec_tree / "targets.toml", "features = { btrfs = true,", "features = { btrfs = true, zfs = true,")
    _expect(spec_tree, r"targets\.toml: targets\.fedora-44\.features\.zfs: unknown feature flag")


def test_unknown_feature_flag_in_package(spec_tree: Path) -> None:
    _edit(spec_tree / "containerd" / "package.toml", '["!distro_containerd"]', '["!distro_has_containerd"]')
    _expect(spec_tree, r"containerd/package\.toml: enabled_when\[0\]: unknown feature flag 'distro_has_containerd'")


def test_unknown_package_selected() -> None:
    with pytest.raises(DataError, match=r"(?s)unknown package 'podman'.*hint: known packages: "):
        model.load().select_packages(["podman"])


def test_family_macro_must_match_version(spec_tree: Path) -> None:
    _edit(spec_tree / "targets.toml", 'macros = { rhel = "9", el9 = "1" }', 'macros = { rhel = "8", el9 = "1" }')
    _expect(spec_tree, r"targets\.centos-stream-9\.macros\.rhel: a el target must define %rhel = \"9\"")


def test_missing_local_source(spec_tree: Path) -> None:
    (spec_tree / "moby-engine-dm" / "docker.socket").unlink()
    _expect(spec_tree, r"moby-engine-dm/package\.toml: sources\[3\]\.file: local source docker\.socket does not exist")


def test_missing_changelog(spec_tree: Path) -> None:
    (spec_tree / "containerd" / "changelog").unlink()
    _expect(spec_tree, r"containerd/changelog: missing or empty")


def test_undefined_template_variable_names_template_and_line(spec_tree: Path) -> None:
    tmpl = spec_tree / "docker-cli" / "docker-cli.spec.j2"
    lines = tmpl.read_text().splitlines()
    lines.insert(3, "%global oops {{ vars.no_such_var }}")
    tmpl.write_text("\n".join(lines) + "\n")
    m = model.load(spec_tree)
    with pytest.raises(ForkliftError) as info:
        render.render_spec(m, m.targets["fedora-45"], m.packages["docker-cli"])
    msg = str(info.value)
    assert re.search(r"docker-cli/docker-cli\.spec\.j2:4: undefined variable in template: .*no_such_var", msg), msg


def test_template_syntax_error_names_template_and_line(spec_tree: Path) -> None:
    tmpl = spec_tree / "containerd" / "containerd.spec.j2"
    tmpl.write_text(tmpl.read_text() + "{% if features.btrfs %}\nunclosed\n")
    m = model.load(spec_tree)
    with pytest.raises(ForkliftError, match=r"containerd/containerd\.spec\.j2:\d+: template syntax error"):
        render.render_spec(m, m.targets["centos-stream-9"], m.packages["containerd"])


def test_unknown_feature_in_template(spec_tree: Path) -> None:
    tmpl = spec_tree / "docker-cli" / "docker-cli.spec.j2"
    tmpl.write_text(tmpl.read_text().replace("features.go_md2man", "features.go_md2mann", 1))
    m = model.load(spec_tree)
    with pytest.raises(ForkliftError, match=r"unknown feature flag 'go_md2mann'"):
        render.render_spec(m, m.targets["fedora-45"], m.packages["docker-cli"])
