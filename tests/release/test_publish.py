"""invoke publish's engine: the download-server layout, .repo files, keeping N versions, a second
publish of the same inputs that changes nothing, and a publish killed half-way."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import gpg_agent_homedirs
from tests.release.conftest import TARGET, Keys, build_rpm, ci_env, make_repo, tree_state
from tooling import model
from tooling.errors import ForkliftError
from tooling.release import atomic, gpg, publish, sign

REPO_ROOT = Path(__file__).resolve().parents[2]


def cfg(keys: Keys) -> gpg.KeyConfig:
    return gpg.key_config(None, environ=ci_env(keys.good), config=Path("/nonexistent/signing.toml"))


@pytest.fixture
def target() -> model.Target:
    return model.load().targets[TARGET]


@pytest.fixture
def signed_build(tmp_path: Path, rpms_dir: Path, keys: Keys) -> Path:
    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm", rpms_dir / "fktwo-2.0-1.noarch.rpm"])
    sign.sign_repo(b, TARGET, cfg(keys))
    return b


def channel(dest: Path, name: str = "stable") -> Path:
    return dest / "fedora" / "45" / "x86_64" / name


def test_layout_repo_file_and_key(signed_build: Path, keys: Keys, target: model.Target, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    res = publish.publish(signed_build, target, dest, "stable", cfg(keys), base_url="https://example.org/linux")
    assert [r.changed for r in res] == [True]
    ch = channel(dest)
    assert ch.is_symlink() and os.readlink(ch) == ".stable.d/1"
    assert sorted(p.name for p in ch.glob("*.rpm")) == ["fkone-1.0-1.noarch.rpm", "fktwo-2.0-1.noarch.rpm"]
    assert (ch / "repodata" / "repomd.xml.asc").is_file()
    repo = (dest / "fedora" / "forklift.repo").read_text()
    assert "baseurl=https://example.org/linux/fedora/$releasever/$basearch/stable" in repo
    assert repo.count("gpgcheck=1") == 4 and repo.count("repo_gpgcheck=1") == 2
    assert "gpgkey=https://example.org/linux/fedora/gpg" in repo
    assert (dest / "fedora" / "gpg").read_bytes() == (signed_build / "repos" / TARGET / sign.KEY_FILE).read_bytes()
    # the test channel is separate
    publish.publish(signed_build, target, dest, "test", cfg(keys))
    assert os.readlink(channel(dest, "test")) == ".test.d/1"
    assert os.readlink(channel(dest)) == ".stable.d/1"


def test_publishing_the_same_inputs_again_changes_nothing(signed_build: Path, keys: Keys, target: model.Target,
                                                          tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    publish.publish(signed_build, target, dest, "stable", cfg(keys))
    before = tree_state(dest)
    res = publish.publish(signed_build, target, dest, "stable", cfg(keys))
    assert [r.changed for r in res] == [False]
    assert tree_state(dest) == before  # every path, byte and mtime


def test_keeps_the_newest_n_versions(signed_build: Path, keys: Keys, target: model.Target, tmp_path: Path,
                                     rpms_dir: Path) -> None:
    dest = tmp_path / "dest"
    publish.publish(signed_build, target, dest, "stable", cfg(keys), keep=2)
    for version in ("1.1", "1.2"):
        rpm = rpms_dir / f"fkone-{version}-1.noarch.rpm"
        if not rpm.exists():
            build_rpm(rpms_dir, "fkone", version, "1")
        make_repo(signed_build, [rpm])
        sign.sign_repo(signed_build, TARGET, cfg(keys))
        publish.publish(signed_build, target, dest, "stable", cfg(keys), keep=2)
    names = sorted(p.name for p in channel(dest).glob("*.rpm"))
    assert names == ["fkone-1.1-1.noarch.rpm", "fkone-1.2-1.noarch.rpm", "fktwo-2.0-1.noarch.rpm"]
    # only the current version and the previous one stay on disk
    assert sorted(p.name for p in (channel(dest).parent / ".stable.d").iterdir()) == ["2", "3"]


def test_plan_channel_is_pure() -> None:
    def e(name: str, ver: str, arch: str = "noarch") -> publish.Entry:
        return publish.Entry(f"{name}-{ver}-1.{arch}.rpm", name, arch, ("0", ver, "1"), ver, Path("/x"))

    current = [e("a", "1.9"), e("a", "1.10"), e("b", "1.0", "x86_64")]
    planned = publish.plan_channel(current, [e("a", "2.0"), e("b", "0.9", "x86_64")], keep=2)
    # rpm version order (1.10 > 1.9), per name and arch, newest two
    assert [x.filename for x in planned] == ["a-1.10-1.noarch.rpm", "a-2.0-1.noarch.rpm",
                                             "b-0.9-1.x86_64.rpm", "b-1.0-1.x86_64.rpm"]


@pytest.mark.parametrize("step", ["publish:after-createrepo", "publish:before-swap"])
def test_killed_half_way_leaves_the_previous_tree_serving(signed_build: Path, keys: Keys, target: model.Target,
                                                          tmp_path: Path, rpms_dir: Path, step: str) -> None:
    dest = tmp_path / "dest"
    publish.publish(signed_build, target, dest, "stable", cfg(keys))
    serving = tree_state(channel(dest).resolve())
    make_repo(signed_build, [rpms_dir / "fkone-1.1-1.noarch.rpm"])
    sign.sign_repo(signed_build, TARGET, cfg(keys))
    code = ("import sys; from pathlib import Path; from tooling import model; from tooling.release import gpg, publish; "
            "publish.publish(Path(sys.argv[1]), model.load().targets[sys.argv[2]], Path(sys.argv[3]), 'stable', "
            "gpg.key_config())")
    homes_before = set(Path(tempfile.gettempdir()).glob(gpg.SCRATCH_PREFIX + "*"))
    proc = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "-c", code, str(signed_build), TARGET, str(dest)],
                          env={**os.environ, **ci_env(keys.good), atomic.FAULT_ENV: step}, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert os.readlink(channel(dest)) == ".stable.d/1"
    assert tree_state(channel(dest).resolve()) == serving
    # the killed run left its signing home (a copy of the secret key) and its gpg-agent behind
    left = set(Path(tempfile.gettempdir()).glob(gpg.SCRATCH_PREFIX + "*")) - homes_before
    assert len(left) == 1 and list((next(iter(left)) / "home" / "private-keys-v1.d").glob("*.key")), left
    home = os.path.realpath(next(iter(left)) / "home")
    assert home in gpg_agent_homedirs()
    # the next publish removes the dead run's staging directory and signing home, stops its agent, completes
    res = publish.publish(signed_build, target, dest, "stable", cfg(keys))
    assert res[0].changed and "fkone-1.1-1.noarch.rpm" in res[0].files
    assert not list((channel(dest).parent / ".stable.d").glob("staging-*"))
    assert not any(p.exists() for p in left) and home not in gpg_agent_homedirs()


def test_refuses_an_unsigned_repository(tmp_path: Path, rpms_dir: Path, keys: Keys, target: model.Target) -> None:
    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm"])
    with pytest.raises(ForkliftError, match=r"not signed \(no RPM-GPG-KEY-forklift\): run invoke sign"):
        publish.publish(b, target, tmp_path / "dest", "stable", cfg(keys))
    assert not (tmp_path / "dest" / "fedora").exists()


def test_refuses_an_rpm_added_after_signing(signed_build: Path, rpms_dir: Path, keys: Keys,
                                            target: model.Target, tmp_path: Path) -> None:
    make_repo(signed_build, [rpms_dir / "fkone-1.1-1.noarch.rpm"])  # a build after `invoke sign`
    cur = atomic.current(signed_build / "repos" / TARGET)
    assert cur is not None
    (cur / sign.KEY_FILE).write_bytes(_export(keys))  # the key file is there, the new RPM unsigned
    with pytest.raises(ForkliftError, match=r"fkone-1.1-1.noarch.rpm in .* is not signed: run invoke sign"):
        publish.publish(signed_build, target, tmp_path / "dest", "stable", cfg(keys))


def _export(keys: Keys) -> bytes:
    return subprocess.run(["gpg", "--batch", "--armor", "--export", keys.good.fingerprint], capture_output=True,
                          env={**os.environ, "GNUPGHOME": str(keys.good.home)}, check=True).stdout
