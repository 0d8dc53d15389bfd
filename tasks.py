"""Forklift's Invoke tasks: argument parsing and one call into tooling/ each.

Run `.venv/bin/invoke --list` for the tasks and `.venv/bin/invoke --help TASK` for each.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Context, task

from tooling.cli import console, resolve_build_dir, resolve_mock_config_dir, targets_table, user_errors

# Heavy imports (koji, rpm, createrepo_c) happen inside the tasks that need them.

TARGET_HELP = "target name from specs/targets.toml (repeatable; default: all, or the default target where noted)"
PACKAGE_HELP = "package name, a directory under specs/ (repeatable; default: all)"
BUILD_DIR_HELP = "the build tree (default: build/ in the checkout)"
MIRROR_HELP = ("a mirror: a directory, a URL base, or lookaside:URL (repeatable, tried in order); "
               "replaces $FORKLIFT_MIRRORS and ~/.config/forklift/mirrors.toml")


def _matrix():  # type: ignore[no-untyped-def]
    import os

    from tooling import model

    specs = os.environ.get("FORKLIFT_SPECS")  # another spec tree (tests, forks); default: specs/ here
    return model.load(Path(specs) if specs else None)


@task
@user_errors
def targets(c: Context) -> None:
    """Show the target matrix (specs/targets.toml) and each target's facts."""
    console.print(targets_table(_matrix()))


@task(name="ci-matrix", help={"arch": "only entries of this architecture"})
@user_errors
def ci_matrix(c: Context, arch: str | None = None) -> None:
    """Print the CI matrix (JSON, one entry per target and arch) for pipelines in ci/."""
    import json

    from tooling.cli import ci_matrix_for

    print(json.dumps({"include": ci_matrix_for(_matrix(), arch)}))


@task(iterable=["target", "package"], help={"target": TARGET_HELP, "package": PACKAGE_HELP,
                                            "out": "output directory (default: build/specs)"})
@user_errors
def render(c: Context, target: list[str] | None = None, package: list[str] | None = None,
           out: str | None = None) -> None:
    """Render spec templates to build/specs/<target>/<package>.spec."""
    from tooling import render as r
    from tooling.fsutil import ensure_writable_dir

    out_dir = Path(out) if out else resolve_build_dir(None) / "specs"
    ensure_writable_dir(out_dir, "--out" if out else "build/specs")
    paths = r.write_specs(r.render_all(_matrix(), target, package), out_dir)
    for p in paths:
        console.print(str(p))


@task(iterable=["target", "package"], help={"target": TARGET_HELP, "package": PACKAGE_HELP})
@user_errors
def lint(c: Context, target: list[str] | None = None, package: list[str] | None = None) -> None:
    """Render, then check every spec with `rpmspec -P` (target macros) and rpmlint (specs/rpmlint.toml)."""
    from tooling import lint as lt
    from tooling import render as r

    matrix = _matrix()
    specs = r.render_all(matrix, target, package)
    paths = r.write_specs(specs, resolve_build_dir(None) / "specs")
    findings = lt.lint_specs([(s.target, p) for s, p in zip(specs, paths, strict=True)], matrix.root)
    for f in findings:
        console.print(str(f), markup=False)
    lt.raise_for(findings)
    console.print(f"lint: {len(paths)} specs clean")


@task(iterable=["package", "mirror"], help={
    "package": PACKAGE_HELP, "offline": "use only the cache and local mirror directories",
    "cache_dir": "source cache (default: $FORKLIFT_CACHE or ~/.cache/forklift/sources)",
    "mirror": MIRROR_HELP})
@user_errors
def sources(c: Context, package: list[str] | None = None, offline: bool = False, cache_dir: str | None = None,
            mirror: list[str] | None = None) -> None:
    """Fetch and verify every Source of the packages into the content-addressed cache."""
    from tooling.sources import api

    api.fetch_sources(_matrix(), package or [], offline=offline, cache_dir=Path(cache_dir) if cache_dir else None,
                      mirrors=mirror or [])


@task(help={"package": "the package to vendor (e.g. device-mapper-persistent-data)",
            "cache_dir": "source cache (default: $FORKLIFT_CACHE or ~/.cache/forklift/sources)"})
@user_errors
def vendor(c: Context, package: str, cache_dir: str | None = None) -> None:
    """Make the vendor tarball an offline build needs (cargo vendor / go mod vendor); needs network."""
    from tooling import vendor as v

    v.vendor(_matrix(), package, cache_dir=Path(cache_dir) if cache_dir else None)


@task(iterable=["target", "package", "mirror"], help={
    "target": TARGET_HELP, "package": PACKAGE_HELP, "offline": "use only the cache and local mirror directories",
    "cache_dir": "source cache", "mirror": MIRROR_HELP, "build_dir": BUILD_DIR_HELP})
@user_errors
def srpm(c: Context, target: list[str] | None = None, package: list[str] | None = None, offline: bool = False,
         cache_dir: str | None = None, mirror: list[str] | None = None, build_dir: str | None = None) -> None:
    """Build reproducible SRPMs into build/srpms/<target>/."""
    from tooling import srpm as s

    for p in s.build_srpms(_matrix(), target or [], package or [], build_dir=resolve_build_dir(build_dir), offline=offline,
                           cache_dir=Path(cache_dir) if cache_dir else None, mirrors=mirror or []):
        console.print(str(p))


@task(name="new-version", positional=["version"], iterable=["mirror"], help={
    "package": "the package to update", "version": "the new upstream version",
    "offline": "use only the cache and local mirrors", "cache_dir": "source cache", "mirror": MIRROR_HELP})
@user_errors
def new_version(c: Context, package: str, version: str, offline: bool = False, cache_dir: str | None = None,
                mirror: list[str] | None = None) -> None:
    """Move a package to a new upstream version: data, hashes, release reset, changelog entry."""
    from tooling import newversion

    newversion.new_version(_matrix(), package, version, offline=offline,
                           cache_dir=Path(cache_dir) if cache_dir else None, mirrors=mirror or [])


@task(iterable=["target", "package", "mirror"], help={
    "target": "target name (repeatable; default: the default target in specs/targets.toml)",
    "cache_dir": "source cache (default: $FORKLIFT_CACHE or ~/.cache/forklift/sources)", "mirror": MIRROR_HELP,
    "package": PACKAGE_HELP, "builder": "auto, mock, mock-container or rpmbuild (default: auto)",
    "jobs": "builds run in parallel (default: 1)", "force": "rebuild even when the cache says up to date",
    "json": "write a machine-readable report to this file", "offline": "do not download sources",
    "dry_run": "print the plan and run nothing", "build_dir": BUILD_DIR_HELP,
    "mock_config_dir": "mock --configdir: where mock finds the chroot configs Forklift's configs include() "
                       "(default: $FORKLIFT_MOCK_CONFIG_DIR, else mock's own /etc/mock)"})
@user_errors
def build(c: Context, target: list[str] | None = None, package: list[str] | None = None, builder: str = "auto",
          jobs: str = "1", force: bool = False, json: str | None = None, offline: bool = False,
          dry_run: bool = False, build_dir: str | None = None, cache_dir: str | None = None,
          mirror: list[str] | None = None, mock_config_dir: str | None = None) -> None:
    """Build binary RPMs in dependency order and publish build/repos/<target>/ (the main job).

    Exit code 0: everything built or cached; 1: a build failed; 3: nothing failed but
    packages were left out because their sources are missing (each is listed with how to supply it).
    """
    from tooling.builds import pipeline
    from tooling.cli import check_build_options, parse_jobs

    check_build_options(builder, mock_config_dir)
    n_jobs = parse_jobs(jobs)
    matrix = _matrix()
    report = pipeline.run_build(matrix, target or [matrix.default_target], package or [], builder=builder,
                                jobs=n_jobs, force=force, json_path=Path(json) if json else None,
                                build_dir=resolve_build_dir(build_dir), offline=offline, dry_run=dry_run,
                                cache_dir=Path(cache_dir) if cache_dir else None, mirrors=mirror or [],
                                mock_config_dir=resolve_mock_config_dir(mock_config_dir))
    from tooling.cli import exit_with

    exit_with(report.exit_code)


@task(help={"out": "output directory (default: build/selinux)",
            "assertions": "assertions file (default: selinux/assertions.toml)"})
@user_errors
def selinux(c: Context, out: str | None = None, assertions: str | None = None) -> None:
    """Compile the SELinux module in selinux/, compress it and run the policy checks."""
    from tooling import selinux as se

    pp = se.build_policy(out_dir=Path(out) if out else resolve_build_dir(None) / "selinux")
    report = se.check_policy(pp, assertions=Path(assertions) if assertions else None)
    console.print(report.summary(), markup=False)
    console.print(f"selinux: {pp} built and checked")


@task(help={"target": "target to test (default: the default target)",
            "via": "provisioner: mock, container or vm (default: vm)",
            "image": "image path or reference (default: the target's image from specs/targets.toml); with "
                     "--via vm: a Fedora/CentOS Stream/RHEL cloud image (.qcow2, cloud-init, console on ttyS0), "
                     "booted from an overlay with a NoCloud seed and the repo on a disk (docs/smoke.md)",
            "engine": "engine under test: rpm (from build/repos/<target>/), standin (stand-in RPMs built "
                      "here from the real specs), debian (known-good docker.io, to check the harness) or a "
                      "directory holding dockerd (default: rpm)",
            "previous_repo": "with --via vm and --engine rpm: the repo of release N-1 (a directory of RPMs); "
                             "the guest installs it first, then upgrades to build/repos/<target>/",
            "selinux": "with --via vm and --engine rpm or standin: the guest boots enforcing with Debian's "
                       "policy and the -selinux package's scriptlet installs the module (slower: ~6 min under TCG)",
            "build_dir": BUILD_DIR_HELP})
@user_errors
def smoke(c: Context, target: str | None = None, via: str = "vm", image: str | None = None, engine: str = "rpm",
          previous_repo: str | None = None, build_dir: str | None = None, selinux: bool = False) -> None:
    """Smoke-test the RPMs in build/repos/<target>/: install, thin pool, engine, container, SELinux."""
    from tooling import smoke as sm

    matrix = _matrix()
    sm.run_smoke(matrix, target or matrix.default_target, via=via, image=image, engine=engine,
                 build_dir=resolve_build_dir(build_dir), previous_repo=Path(previous_repo) if previous_repo else None,
                 selinux=selinux)


@task(name="koji-build", iterable=["package"], help={
    "target": "Forklift target whose koji build target is used", "package": PACKAGE_HELP,
    "scratch": "scratch build", "nowait": "submit and return without watching",
    "profile": "koji profile (default: koji)", "dry_run": "print the calls it would make and make none",
    "scm": "build from dist-git (git+URL#commit of the target's branch, as pushed by `invoke dist-git`) "
           "instead of uploading the SRPMs; needs --repo",
    "repo": "with --scm: the dist-git repository, a base holding <package>.git, or a pattern with {package}",
    "build_dir": BUILD_DIR_HELP})
@user_errors
def koji_build(c: Context, target: str, package: list[str] | None = None, scratch: bool = False,
               nowait: bool = False, profile: str = "koji", dry_run: bool = False, scm: bool = False,
               repo: str | None = None, build_dir: str | None = None) -> None:
    """Build the SRPMs of a target on a koji hub, in dependency layers; download the results."""
    from tooling.errors import ForkliftError
    from tooling.koji import api

    if scm and not repo:
        raise ForkliftError("koji-build --scm needs --repo (the dist-git repository or base it builds from)")
    if repo and not scm:
        raise ForkliftError("koji-build --repo is only used with --scm; add --scm to build from dist-git")
    api.koji_build(_matrix(), target, package or [], scratch=scratch, nowait=nowait, profile=profile,
                   dry_run=dry_run, build_dir=resolve_build_dir(build_dir), scm=repo if scm else None)


@task(name="koji-status", help={"task_id": "koji task id", "profile": "koji profile (default: koji)"})
@user_errors
def koji_status(c: Context, task_id: str, profile: str = "koji") -> None:
    """Show a koji task and its children."""
    from tooling.koji import api

    api.koji_status(task_id, profile=profile)


@task(name="dist-git", iterable=["package", "mirror"], help={
    "target": "Forklift target (its distgit_branch: f45, rawhide, epel9, ...)", "package": PACKAGE_HELP,
    "repo": "dist-git: a repository (URL or directory), a base holding <package>.git, or a pattern with {package}",
    "push": "upload new tarballs to the lookaside, then push the branch",
    "lookaside": "lookaside base URL (its upload.cgi receives the tarballs; default: fedpkg when installed)",
    "cache_dir": "source cache", "mirror": MIRROR_HELP, "offline": "use only the cache and local mirrors",
    "build_dir": BUILD_DIR_HELP})
@user_errors
def dist_git(c: Context, target: str, repo: str, package: list[str] | None = None, push: bool = False,
             lookaside: str | None = None, cache_dir: str | None = None, mirror: list[str] | None = None,
             offline: bool = False, build_dir: str | None = None) -> None:
    """Commit the rendered spec, sources file and patches to each package's dist-git branch; --push pushes."""
    from tooling import distgit

    distgit.dist_git(_matrix(), target, package or [], repo=repo, push=push, build_dir=resolve_build_dir(build_dir),
                     lookaside=lookaside, cache_dir=Path(cache_dir) if cache_dir else None, mirrors=mirror or [],
                     offline=offline, console=console)


@task(name="koji-tag", positional=["tag"], iterable=["nvr"], help={
    "tag": "koji tag", "nvr": "build NVR (repeatable)", "profile": "koji profile (default: koji)",
    "dry_run": "print the calls it would make and make none"})
@user_errors
def koji_tag(c: Context, tag: str, nvr: list[str] | None = None, profile: str = "koji",
             dry_run: bool = False) -> None:
    """Tag builds into a koji tag and wait for the tagging tasks."""
    from tooling.koji import api

    api.koji_tag(tag, nvr or [], profile=profile, dry_run=dry_run)


@task(iterable=["target"], help={
    "target": TARGET_HELP,
    "built": "check the RPMs in the build tree's repos (build/repos/<target>) instead of stubs made from the specs",
    "build_dir": BUILD_DIR_HELP,
    "jobs": "targets checked at once (default: 2)"})
@user_errors
def installable(c: Context, target: list[str] | None = None, built: bool = False, build_dir: str | None = None,
                jobs: int = 2) -> None:
    """Resolve `dnf install` of what each target ships against its distro's packages (specs/target-base.toml)."""
    from tooling import installcheck
    from tooling.cli import exit_with
    from tooling.installcheck.report import table

    bdir = resolve_build_dir(build_dir)
    matrix = _matrix()
    repos = {t: bdir / "repos" / t for t in (target or matrix.targets)} if built else None
    verdicts = installcheck.check(matrix, target, bdir / "installcheck", repo_dirs=repos, jobs=int(jobs),
                                  report=console.print)
    console.print(table(verdicts))
    failed = [v for v in verdicts if not v.ok]
    console.print(f"installable: {len(verdicts) - len(failed)} ok, {len(failed)} failed")
    exit_with(1 if failed else 0)


@task(iterable=["target"], help={"target": "target whose built RPMs to check (repeatable; default: the default target)",
                                 "build_dir": BUILD_DIR_HELP})
@user_errors
def hardening(c: Context, target: list[str] | None = None, build_dir: str | None = None) -> None:
    """Check that every ELF file in the built RPMs is a PIE with full RELRO and BIND_NOW (specs/hardening.toml)."""
    from tooling import hardening as hd
    from tooling.cli import exit_with

    matrix = _matrix()
    bdir = resolve_build_dir(build_dir)
    exemptions = hd.load_exemptions(matrix.root)
    findings_all = []
    for tgt in matrix.select_targets(target or [matrix.default_target]):
        rpms = hd.built_rpms(bdir / "repos" / tgt.name, tgt.name)
        findings, count = hd.check_rpms(rpms, exemptions)
        console.print(f"{tgt.name}: {count} ELF files in {len(rpms)} RPMs, {len(findings)} not hardened")
        findings_all += findings
    for f in findings_all:
        console.print(str(f), markup=False)
    exit_with(1 if findings_all else 0)


@task(help={"prune": "remove least recently used entries until the total is at most --max-size",
            "max_size": "the cap for --prune, e.g. 20G or 500M (default: 20G)",
            "cache_dir": "source cache (default: $FORKLIFT_CACHE or ~/.cache/forklift/sources)",
            "build_dir": BUILD_DIR_HELP})
@user_errors
def cache(c: Context, prune: bool = False, max_size: str | None = None, cache_dir: str | None = None,
          build_dir: str | None = None) -> None:
    """Sizes of the caches (Go build caches per toolchain, sources, smoke images, installcheck stubs); --prune."""
    from tooling.builds import caches

    cap = caches.parse_size(max_size) if max_size else caches.DEFAULT_MAX_SIZE
    caches.cache_command(prune_to=cap if prune else None,
                         source_cache=Path(cache_dir) if cache_dir else None, build_dir=resolve_build_dir(build_dir),
                         out=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))


@task(help={"fast": "skip the slow tests (real builds and VMs)", "k": "only tests matching this expression"})
def test(c: Context, fast: bool = False, k: str | None = None) -> None:
    """Run ruff, mypy and the test suite (what CI runs)."""
    c.run("ruff check tooling tests tasks.py", pty=False)
    c.run("mypy", pty=False)
    args = ["pytest"]
    if fast:
        args += ["-m", "'not slow'"]
    if k:
        args += ["-k", repr(k)]
    c.run(" ".join(args), pty=False)


KEY_ID_HELP = ("signing key (id, fingerprint or user id) in your keyring, used through gpg-agent; default: "
               "$FORKLIFT_GPG_KEY_FILE + $FORKLIFT_GPG_PASSPHRASE_FILE, $FORKLIFT_GPG_KEY_ID, "
               "~/.config/forklift/signing.toml")


@task(help={"target": "target whose build/repos/<target> to sign (default: the default target)",
            "key_id": KEY_ID_HELP, "build_dir": BUILD_DIR_HELP})
@user_errors
def sign(c: Context, target: str | None = None, key_id: str | None = None, build_dir: str | None = None) -> None:
    """Sign the RPMs and the repodata (repomd.xml.asc) of build/repos/<target>; export the public key beside them."""
    from tooling.release import commands

    commands.sign(_matrix(), target, key_id, resolve_build_dir(build_dir), console)


@task(help={"target": "target to publish (default: the default target)",
            "dest": "the tree users' dnf reads: <dest>/<distro>/<version>/<arch>/<channel>/ (default: build/publish)",
            "channel": "stable or test (default: stable)", "keep": "versions of each package to keep (default: 3)",
            "base_url": "where users reach --dest, for the .repo files (default: file:// URL of --dest)",
            "key_id": KEY_ID_HELP, "build_dir": BUILD_DIR_HELP})
@user_errors
def publish(c: Context, target: str | None = None, dest: str | None = None, channel: str = "stable", keep: int = 3,
            base_url: str | None = None, key_id: str | None = None, build_dir: str | None = None) -> None:
    """Publish the signed build/repos/<target> into a download tree with a .repo file per distro; atomic."""
    from tooling.release import commands

    commands.publish(_matrix(), target, dest, channel, keep, base_url, key_id, resolve_build_dir(build_dir), console)


@task(name="release-report", help={
    "target": "target whose build/repos/<target> is the release (default: the default target)",
    "out": "output directory (default: build/release/<target>)",
    "build_json": "the build's --json report, for build times",
    "previous": "release.json of the previous release, for the changelog (default: the last report in --out)",
    "rebuild_dir": "a second build tree of the same inputs, for the reproducibility statement",
    "build_dir": BUILD_DIR_HELP})
@user_errors
def release_report(c: Context, target: str | None = None, out: str | None = None, build_json: str | None = None,
                   previous: str | None = None, rebuild_dir: str | None = None, build_dir: str | None = None) -> None:
    """Markdown and self-contained HTML: NVRs, commits, changes, CVEs, build times, smoke, SBOMs, SHA256s."""
    from tooling.release import commands

    commands.release_report(_matrix(), target, resolve_build_dir(build_dir), out, build_json, previous, rebuild_dir,
                            console)
