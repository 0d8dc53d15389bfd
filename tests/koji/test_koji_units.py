"""The pure parts: retry schedule, permission names, which log explains a failure, the dry-run plan."""

from __future__ import annotations

from pathlib import Path

import koji
import pytest
import requests

from tooling.builds.plan import SrpmInfo
from tooling.koji.calls import plan_build, plan_tag
from tooling.koji.download import pick_log
from tooling.koji.session import (
    BUILD_FROM_SRPM_HINT,
    Profile,
    RetryPolicy,
    describe,
    is_transient,
    missing_permission,
    permission_hint,
)


def test_retry_schedule_doubles_up_to_the_cap() -> None:
    assert list(RetryPolicy(attempts=6, first_delay=1, max_delay=5).delays()) == [1, 2, 4, 5, 5]
    assert list(RetryPolicy(attempts=1).delays()) == []


def test_what_is_transient() -> None:
    resp = requests.Response()
    resp.status_code = 503
    assert is_transient(requests.HTTPError(response=resp))
    resp404 = requests.Response()
    resp404.status_code = 404
    assert not is_transient(requests.HTTPError(response=resp404))
    assert is_transient(requests.ConnectionError("reset"))
    assert is_transient(koji.Fault(koji.ServerOffline.faultCode, "offline"))
    assert not is_transient(koji.Fault(koji.AuthError.faultCode, "no"))
    assert not is_transient(requests.exceptions.SSLError("bad cert"))


def test_describe_masks_session_values() -> None:
    text = describe(requests.ConnectionError("https://hub/kojihub?session-id=123&session-key=99-abcDEF&callnum=3"))
    assert "abcDEF" not in text and "123" not in text and "session-key=XXXXX" in text


@pytest.mark.parametrize(("message", "hint"), [
    ("admin permission required", "your koji account (alice) needs the 'admin' permission; ask the hub's admins"),
    ("tag requires admin permission", "your koji account (alice) needs the 'admin' permission; ask the hub's admins"),
    ("policy violation (tag)", "the hub's 'tag' policy refused it for your koji account (alice); ask the hub's admins"),
    ("policy violation (build_from_srpm)", BUILD_FROM_SRPM_HINT),
    ("tag f45 is locked", "the hub said: 'tag f45 is locked'; ask the hub's admins"),
])
def test_permission_hint(message: str, hint: str) -> None:
    assert permission_hint(message, "alice") == hint


def test_missing_permission() -> None:
    assert missing_permission("tag requires admin permission") == "admin"
    assert missing_permission("repo permission required") == "repo"
    assert missing_permission("something else") is None


def test_pick_log() -> None:
    sizes = {"build.log": 10, "root.log": 10, "state.log": 1}
    assert pick_log(sizes, {"root.log": "No matching package to install: 'x'"}) == "root.log"
    assert pick_log(sizes, {"root.log": "all fine"}) == "build.log"
    assert pick_log({"root.log": 3}) == "root.log"
    assert pick_log({"x.rpm": 3}) is None


def _info(name: str) -> SrpmInfo:
    return SrpmInfo(name, None, "1", "1", "src", f"{name}-1-1", (name,), (), Path(f"/s/{name}-1-1.src.rpm"))


def _profile(authtype: str) -> Profile:
    return Profile("p", "https://hub/kojihub", "https://hub/koji", None, authtype, 2.0,
                   {"cert": "/home/u/.koji/client.crt", "serverca": "/ca.crt", "principal": None, "keytab": None})


def test_plan_build_orders_layers_and_waits_between() -> None:
    calls = [c.text() for c in plan_build(_profile("ssl"), "f45", [[_info("a")], [_info("b")]], upload_dir="cli/x",
                                          scratch=False, nowait=False, results_dir=Path("/r"), repo_dir=Path("/repo"))]
    text = "\n".join(calls)
    assert calls[0].startswith("ssl_login(cert='/home/u/.koji/client.crt'")
    assert calls[1].startswith("getBuildTarget('f45')")
    assert text.index("build('cli/x/a-1-1.src.rpm', 'f45', {}") < text.index("repo.request") \
        < text.index("build('cli/x/b-1-1.src.rpm'")
    assert "every 2 s" in text and calls[-1] == "logout()"


def test_plan_nowait_and_tag() -> None:
    calls = [c.method for c in plan_build(_profile("gssapi"), "f45", [[_info("a")]], upload_dir="u", scratch=True,
                                          nowait=True, results_dir=Path("/r"), repo_dir=Path("/repo"))]
    assert calls == ["gssapi_login", "getBuildTarget", "uploadWrapper", "build", "logout"]
    assert [c.method for c in plan_tag(_profile("ssl"), "t", ["a-1-1", "b-1-1"])] == [
        "ssl_login", "getTag", "getBuild", "getBuild", "tagBuild", "tagBuild", "multiCall", "logout"]
