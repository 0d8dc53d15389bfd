"""The signed, published tree the RPM-native guest installs from (tooling/smoke/signed.py), checked
on this host with real dnf and every signature check on: N-1 installs from stable, N from test, and
the unsigned repository beside it is refused for its signatures. The guest does the same for real
in tests/smoke/test_rpm_guest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.release.conftest import rpms_dir  # noqa: F401  (fixture)
from tests.release.test_dnf import Root
from tooling import model
from tooling.release import gpg
from tooling.smoke import signed


def _host_copy(tree: signed.SignedTree, base: Path) -> tuple[Path, Path]:
    """The .repo files with the guest's file:// URLs pointed at this host's copy of the tree."""
    out = []
    for path in (tree.repo_file, tree.refused_repo_file):
        text = path.read_text().replace(f"file://{signed.GUEST_ROOT}", tree.published.as_uri())
        text = text.replace(f"file://{signed.GUEST_REFUSED}", tree.refused.as_uri())
        copy = base / path.name
        copy.write_text(text)
        out.append(copy)
    return out[0], out[1]


def test_key_is_made_once_and_renewed_when_old(tmp_path: Path) -> None:
    cfg = signed.throwaway_key(tmp_path)
    assert cfg.key_file is not None and cfg.passphrase_file is None
    first = cfg.key_file.read_bytes()
    assert b"PRIVATE KEY" in first and oct(cfg.key_file.stat().st_mode & 0o777) == "0o600"
    assert signed.throwaway_key(tmp_path).key_file == cfg.key_file
    assert cfg.key_file.read_bytes() == first  # cached
    old = time.time() - (signed.KEY_MAX_AGE_DAYS + 1) * 86400
    os.utime(cfg.key_file, (old, old))
    assert signed.throwaway_key(tmp_path).key_file.read_bytes() != first  # type: ignore[union-attr]


def test_tree_installs_signed_and_refuses_unsigned(tmp_path: Path, rpms_dir: Path) -> None:  # noqa: F811
    prev, cur = tmp_path / "prev", tmp_path / "cur"
    prev.mkdir()
    cur.mkdir()
    shutil.copy(rpms_dir / "fkone-1.0-1.noarch.rpm", prev)
    shutil.copy(rpms_dir / "fkone-1.1-1.noarch.rpm", cur)
    target = model.load().targets["fedora-45"]
    tree = signed.signed_tree(target, prev, cur, tmp_path / "work", signed.throwaway_key(tmp_path / "cache"))

    channels = tree.published / "fedora" / "45" / "x86_64"
    assert sorted(p.name for p in (channels / "stable").glob("*.rpm")) == ["fkone-1.0-1.noarch.rpm"]
    assert sorted(p.name for p in (channels / "test").glob("*.rpm")) == ["fkone-1.1-1.noarch.rpm"]
    public = (tree.published / "fedora" / "gpg").read_bytes()
    verdicts = gpg.verify_rpms([*channels.glob("*/*.rpm"), *(tree.refused / "unsigned").glob("*.rpm")], public)
    assert {p.parent.name: v for p, v in verdicts.items()} == {"stable": "ok", "test": "ok", "unsigned": "unsigned"}
    repo_text = tree.repo_file.read_text()
    assert f"baseurl=file://{signed.GUEST_ROOT}/fedora/$releasever/$basearch/stable" in repo_text
    assert repo_text.count("gpgcheck=1") == 2 * 2  # gpgcheck and repo_gpgcheck, both channels
    assert "gpgcheck=1" in tree.refused_repo_file.read_text()
    assert (tree.refused / "unsigned" / "repodata" / "repomd.xml.asc").is_file()

    repo_file, refused_file = _host_copy(tree, tmp_path)
    root = Root(tmp_path / "user", repo_file, tree.published / "fedora" / "gpg")
    res = root.install("fkone")  # stable: N-1
    assert res.returncode == 0, res.stdout + res.stderr
    nvr = subprocess.run(["rpm", "--root", str(root.root), "-q", "fkone"], capture_output=True, text=True).stdout
    assert nvr.strip() == "fkone-1.0-1.noarch"

    user2 = Root(tmp_path / "user2", refused_file, tree.published / "fedora" / "gpg")
    res = user2.install("--repo=forklift-unsigned", "fkone")
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert "is not signed" in out and "GPG check FAILED" in out, out
    assert "fkone" not in user2.installed()
