"""Faults as a real koji 1.35 hub shows them, through the real koji library against the fake hub,
and the koji tasks' bad-input cases through `invoke` itself (exit code, one message, no traceback,
no secret)."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import koji
import pytest
from rich.console import Console

from tests.koji.conftest import PROFILE, TARGET, Pki, console_text, write_profile
from tests.koji.fakehub import CLOSED, FakeHub, RunningHub, taskrelpath
from tests.koji.test_koji_build import FAST, build, methods, real_builds_allowed
from tooling import REPO_ROOT
from tooling.builds.lock import BuildLock
from tooling.errors import ForkliftError
from tooling.koji.session import Hub, RetryPolicy, load_profile
from tooling.model import Matrix

SENTINEL = "s3cret-Sentinel-pw"


def test_login_tells_outage_network_and_certificate_apart(tmp_path: Path, running_hub: RunningHub, pki: Pki,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """koji's ssl_login turns every failure into an AuthError; Forklift looks at what the request met."""
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))

    def login_error(server: str, ca: Path = pki.ca) -> ForkliftError:
        write_profile(home, server, pki.client["alice"], ca)
        with pytest.raises(ForkliftError) as err:
            Hub(load_profile(PROFILE), retry=FAST).login()
        return err.value

    # the hub's database is down: Fault 1014 'database outage', retried, then an outage, not the certificate
    running_hub.hub.offline = True
    err = login_error(running_hub.url)
    assert "is out of service: database outage" in err.message and "cert" not in str(err.hint)
    assert "try again later" in str(err.hint)
    running_hub.hub.offline = False
    # nothing listens: the network
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    err = login_error(f"https://127.0.0.1:{closed_port}/kojihub")
    assert "is unreachable" in err.message and "Connection refused" in err.message
    assert "server =" in str(err.hint)
    # the hub's certificate is signed by a CA the profile does not trust: serverca
    other = tmp_path_factory.mktemp("other-ca")
    from tests.koji.conftest import _pki

    err = login_error(running_hub.url, ca=_pki(other).ca)
    assert "TLS certificate is not trusted" in err.message and "serverca =" in str(err.hint)
    assert running_hub.hub.sessions == {}


def test_build_from_srpm_policy_offers_the_dist_git_path(matrix: Matrix, tmp_path: Path, hub: FakeHub,
                                                          profile: str, console: Console,
                                                          make_srpms: Callable[..., Path]) -> None:
    """koji's default build_from_srpm policy: the task (not the call) fails for a non-admin."""
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    hub.add_packages("f45", "kt-base")
    with pytest.raises(ForkliftError) as err:
        build(matrix, build_dir, profile, console, "kt-base", scratch=False)
    assert "policy violation (build_from_srpm)" in str(err.value)
    hint = str(err.value.hint)
    assert "only admins make non-scratch builds from an SRPM" in hint
    assert "invoke dist-git -t TARGET --repo URL --push" in hint and "koji-build -t TARGET --scm" in hint
    assert "--scratch" in hint
    assert methods(hub).count("build") == 1 and not (build_dir / "results" / TARGET / "kt-base").exists()
    # an admin may (koji's default policy): the same build goes through
    hub.admins.add("alice")
    build(matrix, build_dir, profile, console, "kt-base", scratch=False)
    assert [b.nvr for b in hub.builds.values()] == ["kt-base-1.0-1"]


def test_package_list_is_enforced(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str, console: Console,
                                  make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    hub.srpm_policy = "allow"
    with pytest.raises(ForkliftError, match="package kt-base not in list for tag f45"):
        build(matrix, build_dir, profile, console, "kt-base", scratch=False)
    assert hub.builds == {}


def test_real_task_tree_results_and_modes(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                          console: Console, make_srpms: Callable[..., Path]) -> None:
    """koji's task tree (waitrepo, rebuildSRPM labelled srpm, buildArch, tagBuild), results at
    tasks/NN/NNNN/ paths, eight logs: Forklift takes the buildArch output, world-readable."""
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    real_builds_allowed(hub, "kt-base")
    old = os.umask(0o077)  # even with a strict umask the result tree is for everyone to read
    try:
        build(matrix, build_dir, profile, console, "kt-base", scratch=False)
    finally:
        os.umask(old)
    root = next(t for t in hub.tasks.values() if t.method == "build")
    kids = sorted((t for t in hub.tasks.values() if t.parent == root.id), key=lambda t: t.id)
    assert [(t.method, t.label) for t in kids] == [("waitrepo", None), ("rebuildSRPM", "srpm"),
                                                   ("buildArch", "noarch"), ("tagBuild", None)]
    assert all(t.state == CLOSED and t.start_ts and t.completion_ts for t in [root, *kids])

    client = Hub(load_profile(profile), retry=FAST)
    assert client.call("getTaskResult", root.id) is None  # a closed build's result
    arch = kids[2]
    result = client.call("getTaskResult", arch.id)
    rel = taskrelpath(arch.id)
    assert rel == f"tasks/{arch.id % 10000}/{arch.id}"
    assert f"{rel}/kt-base-1.0-1.noarch.rpm" in result["rpms"] and isinstance(result["brootid"], int)
    assert len(result["logs"]) == 8 and f"{rel}/noarch_rpmdiff.json" in result["logs"]
    info = client.call("getTaskInfo", arch.id)
    assert info["label"] == "noarch" and isinstance(info["start_time"], str) and info["awaited"] is True
    listing = client.call("listTaskOutput", arch.id, stat=True)
    assert isinstance(listing["build.log"]["st_mtime"], float)

    result_dir = build_dir / "results" / TARGET / "kt-base"
    meta = json.loads((result_dir / "result.json").read_text())
    assert [t["method"] for t in meta["tasks"]] == ["build", "waitrepo", "rebuildSRPM", "buildArch", "tagBuild"]
    assert {"build.log", "root.log", "mock_output.log", "hw_info.log", "installed_pkgs.log"} <= set(meta["files"])
    assert stat.S_IMODE(result_dir.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in result_dir.iterdir())


def test_not_found_answers_are_faults(hub: FakeHub, profile: str) -> None:
    """What the real hub answers for things that do not exist (the fake once dropped the connection)."""
    client = Hub(load_profile(profile), retry=FAST)
    client.login()
    s = client.session
    with pytest.raises(koji.GenericError, match=r"No such build: 'nope-1-1'"):
        s.getBuild("nope-1-1", strict=True)
    with pytest.raises(koji.GenericError, match=r"No such task: 424242"):
        s.getTaskResult(424242)
    task = s.build("cli-build/x/none.src.rpm", "f45", {"scratch": True})
    with pytest.raises(koji.GenericError, match=f'no file "build.log" output by task {task}'):
        s.downloadTaskOutput(task, "build.log")
    # uploads: rawUpload and checkUpload answer with koji 1.35's fields and types
    f = hub.workdir.parent / "blob.bin"
    f.write_bytes(b"x" * 1000)
    s.uploadWrapper(str(f), "cli-build/probe")
    raw = next(c for c in hub.calls if c[0] == "rawUpload")
    assert raw[1][:2] == ("cli-build/probe", "blob.bin")
    check = s.checkUpload("cli-build/probe", "blob.bin", verify="adler32")
    assert check["size"] == 1000 and isinstance(check["mtime"], float) and check["sumlength"] == 1000
    client.logout()


def test_outage_during_a_run_is_named(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                      console: Console, make_srpms: Callable[..., Path]) -> None:
    make_srpms(tmp_path / "build", "kt-base")
    hub.inject("getBuildTarget", "offline", count=20)
    with pytest.raises(ForkliftError) as err:
        build(matrix, tmp_path / "build", profile, console, "kt-base")
    assert "is out of service (database outage)" in err.value.message and "rawUpload" not in methods(hub)


def test_koji_build_takes_the_build_lock(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                         console: Console, make_srpms: Callable[..., Path]) -> None:
    """koji-build republishes build/repos/<target>/: not beside a local build of the same tree."""
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    with BuildLock(build_dir), pytest.raises(ForkliftError, match=r"is in use by pid \d+") as err:
        build(matrix, build_dir, profile, console, "kt-base")
    assert "another --build-dir" in str(err.value.hint)
    assert hub.calls == [] and not (build_dir / "repos").exists() and not (build_dir / "results").exists()
    # released: the build runs, and a local build waits for it in turn
    build(matrix, build_dir, profile, console, "kt-base")
    assert (build_dir / "repos" / TARGET / "repodata" / "repomd.xml").is_file()


def test_secret_in_the_hub_url_is_never_printed(matrix: Matrix, tmp_path: Path, running_hub: RunningHub,
                                                pki: Pki, monkeypatch: pytest.MonkeyPatch, console: Console,
                                                make_srpms: Callable[..., Path],
                                                caplog: pytest.LogCaptureFixture,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    secret_url = running_hub.url.replace("https://", f"https://forklift:{SENTINEL}@")
    write_profile(home, secret_url, pki.client["alice"], pki.ca)
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    hub = running_hub.hub
    build(matrix, build_dir, PROFILE, console, "kt-base", dry_run=True)  # --dry-run names the hub
    hub.inject("getBuildTarget", "http503")
    hub.inject("getBuildTarget", "reset")
    build(matrix, build_dir, PROFILE, console, "kt-base")  # retry lines
    hub.inject("getBuildTarget", "http503", count=20)
    with pytest.raises(ForkliftError) as err:  # the final error
        build(matrix, build_dir, PROFILE, console, "kt-base")
    out = console_text(console)
    captured = capsys.readouterr()
    assert "https://***@127.0.0.1" in out and "https://***@127.0.0.1" in str(err.value)
    assert "retry 1/" in caplog.text
    for text in (out, str(err.value), caplog.text, captured.out, captured.err):
        assert SENTINEL not in text
    for result in (build_dir / "results").rglob("result.json"):
        assert SENTINEL not in result.read_text()


# ----------------------------------------------------------------------------- through `invoke`


def invoke(*args: str, home: Path, timeout: float = 60) -> tuple[int, str, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KOJI", "FORKLIFT"))} | {"HOME": str(home)}
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).with_name("invoke")), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start


def one_error(stderr: str) -> str:
    """The single error message: 'error: ...' on one line (a hint line may follow); no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert all(line.startswith(("error:", "  hint:")) or "retry" in line for line in lines), stderr
    return errors[0]


@pytest.fixture
def hanging_hub() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts connections and never says anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_status_of_a_hub_that_never_answers_ends_within_its_deadline(tmp_path: Path, hanging_hub: int,
                                                                    pki: Pki) -> None:
    home = tmp_path / "home"
    write_profile(home, f"https://forklift:{SENTINEL}@127.0.0.1:{hanging_hub}/kojihub", pki.client["alice"],
                  pki.ca)
    config = home / ".koji" / "config"
    config.write_text(config.read_text() + "timeout = 1\n")  # deadline: 3 x timeout = 3 s
    start = time.monotonic()
    rc, out, err, took = invoke("koji-status", "123", "--profile", PROFILE, home=home)
    assert rc == 1 and took < 20  # 3 s of hub calls plus the interpreter's start-up
    assert time.monotonic() - start < 20
    line = one_error(err)
    assert "gave no answer to getTaskInfo(123)" in line and "deadline 3 s" in line
    assert f"127.0.0.1:{hanging_hub}" in line and SENTINEL not in out + err


def test_bad_koji_inputs_through_invoke(tmp_path: Path, pki: Pki, hanging_hub: int) -> None:
    home = tmp_path / "home"
    write_profile(home, f"https://forklift:{SENTINEL}@127.0.0.1:{hanging_hub}/kojihub", pki.client["alice"],
                  pki.ca)
    # a task id that is not a number
    rc, out, err, _ = invoke("koji-status", "abc", "--profile", PROFILE, home=home)
    assert rc == 1 and "koji task id 'abc' is not a task number" in one_error(err)
    # an unknown package: named, with what exists
    srpms = tmp_path / "b" / "srpms" / TARGET
    srpms.mkdir(parents=True)
    rc, out, err, _ = invoke("koji-build", "-t", TARGET, "-p", "dokcer-cli", "--profile", PROFILE, "--build-dir",
                             str(tmp_path / "b"), "--dry-run", home=home)
    assert rc == 1 and "no SRPMs for target" in one_error(err)
    # --dry-run prints the hub without its password
    rc, out, err, _ = invoke("koji-tag", "f45", "--nvr", "x-1-1", "--profile", PROFILE, "--dry-run", home=home)
    assert rc == 0 and "https://***@127.0.0.1" in out and SENTINEL not in out + err
    # --scm without --repo
    rc, out, err, _ = invoke("koji-build", "-t", TARGET, "--scm", "--profile", PROFILE, home=home)
    assert rc == 1 and "--scm needs --repo" in one_error(err)
    # the profile's cert= file is missing: one line naming it, before any hub call
    missing = tmp_path / "gone.pem"
    write_profile(home, f"https://forklift:{SENTINEL}@127.0.0.1:{hanging_hub}/kojihub", missing, pki.ca)
    for args in (["koji-status", "7"], ["koji-tag", "f45", "--nvr", "x-1-1"]):
        rc, out, err, took = invoke(*args, "--profile", PROFILE, home=home)
        line = one_error(err)
        assert rc == 1 and f"cert = {missing} does not exist" in line and took < 20
        assert SENTINEL not in out + err


def test_unknown_package_hint(matrix: Matrix, tmp_path: Path, profile: str, console: Console,
                              make_srpms: Callable[..., Path]) -> None:
    make_srpms(tmp_path / "build", "kt-base")
    with pytest.raises(ForkliftError) as err:
        build(matrix, tmp_path / "build", profile, console, "moby-engine-dm", "kt-base")
    assert err.value.hint == f"run `invoke srpm --target {TARGET} --package moby-engine-dm` first"


def test_retry_policy_from_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki: Pki) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    write_profile(home, "https://127.0.0.1:1/kojihub", pki.client["alice"], pki.ca)
    assert load_profile(PROFILE).retry_policy() == RetryPolicy()  # koji's 12-hour default is not taken
    config = home / ".koji" / "config"
    config.write_text(config.read_text() + "timeout = 20\n")
    policy = load_profile(PROFILE).retry_policy()
    assert (policy.timeout, policy.deadline) == (20, 60)
    config.write_text(config.read_text().replace("timeout = 20", "timeout = 0"))
    with pytest.raises(ForkliftError, match=r"timeout = 0 is not a positive number"):
        load_profile(PROFILE)
    config.write_text(config.read_text().replace("timeout = 0", "timeout = soon"))
    with pytest.raises(ForkliftError, match=r"value for timeout config option must be a valid integer") as err:
        load_profile(PROFILE)
    assert "fix that value in section forklift-test" in str(err.value.hint)
