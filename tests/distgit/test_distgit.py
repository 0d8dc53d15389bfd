"""`invoke dist-git`: rendered specs into dist-git (local bare repositories), tarballs into a
lookaside on 127.0.0.1 with fedpkg's upload protocol; real git throughout."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from tests.distgit.conftest import BRANCH, PACKAGES, TARGET, DistGit, git
from tests.distgit.lookaside import Lookaside
from tooling import REPO_ROOT
from tooling.distgit import dist_git, package_repo
from tooling.errors import ForkliftError


def run(env: DistGit, *, push: bool, lookaside: Lookaside | None = None, packages: tuple[str, ...] = (),
        repo: str | None = None) -> tuple[dict[str, str], str]:
    out = Console(file=io.StringIO(), width=200, highlight=False)
    result = dist_git(env.matrix, TARGET, list(packages), repo=repo or str(env.base), push=push,
                      build_dir=env.build_dir, lookaside=lookaside.url if lookaside else None,
                      cache_dir=env.cache_dir, offline=True, console=out)
    file = out.file
    assert isinstance(file, io.StringIO)
    return result, file.getvalue()


def test_commit_and_push_with_the_lookaside(distgit_env: DistGit, lookaside: Lookaside) -> None:
    env = distgit_env
    before = {p: env.head(p) for p in PACKAGES}
    result, out = run(env, push=True, lookaside=lookaside)

    for name in PACKAGES:
        head = env.head(name)
        assert head != before[name]
        assert result[name] == f"git+{env.bare(name).resolve().as_uri()}#{head}"
        spec = env.show(name, f"{name}.spec")
        assert f"Name:           {name}" in spec and "Release:        1%{?dist}" in spec
        assert spec.rstrip().endswith("with its tarball in the lookaside")  # the changelog, rendered
        assert env.show(name, "sources") == (env.specs / name / "sources").read_text().strip()
        assert f"/{name}-1.0.tar.gz" in env.show(name, ".gitignore")
        assert env.show(name, "README.md") == f"# {name}"  # files Forklift does not own stay
        # the commit: subject from the changelog entry, its author
        log = git("log", "-1", "--format=%an <%ae>%n%s%n%b", BRANCH, cwd=env.bare(name))
        assert log.startswith(f"Dist Git Tester <dg@forklift.internal>\nFirst dist-git build of {name}, from Forklift's")
        assert f"{name} 1.0-1 (f45), rendered by Forklift for fedora-45" in log
        # the tarball is in the lookaside where fedpkg (and koji) look for it
        digest = env.show(name, "sources").split(" = ")[1]
        stored = lookaside.path(name, f"{name}-1.0.tar.gz", "sha512", digest)
        assert stored.is_file()
    assert env.show("dg-app", "readme.patch").startswith("--- a/README")
    assert sorted(lookaside.uploads) == sorted((n, f"{n}-1.0.tar.gz") for n in PACKAGES)
    # the diff is shown before the commit
    assert out.index("+Name:           dg-base") < out.index("dg-base: pushed")
    assert "lookaside: uploaded dg-base-1.0.tar.gz" in out

    # again: nothing to commit, nothing to upload, same commits
    heads = {p: env.head(p) for p in PACKAGES}
    result2, out2 = run(env, push=True, lookaside=lookaside)
    assert result2["dg-base"].endswith(heads["dg-base"])
    assert {p: env.head(p) for p in PACKAGES} == heads
    assert "is up to date" in out2 and "lookaside: dg-base-1.0.tar.gz is there already" in out2
    assert len(lookaside.uploads) == 2

    # a new release: one more commit; the patch dropped from package.toml leaves dist-git too
    toml = env.specs / "dg-app" / "package.toml"
    toml.write_text(toml.read_text().replace("release = 1", "release = 2").replace(
        '\n[[patches]]\nfile = "readme.patch"\n', ""))
    log_file = env.specs / "dg-app" / "changelog"
    log_file.write_text("* Wed Nov 25 2026 Dist Git Tester <dg@forklift.internal> - 1.0-2\n- Drop the README patch\n\n"
                        + log_file.read_text())
    spec_j2 = env.specs / "dg-app" / "dg-app.spec.j2"
    spec_j2.write_text(spec_j2.read_text().replace("grep -q patched README", "true"))
    env.reload()
    run(env, push=True, lookaside=lookaside, packages=("dg-app",))
    assert git("log", "-1", "--format=%s", BRANCH, cwd=env.bare("dg-app")) == "Drop the README patch"
    assert "readme.patch" not in git("ls-tree", "--name-only", BRANCH, cwd=env.bare("dg-app"))
    assert env.head("dg-base") == heads["dg-base"]


def test_without_push_only_the_local_checkout_moves(distgit_env: DistGit, lookaside: Lookaside) -> None:
    env = distgit_env
    before = env.head("dg-base")
    result, out = run(env, push=False, packages=("dg-base",))
    assert "dg-base: changes for f45" in out
    assert env.head("dg-base") == before  # nothing pushed
    clone = env.build_dir / "dist-git" / "dg-base"
    local = git("rev-parse", BRANCH, cwd=clone)
    assert local != before and result["dg-base"].endswith("#" + local)
    assert git("status", "--porcelain", cwd=clone) == ""
    # the next run with --push pushes the commit made before (the checkout is ahead: fine)
    _, out2 = run(env, push=True, packages=("dg-base",), lookaside=lookaside)
    assert env.head("dg-base") == local and "is up to date" in out2


def test_dirty_checkout_stops_before_writing(distgit_env: DistGit, tmp_path: Path) -> None:
    env = distgit_env
    mine = tmp_path / "my-dg-base"
    git("clone", "-q", "-b", BRANCH, str(env.bare("dg-base")), str(mine))
    (mine / "README.md").write_text("my local edit\n")
    with pytest.raises(ForkliftError) as err:
        run(env, push=False, packages=("dg-base",), repo=str(mine))
    assert f"dist-git checkout {mine} has uncommitted changes (README.md); nothing was written" in err.value.message
    assert not (mine / "dg-base.spec").exists() and (mine / "README.md").read_text() == "my local edit\n"


def test_a_branch_that_moved_stops(distgit_env: DistGit, tmp_path: Path) -> None:
    env = distgit_env
    mine = tmp_path / "my-dg-base"
    git("clone", "-q", "-b", BRANCH, str(env.bare("dg-base")), str(mine))
    # someone else pushes to f45 meanwhile
    other = tmp_path / "other"
    git("clone", "-q", "-b", BRANCH, str(env.bare("dg-base")), str(other))
    (other / "NOTES").write_text("theirs\n")
    git("add", "NOTES", cwd=other)
    git("-c", "user.name=Other", "-c", "user.email=o@example.org", "commit", "-q", "-m", "theirs", cwd=other)
    git("push", "-q", "origin", BRANCH, cwd=other)
    with pytest.raises(ForkliftError, match=r"branch f45 of .*my-dg-base \(\w+\) is behind origin/f45 .*the branch moved"):
        run(env, push=False, packages=("dg-base",), repo=str(mine))
    assert not (mine / "dg-base.spec").exists()
    # Forklift's own clone just follows (fast-forward) ...
    run(env, push=False, packages=("dg-base",))
    clone = env.build_dir / "dist-git" / "dg-base"
    assert (clone / "NOTES").is_file()
    # ... until its unpushed commit and a new one on the server diverge: then it stops too
    (other / "NOTES").write_text("theirs, again\n")
    git("-c", "user.name=Other", "-c", "user.email=o@example.org", "commit", "-q", "-am", "again", cwd=other)
    git("push", "-q", "origin", BRANCH, cwd=other)
    with pytest.raises(ForkliftError, match=r"and origin/f45 \(\w+\) have diverged: the branch moved; nothing was"):
        run(env, push=False, packages=("dg-base",))


def test_missing_branch_and_repository(distgit_env: DistGit) -> None:
    env = distgit_env
    git("branch", "-q", "-D", BRANCH, cwd=env.bare("dg-base"))
    with pytest.raises(ForkliftError, match=r"has no branch f45; nothing was written") as err:
        run(env, push=False, packages=("dg-base",))
    assert "request-branch" in str(err.value.hint)
    with pytest.raises(ForkliftError, match=r"no dist-git repository for dg-base there"):
        run(env, push=False, packages=("dg-base",), repo=str(env.base / "nowhere"))


def test_repository_locations() -> None:
    assert package_repo("https://src.example.org/rpms", "docker-cli") == "https://src.example.org/rpms/docker-cli.git"
    assert package_repo("https://src.example.org/rpms/docker-cli.git", "docker-cli") == \
        "https://src.example.org/rpms/docker-cli.git"
    assert package_repo("ssh://git@host/rpms/{package}", "containerd") == "ssh://git@host/rpms/containerd"


def test_dist_git_bad_input_through_invoke(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORKLIFT")} | {"HOME": str(tmp_path),
                                                                                   "PATH": "/usr/bin:/bin"}
    inv = str(Path(sys.executable).with_name("invoke"))
    for args, expected in [
        (["-p", "docker-cli", "--repo", str(tmp_path / "nowhere"), "--push"], "--push uploads the tarballs"),
        (["-p", "docker-cli", "--repo", str(tmp_path / "nowhere")], "no dist-git repository for docker-cli there"),
        (["-p", "dokcer-cli", "--repo", str(tmp_path)], "unknown package 'dokcer-cli'"),
    ]:
        proc = subprocess.run([inv, "dist-git", "-t", TARGET, *args, "--build-dir", str(tmp_path / "b")],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0], proc.stderr
        assert not (tmp_path / "b" / "dist-git").exists()


def test_push_refuses_a_placeholder_before_anything_moves(distgit_env: DistGit, lookaside: Lookaside) -> None:
    env = distgit_env
    toml = env.specs / "dg-app" / "package.toml"
    toml.write_text(toml.read_text().replace("https://forklift.internal/dg-app", "https://forklift.example.org/dg-app"))
    log = env.specs / "dg-base" / "changelog"
    log.write_text("* Wed Nov 25 2026 Forklift Maintainers <forklift@example.org> - 1.0-1\n- Placeholder entry\n")
    env.reload()
    before = {p: env.head(p) for p in PACKAGES}
    with pytest.raises(ForkliftError, match=r"^dist-git --push: \S+/dg-app/package\.toml: url "
                                            r"'https://forklift\.example\.org/dg-app' is a placeholder "
                                            r"\(example\.org is a reserved domain\) \(and 1 more\)\n"):
        run(env, push=True, lookaside=lookaside)
    assert {p: env.head(p) for p in PACKAGES} == before and lookaside.uploads == []
    assert not (env.build_dir / "dist-git").exists()
    # the changelog identity alone is refused too, with what to do about it
    toml.write_text(toml.read_text().replace("https://forklift.example.org/dg-app", "https://forklift.internal/dg-app"))
    env.reload()
    with pytest.raises(ForkliftError, match=r"dg-base/changelog: changelog 'Forklift Maintainers <forklift@example"
                                            r"\.org>' is a placeholder") as err:
        run(env, push=True, lookaside=lookaside)
    assert "RPM_PACKAGER" in str(err.value.hint)
    # a local commit (no --push) is not a release: it goes through
    run(env, push=False)
