"""Login, re-login, permissions and tagging through the real koji library against the fake hub."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from tests.koji.conftest import PROFILE, TARGET, Pki, console_text, write_profile
from tests.koji.fakehub import FakeHub, RunningHub
from tests.koji.test_koji_build import FAST, POLL, build, methods, real_builds_allowed, secrets_absent
from tooling.errors import ForkliftError
from tooling.koji import api
from tooling.koji.session import Hub, load_profile
from tooling.model import Matrix


def test_blocked_user_gets_a_clear_login_error(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                               console: Console, make_srpms: Callable[..., Path]) -> None:
    make_srpms(tmp_path / "build", "kt-base")
    hub.blocked_users.add("alice")
    with pytest.raises(ForkliftError) as err:
        build(matrix, tmp_path / "build", profile, console, "kt-base")
    msg = str(err.value)
    assert "koji login" in msg and f"profile {PROFILE!r}" in msg and "logins by alice are not allowed" in msg
    assert "cert=" in str(err.value.hint)
    assert "rawUpload" not in methods(hub) and "build" not in methods(hub)


def test_certificate_from_another_ca_is_refused(tmp_path: Path, running_hub: RunningHub, pki: Pki,
                                                monkeypatch: pytest.MonkeyPatch,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.koji.conftest import _pki

    other = _pki(tmp_path_factory.mktemp("other-pki"))
    home = tmp_path / "home2"
    monkeypatch.setenv("HOME", str(home))
    write_profile(home, running_hub.url, other.client["alice"], pki.ca)
    hub = Hub(load_profile(PROFILE), retry=FAST)
    with pytest.raises(ForkliftError, match=r"refused the client certificate in cert = .*other-pki") as err:
        hub.login()
    assert "renew it" in str(err.value.hint)
    assert running_hub.hub.sessions == {}


def test_lost_session_logs_in_again_once(hub: FakeHub, profile: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = Hub(load_profile(profile), retry=FAST)
    client.login()
    hub.sessions.clear()  # the hub forgot us: AuthError on the next call
    assert client.call("getLoggedInUser")["name"] == "alice"
    assert len(hub.sessions) == 1 and "logging in again" in caplog.text
    # forgotten again and the login is now refused: one more login attempt, then a clear error
    hub.sessions.clear()
    hub.blocked_users.add("alice")
    with pytest.raises(ForkliftError, match=r"koji login .* failed"):
        client.call("getLoggedInUser")
    secrets_absent(hub, caplog.text)


def test_expired_session_is_renewed(matrix: Matrix, tmp_path: Path, hub: FakeHub, profile: str,
                                    console: Console, make_srpms: Callable[..., Path]) -> None:
    make_srpms(tmp_path / "build", "kt-base")
    hub.expire_after = 6  # every session expires after 6 calls (AuthExpired); koji renews it
    build(matrix, tmp_path / "build", profile, console, "kt-base")
    assert len(hub.sessions) > 1  # renewed at least once
    assert (tmp_path / "build" / "results" / TARGET / "kt-base" / "kt-base-1.0-1.noarch.rpm").is_file()


def test_session_that_keeps_expiring_is_a_clear_error(hub: FakeHub, profile: str) -> None:
    client = Hub(load_profile(profile), retry=FAST)
    client.login()
    hub.expire_after = 0
    with pytest.raises(ForkliftError, match=r"rejected the session .* even after logging in again"):
        client.call("getBuildTarget", "f45")


def test_tagging_locks_permissions_policies_and_package_lists(matrix: Matrix, tmp_path: Path, hub: FakeHub,
                                                              profile: str, console: Console,
                                                              make_srpms: Callable[..., Path]) -> None:
    make_srpms(tmp_path / "build", "kt-base")
    real_builds_allowed(hub, "kt-base")
    build(matrix, tmp_path / "build", profile, console, "kt-base", scratch=False)
    hub.add_target("f45-testing-target", build_tag="f45-testing-build", dest_tag="f45-testing")

    def tag() -> None:
        api.koji_tag("f45-testing", ["kt-base-1.0-1"], profile=profile, dry_run=False, poll_interval=POLL,
                     retry=FAST, console=console)

    # the package list is enforced (koji's TagError)
    with pytest.raises(ForkliftError, match="Package kt-base not in list for f45-testing"):
        tag()
    hub.add_packages("f45-testing", "kt-base")
    # a tag that needs a permission: the hint names it, not the whole sentence
    testing = next(t for t in hub.tags.values() if t.name == "f45-testing")
    testing.perm = "admin"
    with pytest.raises(ForkliftError) as err:
        tag()
    assert "tag requires admin permission" in str(err.value)
    assert err.value.hint == "your koji account (alice) needs the 'admin' permission; ask the hub's admins"
    # a tag policy that refuses: the hint names the policy
    testing.perm = None
    hub.policies["tag"] = False
    with pytest.raises(ForkliftError) as err:
        tag()
    assert "policy violation (tag)" in str(err.value) and "the hub's 'tag' policy refused it" in str(err.value.hint)
    # no tag policy (koji's default) and no lock: tagging works
    del hub.policies["tag"]
    tag()
    tagged = hub.m_listTagged(None, "f45-testing")
    assert [b["nvr"] for b in tagged] == ["kt-base-1.0-1"]
    assert "tagBuild" in console_text(console) and "CLOSED" in console_text(console)

    with pytest.raises(ForkliftError, match="No such build: 'nope-1-1'"):
        api.koji_tag("f45-testing", ["nope-1-1"], profile=profile, dry_run=False, poll_interval=POLL,
                     retry=FAST, console=console)


def test_missing_profile_names_the_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ForkliftError, match="no-such-profile") as err:
        api.koji_status(1, profile="no-such-profile")
    assert "~/.koji/config" in str(err.value.hint)


def test_gssapi_without_a_ticket_is_a_clear_error(tmp_path: Path, running_hub: RunningHub, pki: Pki,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("requests_gssapi", reason="gssapi login needs requests-gssapi")
    home = tmp_path / "home3"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'no-ccache'}")
    (home / ".koji").mkdir(parents=True)
    (home / ".koji" / "config").write_text(
        f"[{PROFILE}]\nserver = {running_hub.url}\nauthtype = gssapi\nserverca = {pki.ca}\n")
    hub = Hub(load_profile(PROFILE), retry=FAST)
    with pytest.raises(ForkliftError, match="authtype gssapi") as err:
        hub.login()
    assert "kinit" in str(err.value.hint)
    assert running_hub.hub.sessions == {}
    assert any(line.startswith("POST /kojihub/ssllogin") for line in running_hub.hub.transport_log)
