"""The SCM path end to end: `invoke dist-git --push` into bare repositories and a lookaside on
127.0.0.1, then `koji-build --scm`: the fake hub clones each package at the pushed commit, fetches
the tarball from the lookaside by hash, builds the SRPM (buildSRPMFromSCM), then the RPMs, in
dependency layers with the wait for the buildroot repo between them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.distgit.conftest import TARGET, DistGit, distgit_env, lookaside  # noqa: F401  (fixtures)
from tests.distgit.lookaside import Lookaside
from tests.koji.conftest import console_text
from tests.koji.fakehub import CLOSED, FakeHub, taskrelpath
from tests.koji.test_koji_build import FAST, POLL, methods
from tooling import srpm
from tooling.distgit import dist_git
from tooling.errors import ForkliftError
from tooling.koji import api


def push_and_srpms(env: DistGit, cache: Lookaside, hub: FakeHub) -> dict[str, str]:
    quiet = Console(file=io.StringIO())
    pushed = dist_git(env.matrix, TARGET, [], repo=str(env.base), push=True, build_dir=env.build_dir,
                      lookaside=cache.url, cache_dir=env.cache_dir, offline=True, console=quiet)
    # the local SRPMs of the same render give the dependency layers
    srpm.build_srpms(env.matrix, [TARGET], [], build_dir=env.build_dir, offline=True, cache_dir=env.cache_dir,
                     mirrors=[])
    hub.lookaside = cache.url
    hub.add_packages("f45", "dg-base", "dg-app")
    return pushed


def scm_build(env: DistGit, profile: str, console: Console, *, dry_run: bool = False) -> None:
    api.koji_build(env.matrix, TARGET, [], scratch=False, nowait=False, profile=profile, dry_run=dry_run,
                   build_dir=env.build_dir, scm=str(env.base), poll_interval=POLL, retry=FAST, console=console)


def test_build_from_dist_git_in_layers(distgit_env: DistGit, lookaside: Lookaside, hub: FakeHub,  # noqa: F811
                                       profile: str, console: Console) -> None:
    env = distgit_env
    pushed = push_and_srpms(env, lookaside, hub)
    assert hub.srpm_policy == "admin" and "alice" not in hub.admins  # a default hub: SCM builds are allowed

    scm_build(env, profile, console, dry_run=True)
    plan = console_text(console)
    assert f"build({pushed['dg-base']!r}, 'f45', {{}}" in plan and "uploadWrapper" not in plan
    assert hub.calls == []

    scm_build(env, profile, console)
    roots = sorted((t for t in hub.tasks.values() if t.method == "build"), key=lambda t: t.id)
    assert [t.request[0] for t in roots] == [pushed["dg-base"], pushed["dg-app"]]
    assert pushed["dg-base"] == f"git+{env.bare('dg-base').resolve().as_uri()}#{env.head('dg-base')}"
    for root in roots:
        kids = [(t.method, t.label) for t in sorted(hub.tasks.values(), key=lambda t: t.id) if t.parent == root.id]
        assert kids == [("waitrepo", None), ("buildSRPMFromSCM", "srpm"), ("buildArch", "noarch"),
                        ("tagBuild", None)]
        assert root.state == CLOSED
    srpm_task = next(t for t in hub.tasks.values() if t.method == "buildSRPMFromSCM" and t.parent == roots[1].id)
    checkout_log = (hub.workdir / taskrelpath(srpm_task.id) / "checkout.log").read_text()
    assert f"reset -q --hard {env.head('dg-app')}" in checkout_log and "Downloading dg-app-1.0.tar.gz: ok" in checkout_log
    assert sorted(p.split("/")[-1] for p in lookaside.downloads) == ["dg-app-1.0.tar.gz", "dg-base-1.0.tar.gz"]
    # layers: dg-app (BuildRequires dg-base-devel) only after the buildroot repo had dg-base
    ms = methods(hub)
    builds = [i for i, m in enumerate(ms) if m == "build"]
    assert "repo.request" in ms[builds[0]:builds[1]]
    assert {b.nvr for b in hub.builds.values()} == {"dg-base-1.0-1.fc45", "dg-app-1.0-1.fc45"}
    results = env.build_dir / "results" / TARGET
    assert (results / "dg-app" / "dg-app-1.0-1.fc45.noarch.rpm").is_file()
    assert (results / "dg-base" / "dg-base-devel-1.0-1.fc45.noarch.rpm").is_file()
    assert "building dg-app-1.0-1.fc45 from git+file://" in console_text(console)


def test_scm_build_without_the_tarball_in_the_lookaside(distgit_env: DistGit, lookaside: Lookaside,  # noqa: F811
                                                        hub: FakeHub, profile: str, console: Console) -> None:
    env = distgit_env
    push_and_srpms(env, lookaside, hub)
    for f in (lookaside.root / "rpms" / "dg-base").rglob("*.tar.gz"):
        if f.is_file():
            f.unlink()
    with pytest.raises(ForkliftError) as err:
        api.koji_build(env.matrix, TARGET, ["dg-base"], scratch=True, nowait=False, profile=profile, dry_run=False,
                       build_dir=env.build_dir, scm=str(env.base), poll_interval=POLL, retry=FAST, console=console)
    msg = str(err.value)
    assert 'buildSRPMFromSCM' in msg and '"fedpkg sources", see checkout.log' in msg
    assert "last lines of checkout.log" in msg and "dg-base-1.0.tar.gz" in msg and "404" in msg


def test_scm_build_needs_the_pushed_branch(distgit_env: DistGit, hub: FakeHub, profile: str,  # noqa: F811
                                           console: Console) -> None:
    env = distgit_env
    srpm.build_srpms(env.matrix, [TARGET], ["dg-base"], build_dir=env.build_dir, offline=True,
                     cache_dir=env.cache_dir, mirrors=[])
    import subprocess

    subprocess.run(["git", "branch", "-q", "-D", "f45"], cwd=env.bare("dg-base"), check=True)
    with pytest.raises(ForkliftError, match=r"has no branch f45 \(the distgit_branch of fedora-45\)") as err:
        api.koji_build(env.matrix, TARGET, ["dg-base"], scratch=True, nowait=False, profile=profile, dry_run=False,
                       build_dir=env.build_dir, scm=str(env.base), poll_interval=POLL, retry=FAST, console=console)
    assert "invoke dist-git -t fedora-45 -p dg-base" in str(err.value.hint)
    assert hub.calls == []
    assert not Path(env.build_dir / "results").exists()
