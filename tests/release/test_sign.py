"""invoke sign's engine: rpmsign with a throw-away key, repomd.xml.asc, the exported public key,
and the refusals (wrong passphrase, expired key, missing key) that leave the repository untouched."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.release.conftest import TARGET, Keys, ci_env, make_repo, tree_state
from tooling.errors import ForkliftError
from tooling.release import atomic, gpg, rpminfo, sign


@pytest.fixture
def build_dir(tmp_path: Path, rpms_dir: Path) -> Path:
    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.1-1.noarch.rpm", rpms_dir / "fktwo-2.0-1.noarch.rpm"])
    return b


def _cfg(env: dict[str, str], key_id: str | None = None) -> gpg.KeyConfig:
    return gpg.key_config(key_id, environ=env, config=Path("/nonexistent/signing.toml"))


def test_sign_ci_key_signs_rpms_and_repodata(build_dir: Path, keys: Keys, tmp_path: Path) -> None:
    homes_before = set(Path(tempfile.gettempdir()).glob("fk-gpg-*"))
    res = sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.good)))
    assert res.changed and res.signed == ("fkone-1.1-1.noarch.rpm", "fktwo-2.0-1.noarch.rpm")
    cur = atomic.current(build_dir / "repos" / TARGET)
    assert cur is not None
    for rpm_path in cur.glob("*.rpm"):
        assert rpminfo.info(rpm_path).signed_by == keys.good.fingerprint[-16:].lower()
    # the exported key verifies the repodata signature (gpgv, a keyring with only that key)
    pub = cur / sign.KEY_FILE
    ring = tmp_path / "ring.gpg"
    subprocess.run(["gpg", "--batch", "--dearmor", "--output", str(ring), str(pub)], check=True)
    ok = subprocess.run(["gpgv", "--keyring", str(ring), str(cur / sign.REPOMD_SIG), str(cur / "repodata/repomd.xml")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    verdicts = gpg.verify_rpms(sorted(cur.glob("*.rpm")), pub.read_bytes(), tmp_path)
    assert set(verdicts.values()) == {"ok"}
    # the throw-away GnuPG home (with the imported secret key) is gone
    assert set(Path(tempfile.gettempdir()).glob("fk-gpg-*")) == homes_before


def test_sign_again_changes_nothing(build_dir: Path, keys: Keys) -> None:
    sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.good)))
    before = tree_state(build_dir / "repos")
    res = sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.good)))
    assert not res.changed and res.signed == ()
    assert tree_state(build_dir / "repos") == before


def test_sign_with_another_key_resigns(build_dir: Path, keys: Keys) -> None:
    sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.other)))
    res = sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.good)))
    assert len(res.signed) == 2
    cur = atomic.current(build_dir / "repos" / TARGET)
    assert cur is not None
    assert {rpminfo.info(p).signed_by for p in cur.glob("*.rpm")} == {keys.good.fingerprint[-16:].lower()}


def test_agent_mode_key_id(build_dir: Path, keys: Keys, tmp_path: Path) -> None:
    """A key id through gpg-agent: the agent has the passphrase cached (as after a first use)."""
    home = tmp_path / "gh"
    shutil.copytree(keys.good.home, home, ignore=shutil.ignore_patterns("S.*"))
    try:
        env = {**os.environ, "GNUPGHOME": str(home)}
        blob = tmp_path / "blob"
        blob.write_text("x")
        subprocess.run(["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase-file",
                        str(keys.good.passphrase_file), "-u", keys.good.fingerprint, "--detach-sign", "-o",
                        str(tmp_path / "blob.sig"), str(blob)], env=env, check=True, capture_output=True)
        res = sign.sign_repo(build_dir, TARGET, _cfg({"GNUPGHOME": str(home)}, keys.good.fingerprint))
        assert len(res.signed) == 2
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


@pytest.mark.parametrize("case", ["wrong-passphrase", "expired", "missing-key", "public-only", "agent-uncached"])
def test_refusals_leave_the_repo_untouched(build_dir: Path, keys: Keys, tmp_path: Path, case: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="fk-gh-"))  # short: the agent's socket lives in it
    if case == "agent-uncached":  # a key id through a fresh gpg-agent that has no passphrase and no pinentry to ask
        shutil.rmtree(home)
        shutil.copytree(keys.good.home, home, ignore=shutil.ignore_patterns("S.*"))
        cfg, want = _cfg({"GNUPGHOME": str(home)}, keys.good.fingerprint), "gpg-agent has no passphrase for it"
    elif case == "wrong-passphrase":
        cfg, want = _cfg(ci_env(keys.good, keys.wrong_passphrase_file)), "wrong passphrase"
    elif case == "expired":
        cfg, want = _cfg(ci_env(keys.expired)), "expired on 2020-01-02"
    elif case == "missing-key":
        cfg, want = _cfg({"GNUPGHOME": str(keys.good.home)}, "0123456789ABCDEF"), "0123456789ABCDEF: not found"
    else:
        pub = tmp_path / "pub.asc"
        pub.write_text(subprocess.run(["gpg", "--batch", "--armor", "--export", keys.good.fingerprint],
                                      env={**os.environ, "GNUPGHOME": str(keys.good.home)}, capture_output=True,
                                      text=True, check=True).stdout)
        cfg, want = _cfg({"FORKLIFT_GPG_KEY_FILE": str(pub)}), "holds no secret key"
    before = tree_state(build_dir / "repos")
    try:
        with pytest.raises(ForkliftError) as err:
            sign.sign_repo(build_dir, TARGET, cfg)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)
        shutil.rmtree(home, ignore_errors=True)
    assert want in str(err.value)
    assert "\n" not in str(err.value)
    assert "horse battery" not in str(err.value)
    assert tree_state(build_dir / "repos") == before


def test_killed_before_the_swap_leaves_the_repo_serving(build_dir: Path, keys: Keys) -> None:
    """SIGKILL between rpmsign and the swap: the old, unsigned repository still serves, whole."""
    before = tree_state(build_dir / "repos" / f".{TARGET}.d" / "1")
    code = ("import sys; from pathlib import Path; from tooling.release import gpg, sign; "
            "sign.sign_repo(Path(sys.argv[1]), sys.argv[2], gpg.key_config())")
    env = {**os.environ, **ci_env(keys.good), atomic.FAULT_ENV: "sign:before-swap"}
    proc = subprocess.run([".venv/bin/python", "-c", code, str(build_dir), TARGET], env=env,
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    link = build_dir / "repos" / TARGET
    assert os.readlink(link) == f".{TARGET}.d/1"
    assert tree_state(link.resolve()) == before
    res = sign.sign_repo(build_dir, TARGET, _cfg(ci_env(keys.good)))  # the next run cleans up and signs
    assert res.changed
    assert not list((build_dir / "repos" / f".{TARGET}.d").glob("staging-*"))
