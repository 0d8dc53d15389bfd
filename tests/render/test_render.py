"""Rendering: deterministic, hand-written looking, literal Version/Release, target-driven."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tooling import model, render

MATRIX = model.load()
PAIRS = MATRIX.pairs(enabled_only=False)


def _ids(pair: tuple[model.Target, model.Package]) -> str:
    return f"{pair[0].name}/{pair[1].name}"


def test_every_package_renders_for_every_target_it_is_enabled_for() -> None:
    # containerd and device-mapper-persistent-data are target-dependent; the rest go everywhere
    enabled = MATRIX.pairs()
    per_target = {t.name: {p.name for tt, p in enabled if tt is t} for t in MATRIX.targets.values()}
    for name, pkgs in per_target.items():
        assert {"moby-engine-dm", "docker-cli", "moby-dm-storage-setup", "moby-engine-dm-selinux"} <= pkgs, name
    assert "containerd" in per_target["centos-stream-9"] and "containerd" not in per_target["fedora-45"]


@pytest.mark.parametrize("pair", PAIRS, ids=_ids)
def test_rendered_spec_is_clean(pair: tuple[model.Target, model.Package]) -> None:
    target, pkg = pair
    text = render.render_spec(MATRIX, target, pkg)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "\n\n\n" not in text, "blank-line litter"
    assert not re.search(r"[ \t]+$", text, re.M), "trailing white space"
    assert "{{" not in text and "{%" not in text, "unrendered Jinja2"
    # literal Version and Release: the SRPM rebuilds on its own
    assert re.search(rf"^Version:\s+{re.escape(pkg.version)}$", text, re.M)
    assert re.search(rf"^Release:\s+{pkg.release}%{{\?dist}}$", text, re.M)
    assert re.search(r"^%changelog\n\* ", text, re.M)
    # every section a packager expects
    for section in ("%description", "%prep", "%install", "%files"):
        assert re.search(rf"^{section}( -.*)?$", text, re.M), section


def test_same_inputs_give_byte_identical_output(tmp_path: Path) -> None:
    first = render.write_specs(render.render_all(MATRIX), tmp_path / "a")
    second = render.write_specs(render.render_all(model.load()), tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert len(first) == len(PAIRS)


def test_btrfs_flag_changes_the_engine_build() -> None:
    engine = MATRIX.packages["moby-engine-dm"]
    fedora = render.render_spec(MATRIX, MATRIX.targets["fedora-45"], engine)
    el = render.render_spec(MATRIX, MATRIX.targets["centos-stream-9"], engine)
    assert "btrfs-progs-devel" in fedora and "exclude_graphdriver_btrfs" not in fedora
    assert "btrfs-progs-devel" not in el and "exclude_graphdriver_btrfs" in el


def test_write_specs_layout_and_no_rewrite_when_unchanged(tmp_path: Path) -> None:
    specs = render.render_all(MATRIX, ["fedora-45"], ["docker-cli"])
    (path,) = render.write_specs(specs, tmp_path)
    assert path == tmp_path / "fedora-45" / "docker-cli.spec"
    mtime = path.stat().st_mtime_ns
    render.write_specs(specs, tmp_path)
    assert path.stat().st_mtime_ns == mtime
    assert not list(tmp_path.rglob("*.tmp"))
