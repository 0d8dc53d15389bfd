"""Bad input to invoke sign, publish and release-report through the real CLI: a one-line error naming
the culprit, exit code 1, no traceback, and never the passphrase in any output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.release.conftest import PASSPHRASE, TARGET, Keys, ci_env, make_repo
from tooling.release import gpg, sign

REPO_ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None, tmp: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT_GPG_")}
    base["XDG_CONFIG_HOME"] = str(tmp / "config")  # no signing.toml of the user
    return subprocess.run([str(REPO_ROOT / ".venv/bin/invoke"), *args], cwd=REPO_ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=120)


def assert_user_error(res: subprocess.CompletedProcess[str], *culprit: str) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "Traceback" not in out
    assert PASSPHRASE not in out
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for c in culprit:
        assert c in lines[0], lines[0]


@pytest.fixture
def build_dir(tmp_path: Path, rpms_dir: Path) -> Path:
    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm"])
    return b


# ---------------------------------------------------------------------------- sign


def test_sign_without_any_key_configured(build_dir: Path, tmp_path: Path) -> None:
    assert_user_error(invoke("sign", "--build-dir", str(build_dir), tmp=tmp_path), "no signing key configured",
                      "--key-id", "$FORKLIFT_GPG_KEY_FILE")


def test_sign_unknown_target(build_dir: Path, tmp_path: Path) -> None:
    assert_user_error(invoke("sign", "-t", "fedora-99", "--build-dir", str(build_dir), tmp=tmp_path),
                      "--target fedora-99: unknown target")


def test_sign_key_file_missing(build_dir: Path, tmp_path: Path) -> None:
    res = invoke("sign", "--build-dir", str(build_dir), tmp=tmp_path,
                 env={"FORKLIFT_GPG_KEY_FILE": str(tmp_path / "nope.asc")})
    assert_user_error(res, "$FORKLIFT_GPG_KEY_FILE", "nope.asc", "no such file")


def test_sign_wrong_passphrase_names_it_and_never_shows_one(build_dir: Path, tmp_path: Path, keys: Keys) -> None:
    wrong = tmp_path / "wrong.pass"
    wrong.write_text(PASSPHRASE + " but not quite\n")  # contains the real one: output must not leak it either
    before = sorted(p.name for p in (build_dir / "repos").rglob("*"))
    res = invoke("sign", "--build-dir", str(build_dir), tmp=tmp_path, env=ci_env(keys.good, wrong))
    assert_user_error(res, "wrong passphrase", "$FORKLIFT_GPG_PASSPHRASE_FILE")
    assert "but not quite" not in res.stdout + res.stderr
    assert sorted(p.name for p in (build_dir / "repos").rglob("*")) == before


def test_sign_expired_key(build_dir: Path, tmp_path: Path, keys: Keys) -> None:
    res = invoke("sign", "--build-dir", str(build_dir), tmp=tmp_path, env=ci_env(keys.expired))
    assert_user_error(res, f"signing key {keys.expired.fingerprint[-16:]}", "expired on 2020-01-02")


def test_sign_key_id_not_in_keyring(build_dir: Path, tmp_path: Path, keys: Keys) -> None:
    res = invoke("sign", "--build-dir", str(build_dir), "--key-id", "nobody@example.org", tmp=tmp_path,
                 env={"GNUPGHOME": str(keys.good.home)})
    assert_user_error(res, "signing key nobody@example.org: not found")


def test_sign_without_a_build(tmp_path: Path, keys: Keys) -> None:
    res = invoke("sign", "--build-dir", str(tmp_path / "empty"), tmp=tmp_path, env=ci_env(keys.good))
    assert_user_error(res, f"no repository for target {TARGET}", "invoke build")


def test_sign_succeeds_and_prints_no_secret(build_dir: Path, tmp_path: Path, keys: Keys) -> None:
    res = invoke("sign", "--build-dir", str(build_dir), tmp=tmp_path, env=ci_env(keys.good))
    assert res.returncode == 0, res.stderr
    assert "signed 1 RPM(s)" in res.stdout and PASSPHRASE not in res.stdout + res.stderr


# ---------------------------------------------------------------------------- publish


@pytest.fixture
def signed(build_dir: Path, keys: Keys) -> Path:
    cfg = gpg.key_config(None, environ=ci_env(keys.good), config=Path("/nonexistent"))
    sign.sign_repo(build_dir, TARGET, cfg)
    return build_dir


@pytest.mark.parametrize(("args", "culprit"), [
    (["--channel", "beta"], ("--channel beta: unknown channel", "stable, test")),
    (["--keep", "0"], ("--keep 0",)),
    (["--base-url", "ftp://mirror.example.org/x"], ("--base-url ftp://mirror.example.org/x",)),
    (["--base-url", "https://user:hunter2@example.org/x"], ("--base-url",)),
])
def test_publish_bad_options(signed: Path, tmp_path: Path, keys: Keys, args: list[str], culprit: tuple[str, ...]) -> None:
    res = invoke("publish", "--build-dir", str(signed), "--dest", str(tmp_path / "dest"), *args, tmp=tmp_path,
                 env=ci_env(keys.good))
    assert_user_error(res, *culprit)
    assert "hunter2" not in res.stdout + res.stderr
    assert not (tmp_path / "dest").exists()


def test_publish_dest_is_a_file(signed: Path, tmp_path: Path, keys: Keys) -> None:
    (tmp_path / "afile").write_text("x")
    res = invoke("publish", "--build-dir", str(signed), "--dest", str(tmp_path / "afile"), tmp=tmp_path,
                 env=ci_env(keys.good))
    assert_user_error(res, "--dest", "afile", "not a directory")


def test_publish_unsigned_repository(build_dir: Path, tmp_path: Path, keys: Keys) -> None:
    res = invoke("publish", "--build-dir", str(build_dir), "--dest", str(tmp_path / "dest"), tmp=tmp_path,
                 env=ci_env(keys.good))
    assert_user_error(res, "not signed", f"invoke sign -t {TARGET}")


def test_publish_with_another_key_than_the_one_that_signed(signed: Path, tmp_path: Path, keys: Keys) -> None:
    res = invoke("publish", "--build-dir", str(signed), "--dest", str(tmp_path / "dest"), tmp=tmp_path,
                 env=ci_env(keys.other))
    assert_user_error(res, "signed with another key than", keys.other.fingerprint[-16:])


def test_publish_stable_refuses_a_placeholder_and_publishes_nothing(tmp_path: Path, rpms_dir: Path,
                                                                      keys: Keys) -> None:
    from tests.release.conftest import build_rpm

    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm",
                  build_rpm(tmp_path, "fkhome", url="https://forklift.example.org/fkhome")])
    cfg = gpg.key_config(None, environ=ci_env(keys.good), config=Path("/nonexistent/signing.toml"))
    sign.sign_repo(b, TARGET, cfg)
    res = invoke("publish", "--build-dir", str(b), "--dest", str(tmp_path / "dest"), tmp=tmp_path,
                 env=ci_env(keys.good))
    out = res.stdout + res.stderr
    assert res.returncode == 1 and "Traceback" not in out, out
    error, hint = [line for line in res.stderr.splitlines() if line.strip()]
    assert error.startswith("error: publish --channel stable of ") and "fkhome-1.0-1.noarch.rpm: URL " \
        "'https://forklift.example.org/fkhome' is a placeholder (example.org is a reserved domain)" in error, error
    assert hint.strip().startswith("hint: set `home` in specs/targets.toml"), hint
    assert not (tmp_path / "dest").exists()
    # the test channel is not a release: it takes the same repository
    res = invoke("publish", "--build-dir", str(b), "--dest", str(tmp_path / "dest"), "--channel", "test",
                 tmp=tmp_path, env=ci_env(keys.good))
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------------------- release-report


def test_report_build_json_missing(build_dir: Path, tmp_path: Path) -> None:
    res = invoke("release-report", "--build-dir", str(build_dir), "--build-json", str(tmp_path / "b.json"),
                 tmp=tmp_path)
    assert_user_error(res, "--build-json", "b.json", "no such file")


def test_report_build_json_not_a_build_report(build_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"hello": 1}')
    res = invoke("release-report", "--build-dir", str(build_dir), "--build-json", str(bad), tmp=tmp_path)
    assert_user_error(res, "--build-json", "not a build report")
    bad.write_text("{not json")
    assert_user_error(invoke("release-report", "--build-dir", str(build_dir), "--build-json", str(bad), tmp=tmp_path),
                      "--build-json", "not JSON")


def test_report_previous_not_a_release_json(build_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "prev.json"
    bad.write_text("[]")
    res = invoke("release-report", "--build-dir", str(build_dir), "--previous", str(bad), tmp=tmp_path)
    assert_user_error(res, "--previous", "prev.json", "not a release.json")


def test_report_rebuild_dir_missing(build_dir: Path, tmp_path: Path) -> None:
    res = invoke("release-report", "--build-dir", str(build_dir), "--rebuild-dir", str(tmp_path / "b2"), tmp=tmp_path)
    assert_user_error(res, "--rebuild-dir", "b2", "no such directory")


def test_report_out_is_a_file(build_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x")
    res = invoke("release-report", "--build-dir", str(build_dir), "--out", str(tmp_path / "out"), tmp=tmp_path)
    assert_user_error(res, "--out", "not a directory")


def test_report_default_out_and_help(build_dir: Path, tmp_path: Path) -> None:
    res = invoke("release-report", "--build-dir", str(build_dir), tmp=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (build_dir / "release" / TARGET / "release.html").is_file()
    for task in ("sign", "publish", "release-report"):
        h = invoke("--help", task, tmp=tmp_path)
        assert h.returncode == 0 and "--build-dir" in h.stdout
