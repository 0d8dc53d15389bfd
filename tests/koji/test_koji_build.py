"""koji-build, koji-status and koji-tag through the real koji library against the fake hub."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.koji.conftest import TARGET, console_text
from tests.koji.fakehub import FakeHub, taskrelpath
from tooling.errors import ForkliftError
from tooling.koji import api
from tooling.koji.session import RetryPolicy
from tooling.model import Matrix

FAST = RetryPolicy(attempts=4, first_delay=0.01, max_delay=0.05)
POLL = 0.05


def build(matrix: Matrix, build_dir: Path, profile: str, console: Console, *packages: str,
          scratch: bool = True, dry_run: bool = False, target: str = TARGET, nowait: bool = False) -> None:
    api.koji_build(matrix, target, list(packages), scratch=scratch, nowait=nowait, profile=profile,
                   dry_run=dry_run, build_dir=build_dir, poll_interval=POLL, retry=FAST, console=console)


def real_builds_allowed(hub: FakeHub, *packages: str) -> None:
    """A hub configured as a private one: non-scratch builds from SRPMs allowed, packages on f45's list."""
    hub.srpm_policy = "allow"
    hub.add_packages("f45", *packages)


def methods(hub: FakeHub) -> list[str]:
    return [c[0] for c in hub.calls]


def secrets_absent(hub: FakeHub, *texts: str) -> None:
    assert hub.issued_keys, "the hub issued no session key: nothing was checked"
    for key in hub.issued_keys:
        for text in texts:
            assert key not in text


def test_scratch_build_success(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str, console: Console,
                               make_srpms: Callable[..., Path], caplog: pytest.LogCaptureFixture,
                               capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    build(matrix, build_dir, profile, console, "kt-base")

    out = console_text(console)
    result = build_dir / "results" / TARGET / "kt-base"
    names = sorted(p.name for p in result.iterdir())
    assert "kt-base-1.0-1.noarch.rpm" in names and "kt-base-devel-1.0-1.noarch.rpm" in names
    assert {"build.log", "root.log", "state.log", "result.json"} <= set(names)
    assert "building kt-base" in (result / "build.log").read_text()
    meta = json.loads((result / "result.json").read_text())
    assert meta["builder"] == "koji" and meta["nvr"] == "kt-base-1.0-1" and meta["scratch"] is True
    assert (build_dir / "repos" / TARGET / "repodata" / "repomd.xml").is_file()
    # live progress: the parent and its buildArch child with states and hosts
    assert "buildArch" in out and "CLOSED" in out and "on builder-02" in out and "OPEN" in out
    # on the wire: target checked before anything is uploaded; options as keyword struct; callnums increase
    ms = methods(hub)
    assert ms.index("getBuildTarget") < ms.index("rawUpload") < ms.index("build")
    build_call = next(c for c in hub.calls if c[0] == "build")
    assert build_call[1][1] == "f45" and build_call[1][2] == {"scratch": True}
    assert build_call[2] == {"priority": None}  # arrived in the __starstar struct
    callnums = [int(line.split("koji-session-callnum=")[1].split()[0])
                for line in hub.transport_log if "koji-session-callnum=" in line]
    assert callnums == sorted(callnums) and len(set(callnums)) == len(callnums) > 3
    captured = capsys.readouterr()
    secrets_absent(hub, out, caplog.text, captured.out, captured.err)


def test_build_failure_quotes_build_log(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                        console: Console, make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-broken")
    with pytest.raises(ForkliftError) as err:
        build(matrix, build_dir, profile, console, "kt-broken")
    msg = str(err.value)
    assert "build.log" in msg and "expected ';' before '}' token" in msg
    assert "Bad exit status" in msg  # rpmbuild's own last lines, quoted
    assert "mock exited with status 1;" in msg  # the hub's fault for the buildArch task (mock 6: rpmbuild's status)
    assert "https://koji.example.org/koji/taskinfo?taskID=" in str(err.value.hint)
    assert not (build_dir / "results" / TARGET / "kt-broken").exists()

    # koji-status on the failed task shows the tree and the same log tail
    task_id = next(t.id for t in hub.tasks.values() if t.method == "build")
    status_console = Console(file=io.StringIO(), width=200)
    api.koji_status(str(task_id), profile=profile, retry=FAST, console=status_console)  # as invoke passes it
    status = console_text(status_console)
    assert "FAILED" in status and "buildArch" in status and "expected ';' before '}' token" in status


def test_missing_buildrequires_quotes_root_log(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                               console: Console, make_srpms: Callable[..., Path]) -> None:
    """kt-app alone: kt-base-devel is not in the buildroot repo; root.log says so."""
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-app")
    with pytest.raises(ForkliftError) as err:
        build(matrix, build_dir, profile, console, "kt-app")
    assert "root.log" in str(err.value) and "No matching package to install: 'kt-base-devel'" in str(err.value)


def test_two_layers_wait_for_the_repo(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                      console: Console, make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base", "kt-app")
    real_builds_allowed(hub, "kt-base", "kt-app")
    build(matrix, build_dir, profile, console, scratch=False)

    out = console_text(console)
    assert "layer 1/2" in out and "layer 2/2" in out
    ms = methods(hub)
    # the second build was submitted only after a repo request saw kt-base
    builds = [i for i, m in enumerate(ms) if m == "build"]
    assert len(builds) == 2 and "repo.request" in ms[builds[0]:builds[1]]
    app_task = next(t for t in hub.tasks.values() if t.method == "buildArch" and "kt-app" in t.request[0])
    root_log = (hub.workdir / taskrelpath(app_task.id) / "root.log").read_text()
    assert "installed: kt-base-devel" in root_log
    assert {b.nvr for b in hub.builds.values()} == {"kt-base-1.0-1", "kt-app-2.0-1"}
    results = build_dir / "results" / TARGET
    assert (results / "kt-app" / "kt-app-2.0-1.noarch.rpm").is_file()
    assert (results / "kt-base" / "kt-base-devel-1.0-1.noarch.rpm").is_file()
    repo_rpms = {p.name for p in (build_dir / "repos" / TARGET).rglob("*.rpm")}
    assert {"kt-app-2.0-1.noarch.rpm", "kt-base-1.0-1.noarch.rpm"} <= repo_rpms


def test_a_placeholder_url_is_refused_for_a_real_build_before_any_call(
        matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str, console: Console,
        make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base", "kt-home")
    real_builds_allowed(hub, "kt-base", "kt-home")
    with pytest.raises(ForkliftError, match=r"^koji-build of fedora-45 \(not --scratch\): kt-home-1\.0-1\.src\.rpm: "
                                            r"URL 'https://forklift\.example\.org/kt-home' is a placeholder "
                                            r"\(example\.org is a reserved domain\)\n") as err:
        build(matrix, build_dir, profile, console, scratch=False)
    assert "home" in str(err.value.hint) and "scratch" in str(err.value.hint)
    assert hub.calls == [] and hub.builds == {}
    # a scratch build of the same SRPMs is what placeholders are for
    build(matrix, build_dir, profile, console, "kt-home", scratch=True)
    assert [t.method for t in hub.tasks.values() if t.method == "build"] == ["build"]


def test_scratch_with_layers_is_refused_before_any_call(matrix: Matrix, tmp_path: Path, hub: FakeHub,
                                                        profile: str, console: Console,
                                                        make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base", "kt-app")
    with pytest.raises(ForkliftError, match="scratch builds never reach the buildroot"):
        build(matrix, build_dir, profile, console, scratch=True)
    assert hub.calls == [] and hub.transport_log == []


def test_transient_faults_are_retried(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                      console: Console, make_srpms: Callable[..., Path],
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    hub.inject("getBuildTarget", "reset")
    hub.inject("getBuildTarget", "reset")
    hub.inject("build", "http503")
    hub.inject("multiCall", "offline")
    build(matrix, build_dir, profile, console, "kt-base")

    assert hub.injections == []  # every fault was served
    assert methods(hub).count("build") == 1  # the 503 did not create a second task
    assert len([t for t in hub.tasks.values() if t.method == "build"]) == 1
    assert "503" in caplog.text and "database outage" in caplog.text and "Connection aborted" in caplog.text
    assert (build_dir / "results" / TARGET / "kt-base" / "kt-base-1.0-1.noarch.rpm").is_file()
    secrets_absent(hub, caplog.text, console_text(console))


def test_transient_retries_are_bounded(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                       console: Console, make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    hub.inject("getBuildTarget", "http503", count=20)
    with pytest.raises(ForkliftError, match="kept failing") as err:
        build(matrix, build_dir, profile, console, "kt-base")
    assert f"after {FAST.attempts} attempts" in str(err.value)
    sent = [line for line in hub.transport_log if "content-type=text/xml" in line]
    assert len(hub.injections) == 20 - FAST.attempts  # exactly `attempts` tries reached the hub
    assert "rawUpload" not in methods(hub) and sent


def test_unknown_target_stops_before_upload(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                            console: Console, make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    out = make_srpms(build_dir, "kt-base")
    (build_dir / "srpms" / "fedora-44").mkdir(parents=True)
    for srpm in out.iterdir():
        (build_dir / "srpms" / "fedora-44" / srpm.name).write_bytes(srpm.read_bytes())
    with pytest.raises(ForkliftError, match=r"'f44'.*does not exist"):
        build(matrix, build_dir, profile, console, "kt-base", target="fedora-44")
    assert "getBuildTarget" in methods(hub) and "rawUpload" not in methods(hub) and "build" not in methods(hub)


def test_no_srpms_tells_to_run_srpm(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                    console: Console, make_srpms: Callable[..., Path]) -> None:
    with pytest.raises(ForkliftError) as err:
        build(matrix, tmp_path / "build", profile, console, "kt-base")
    assert f"invoke srpm --target {TARGET}" in str(err.value)
    make_srpms(tmp_path / "build", "kt-base")
    with pytest.raises(ForkliftError, match=r"no SRPM for package\(s\) docker-cli in ") as err2:
        build(matrix, tmp_path / "build", profile, console, "docker-cli")
    assert err2.value.hint == f"run `invoke srpm --target {TARGET} --package docker-cli` first"
    # a misspelt package is not a missing SRPM: the message names it and lists what exists
    with pytest.raises(ForkliftError, match=r"unknown package\(s\) dokcer-cli: no such directory under specs/") as err3:
        build(matrix, tmp_path / "build", profile, console, "dokcer-cli")
    assert "docker-cli" in str(err3.value.hint) and "kt-base" in str(err3.value.hint)
    assert hub.calls == []


def test_dry_run_makes_no_calls(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str, console: Console,
                                make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base", "kt-app")
    build(matrix, build_dir, profile, console, scratch=False, dry_run=True)
    api.koji_tag("f45-testing", ["kt-base-1.0-1"], profile=profile, dry_run=True, console=console)
    out = console_text(console)
    assert hub.calls == [] and hub.transport_log == []
    assert "getBuildTarget('f45')" in out and "ssl_login(" in out
    assert out.index("kt-base-1.0-1") < out.index("repo.request") < out.index("layer 2: kt-app-2.0-1")
    assert "uploadWrapper(" in out and "build('cli-build/" in out
    assert "tagBuild('f45-testing', 'kt-base-1.0-1')" in out
    assert not (build_dir / "results").exists()


def test_nowait_submits_and_returns(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                    console: Console, make_srpms: Callable[..., Path]) -> None:
    build_dir = tmp_path / "build"
    make_srpms(build_dir, "kt-base")
    build(matrix, build_dir, profile, console, "kt-base", nowait=True)
    assert methods(hub).count("build") == 1 and "multiCall" not in methods(hub)
    task_id = next(t.id for t in hub.tasks.values() if t.method == "build")
    assert f"koji-status TASK_ID`: {task_id}" in console_text(console)


@pytest.mark.parametrize("kind", ["lost-reply", "reset"])
def test_lost_reply_to_build_is_not_submitted_twice(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                                    console: Console, make_srpms: Callable[..., Path],
                                                    caplog: pytest.LogCaptureFixture, kind: str) -> None:
    """lost-reply: the hub ran build() but the reply never came. The hub (like koji 1.35) would run a
    re-sent request again, so Forklift finds the task with listTasks and uses it. reset: the request
    never reached the hub; listTasks finds nothing and build() is sent again. One task either way."""
    caplog.set_level(logging.WARNING)
    make_srpms(tmp_path / "build", "kt-base")
    hub.inject("build", kind)
    build(matrix, tmp_path / "build", profile, console, "kt-base")
    build_tasks = [t for t in hub.tasks.values() if t.method == "build"]
    assert len(build_tasks) == 1 and build_tasks[0].state == 2  # CLOSED
    ms = methods(hub)
    assert "listTasks" in ms
    assert ms.count("build") == 1  # the hub ran build() once: lost-reply never re-sent, reset re-sent once
    listed = next(c for c in hub.calls if c[0] == "listTasks")[2]["opts"]
    assert listed["method"] == "build" and listed["owner"] == hub.users["alice"] and listed["decode"] is True
    if kind == "lost-reply":
        assert f"had created task {build_tasks[0].id}; using it" in caplog.text
    assert (tmp_path / "build" / "results" / TARGET / "kt-base" / "kt-base-1.0-1.noarch.rpm").is_file()
    assert f"submitted kt-base-1.0-1: task {build_tasks[0].id}" in console_text(console)


def test_the_hub_runs_a_replayed_build_again(hub: FakeHub, profile: str) -> None:
    """What makes the check above necessary, as on a koji 1.35 hub: no call-number replay protection.
    The same request (same Koji-Session-Callnum) sent twice creates two tasks."""
    import koji

    from tooling.koji.session import Hub, load_profile

    client = Hub(load_profile(profile), retry=FAST)
    client.login()
    handler, headers, request = client.session._prepCall("build", ["cli-build/x/kt.src.rpm", "f45", {}])
    first = client.session._sendOneCall(handler, headers, request)
    second = client.session._sendOneCall(handler, headers, request)
    assert isinstance(first, int) and second == first + 1
    assert [t.method for t in hub.tasks.values()].count("build") == 2
    # build() with a missing upload or an unknown target returns a task id: the task fails later
    bad = client.session.build("cli-build/none/nope.src.rpm", "no-such-target", {})
    assert isinstance(bad, int)
    with pytest.raises(koji.GenericError, match="No such build target: no-such-target"):
        _wait_result(client, bad)
    with pytest.raises(koji.GenericError, match="No such file"):
        _wait_result(client, first)
    client.logout()


def _wait_result(client: Any, task_id: int) -> Any:
    import time

    for _ in range(200):
        if client.session.getTaskInfo(task_id)["state"] in (2, 3, 5):
            return client.session.getTaskResult(task_id)
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} did not finish")


def test_live_table_on_a_terminal(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                  make_srpms: Callable[..., Path]) -> None:
    term = Console(file=io.StringIO(), width=160, force_terminal=True, color_system="standard")
    make_srpms(tmp_path / "build", "kt-base")
    build(matrix, tmp_path / "build", profile, term, "kt-base")
    out = console_text(term)
    assert "koji tasks" in out and "builder-02" in out and "\x1b[" in out  # the live table was drawn


def test_status_of_an_unknown_task(hub: FakeHub, profile: str, console: Console) -> None:
    with pytest.raises(ForkliftError, match="koji task 999999 does not exist"):
        api.koji_status(999999, profile=profile, retry=FAST, console=console)
    assert "getTaskInfo" in methods(hub) and hub.sessions == {}  # read-only: no login
