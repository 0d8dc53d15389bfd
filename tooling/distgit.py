"""dist-git: put the rendered specs into a Fedora-style dist-git repository, as fedpkg and packit do.

For each package: a checkout of its dist-git repository on the target's branch
(``distgit_branch`` in specs/targets.toml: f45, rawhide, epel9, ...) receives the
rendered ``<package>.spec``, the ``sources`` file (fedpkg's format), the patches and
the files shipped from this repo; the diff is shown, then committed with a message
made from the newest changelog entry. With ``push``: the tarballs the ``sources``
file names are uploaded to the lookaside first (fedpkg's upload protocol, or fedpkg
itself when it is installed and no lookaside is given), then the branch is pushed.

Where each package's repository is (``--repo``):
- a value containing ``{package}`` is a pattern (``https://src.example.org/rpms/{package}.git``);
- a value that itself names the package's repository (a local git directory, or a URL
  ending in ``/<package>`` or ``/<package>.git``) is used as it is;
- anything else is a base: ``<base>/<package>.git`` (or ``<base>/<package>`` for a local
  directory that has it).

A local non-bare repository is the checkout itself (yours, e.g. from ``fedpkg clone``);
anything else is cloned into ``build/dist-git/<package>/`` and fetched again on later runs.
A checkout with uncommitted changes, or whose branch and origin's have moved apart, stops
the run before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from tooling import render, sourcesfile
from tooling.errors import ForkliftError
from tooling.model import Matrix, Package, Target
from tooling.redact import redact
from tooling.release.placeholders import package_placeholders, refuse_placeholders

GIT_TIMEOUT = 300.0
LOOKASIDE_TIMEOUT = (10.0, 120.0)  # connect, no bytes for


# ---------------------------------------------------------------------------- where the repositories are


def _is_local_repo(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def _is_url(value: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", value)) or bool(re.match(r"^[\w.-]+@[\w.-]+:", value))


def package_repo(repo: str, package: str) -> str:
    """The location of ``package``'s dist-git repository given ``--repo`` (see the module docstring)."""
    if "{package}" in repo:
        return repo.replace("{package}", package)
    if _is_url(repo):
        last = repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        return repo if last == package else f"{repo.rstrip('/')}/{package}.git"
    base = Path(repo).expanduser().resolve()
    if _is_local_repo(base) and base.name.removesuffix(".git") == package:
        return str(base)
    for candidate in (base / f"{package}.git", base / package):
        if candidate.is_dir():
            return str(candidate)
    if _is_local_repo(base):
        return str(base)
    raise ForkliftError(f"--repo {repo}: no dist-git repository for {package} there (looked for {base}/{package}.git, "
                        f"{base}/{package} and {base} itself)",
                        hint="pass the repository (or a directory holding <package>.git), a URL, or a pattern "
                             "with {package}")


def git_url(location: str) -> str:
    """A URL git and koji understand: local paths become file:// URLs."""
    return location if _is_url(location) else Path(location).resolve().as_uri()


def scm_url(location: str, commit: str) -> str:
    """koji's SCM URL: git+<url>#<commit> (buildSRPMFromSCM)."""
    url = git_url(location)
    return f"{url}#{commit}" if url.startswith("git+") or url.startswith("git://") else f"git+{url}#{commit}"


# ---------------------------------------------------------------------------- git


def git(args: Sequence[str], cwd: Path | None = None, *, check: bool = True,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["git", *args]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False,
                              env=os.environ | {"GIT_TERMINAL_PROMPT": "0"} | (env or {}))
    except FileNotFoundError:
        raise ForkliftError("git is not installed", hint="install git (apt-get install git / dnf install git)") from None
    except subprocess.TimeoutExpired:
        raise ForkliftError(redact(f"`{' '.join(argv)}` gave no result within {GIT_TIMEOUT:g} s"),
                            hint="check the repository URL and your network") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ForkliftError(redact(f"`{' '.join(argv)}` failed in {cwd or os.getcwd()}: {' / '.join(tail)}"))
    return proc


def remote_head(url: str, branch: str) -> str | None:
    """The commit ``branch`` points to in the repository at ``url`` (git ls-remote), or None."""
    out = git(["ls-remote", "--heads", git_url(url), f"refs/heads/{branch}"]).stdout.split()
    return out[0] if out else None


def scm_sources(target: Target, packages: Sequence[str], repo: str) -> dict[str, str]:
    """package -> git+URL#<commit of the target's branch> for `koji-build --scm`."""
    out = {}
    for name in packages:
        location = package_repo(repo, name)
        head = remote_head(location, target.distgit_branch)
        if head is None:
            raise ForkliftError(
                redact(f"dist-git {location} has no branch {target.distgit_branch} (the distgit_branch of {target.name})"),
                hint=f"commit and push it first: `invoke dist-git -t {target.name} -p {name} --repo {repo} --push`")
        out[name] = scm_url(location, head)
    return out


# ---------------------------------------------------------------------------- checkouts


@dataclass(frozen=True)
class Checkout:
    path: Path
    origin: str  # the URL pushed to
    managed: bool  # Forklift's own clone in build/dist-git/ (fast-forwarded when behind)


def _origin(path: Path) -> str:
    proc = git(["remote", "get-url", "origin"], path, check=False)
    return proc.stdout.strip()


def open_checkout(location: str, package: str, work_dir: Path) -> Checkout:
    """The checkout to write into: ``location`` itself when it is a local work tree, else a clone in
    ``work_dir/<package>`` (made, or fetched again)."""
    local = Path(location) if not _is_url(location) else None
    if local is not None and (local / ".git").exists():
        origin = _origin(local)
        if not origin:
            raise ForkliftError(f"dist-git checkout {local} has no remote 'origin'",
                                hint="add it: git -C CHECKOUT remote add origin URL")
        git(["fetch", "-q", "origin"], local)
        return Checkout(local, origin, managed=False)
    url = git_url(location)
    dest = work_dir / package
    if (dest / ".git").exists():
        have = _origin(dest)
        if have != url:
            raise ForkliftError(redact(f"{dest} is a clone of {have}, not of {url}"),
                                hint=f"remove {dest} (Forklift's own clone) or pass the --repo it was made from")
        git(["fetch", "-q", "origin"], dest)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        git(["clone", "-q", url, str(dest)])
    return Checkout(dest, url, managed=True)


def _rev(path: Path, ref: str) -> str | None:
    proc = git(["rev-parse", "--verify", "-q", ref + "^{commit}"], path, check=False)
    return proc.stdout.strip() or None


def _is_ancestor(path: Path, a: str, b: str) -> bool:
    return git(["merge-base", "--is-ancestor", a, b], path, check=False).returncode == 0


def prepare_branch(co: Checkout, branch: str) -> None:
    """Stop on uncommitted changes or a branch that moved; leave ``branch`` checked out, up to date."""
    dirty = [line[3:] for line in git(["status", "--porcelain"], co.path).stdout.splitlines() if line.strip()]
    if dirty:
        listed = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise ForkliftError(f"dist-git checkout {co.path} has uncommitted changes ({listed}); nothing was written",
                            hint="commit, stash or discard them, then run again")
    remote = _rev(co.path, f"refs/remotes/origin/{branch}")
    if remote is None:
        raise ForkliftError(redact(f"dist-git {co.origin} has no branch {branch}; nothing was written"),
                            hint="ask for the branch (fedpkg request-branch), or on a private dist-git create it "
                                 f"(git push origin HEAD:{branch}); or set distgit_branch in specs/targets.toml")
    local = _rev(co.path, f"refs/heads/{branch}")
    if local is None:
        git(["checkout", "-q", "-b", branch, "--track", f"origin/{branch}"], co.path)
        return
    git(["checkout", "-q", branch], co.path)
    if local == remote or _is_ancestor(co.path, remote, local):
        return  # up to date, or ahead (commits of an earlier run not pushed yet)
    if _is_ancestor(co.path, local, remote) and co.managed:
        git(["merge", "-q", "--ff-only", f"origin/{branch}"], co.path)
        return
    if _is_ancestor(co.path, local, remote):
        state = f"({local[:12]}) is behind origin/{branch} ({remote[:12]})"
    else:
        state = f"({local[:12]}) and origin/{branch} ({remote[:12]}) have diverged"
    raise ForkliftError(
        redact(f"branch {branch} of {co.path} {state}: the branch moved; nothing was written"),
        hint=f"bring the checkout up to date first (git -C {co.path} pull --rebase origin {branch}), then run again")


# ---------------------------------------------------------------------------- what goes into the repository


@dataclass(frozen=True)
class Content:
    files: dict[str, bytes]  # name in the repository -> bytes
    uploads: list[sourcesfile.SourceHash]  # what `sources` lists (and the lookaside must hold)
    message: str
    author: tuple[str, str] | None  # (name, email) from the changelog entry


def commit_message(package: Package, target: Target) -> tuple[str, tuple[str, str] | None]:
    """Subject and body from the newest %changelog entry; its author."""
    lines = package.changelog.strip().splitlines()
    if not lines:
        return f"{package.name} {package.evr}\n\nRendered by Forklift for {target.name}.\n", None
    entry: list[str] = []
    for line in lines[1:]:
        if line.startswith("* "):
            break
        entry.append(line.rstrip())
    bullets: list[str] = []
    for line in entry:
        if line.startswith("-"):
            bullets.append(line[1:].strip())
        elif bullets and line.strip():
            bullets[-1] += " " + line.strip()
    first = bullets[0] if bullets else f"{package.name} {package.evr}"
    subject = first if len(first) <= 72 else first[:69].rstrip() + "..."
    body = "\n".join(entry).strip()
    message = f"{subject}\n\n{body}\n\n{package.name} {package.evr} ({target.distgit_branch}), rendered by Forklift " \
              f"for {target.name}.\n"
    return message, package.changelog_author


def content(matrix: Matrix, target: Target, package: Package) -> Content:
    spec = render.render_spec(matrix, target, package)
    files = {f"{package.name}.spec": spec.encode()}
    hashes = [s.hash for s in package.remote_sources if s.hash is not None]
    if hashes:
        files["sources"] = sourcesfile.dump(hashes).encode()
    for src in package.sources:
        if src.kind == "local":
            files[src.file] = (package.directory / src.file).read_bytes()
    for patch in package.patches:
        if getattr(patch, "source", None) is None:
            files[patch.file] = (package.directory / patch.file).read_bytes()
    message, author = commit_message(package, target)
    return Content(files, hashes, message, author)


def _gitignore(current: str, uploads: list[sourcesfile.SourceHash]) -> str:
    lines = current.splitlines()
    for h in uploads:
        entry = f"/{h.filename}"
        if entry not in lines and h.filename not in lines:
            lines.append(entry)
    return "\n".join(lines) + "\n" if lines else ""


def write_content(co: Checkout, c: Content) -> list[str]:
    """Write the files, drop patches no longer used, stage; return the staged paths."""
    for name, data in c.files.items():
        path = co.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    ignore = co.path / ".gitignore"
    new_ignore = _gitignore(ignore.read_text() if ignore.exists() else "", c.uploads)
    if new_ignore:
        ignore.write_text(new_ignore)
    tracked = git(["ls-files"], co.path).stdout.splitlines()
    stale = [f for f in tracked if f.endswith(".patch") and f not in c.files]
    if stale:
        git(["rm", "-q", "--", *stale], co.path)
    paths = sorted(c.files) + ([".gitignore"] if new_ignore else [])
    git(["add", "--", *paths], co.path)
    return paths


# ---------------------------------------------------------------------------- lookaside (fedpkg's protocol)


def lookaside_upload(base: str, module: str, h: sourcesfile.SourceHash, path: Path, out: Console) -> bool:
    """Upload ``path`` to the lookaside CGI at ``<base>/upload.cgi`` unless it is there already
    (pyrpkg's protocol: a POST of name, filename and <hashtype>sum answers "Available" or
    "Missing"; a multipart POST with the file stores it). True when it uploaded."""
    import requests

    url = f"{base.rstrip('/')}/upload.cgi"
    field = f"{h.hashtype}sum"
    fields = {"name": module, "filename": h.filename, field: h.hexdigest}
    try:
        resp = requests.post(url, data=fields, timeout=LOOKASIDE_TIMEOUT)
        resp.raise_for_status()
        if resp.text.strip() == "Available":
            out.print(f"lookaside: {h.filename} is there already")
            return False
        if resp.text.strip() != "Missing":
            raise ForkliftError(redact(f"lookaside {url} answered {resp.text.strip()[:80]!r} to the check for "
                                       f"{h.filename}, not 'Available' or 'Missing'"),
                                hint="is --lookaside the lookaside's base (its upload.cgi is below it)?")
        with open(path, "rb") as fh:
            resp = requests.post(url, data={"name": module, field: h.hexdigest},
                                 files={"file": (h.filename, fh)}, timeout=LOOKASIDE_TIMEOUT)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise ForkliftError(redact(f"lookaside upload of {h.filename} to {url} failed: {exc}"),
                            hint="check --lookaside and your credentials for it; nothing was pushed") from None
    out.print(f"lookaside: uploaded {h.filename} ({path.stat().st_size} bytes)")
    return True


def _verify(path: Path, h: sourcesfile.SourceHash) -> None:
    digest = hashlib.new(h.hashtype)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != h.hexdigest:
        raise ForkliftError(f"{path}: {h.hashtype.upper()} does not match the sources file; not uploaded",
                            hint="run `invoke sources` to fetch and verify it again")


# ---------------------------------------------------------------------------- the task


def dist_git(matrix: Matrix, target: str, packages: list[str], *, repo: str, push: bool, build_dir: Path,
             lookaside: str | None = None, cache_dir: Path | None = None, mirrors: list[str] | None = None,
             offline: bool = False, console: Console | None = None) -> dict[str, str]:
    """`invoke dist-git`: write, show, commit (and with ``push`` upload and push) each package;
    return package -> git+URL#commit."""
    out = console or Console(highlight=False, emoji=False)
    tgt = matrix.select_targets([target])[0]
    pkgs = matrix.select_packages(packages) if packages else [p for p in matrix.packages.values() if p.enabled_for(tgt)]
    fedpkg = shutil.which("fedpkg")
    if push and lookaside is None and fedpkg is None:
        raise ForkliftError("--push uploads the tarballs to the lookaside: pass --lookaside URL (the base holding "
                            "upload.cgi), or install fedpkg")
    if push:
        refuse_placeholders(package_placeholders(pkgs), "dist-git --push")
    branch = tgt.distgit_branch
    # everything is rendered and every checkout checked before anything is written
    plans = []
    for pkg in pkgs:
        location = package_repo(repo, pkg.name)
        c = content(matrix, tgt, pkg)
        co = open_checkout(location, pkg.name, build_dir / "dist-git")
        prepare_branch(co, branch)
        plans.append((pkg, location, c, co))
    result: dict[str, str] = {}
    for pkg, location, c, co in plans:
        write_content(co, c)
        diff = git(["diff", "--cached", "--stat"], co.path).stdout
        if not diff.strip():
            head = git(["rev-parse", "HEAD"], co.path).stdout.strip()
            out.print(f"{pkg.name}: {branch} of {redact(co.origin)} is up to date ({head[:12]})")
        else:
            out.print(f"[bold]{pkg.name}[/]: changes for {branch} of {redact(co.origin)}:")
            out.print(redact(git(["diff", "--cached"], co.path).stdout), markup=False, highlight=False)
            out.print(diff.rstrip(), markup=False)
        if push and c.uploads:
            _upload_sources(pkg, c, co, lookaside, fedpkg, branch=branch, cache_dir=cache_dir, mirrors=mirrors or [],
                            offline=offline, out=out)
        if diff.strip():
            _commit(co, c)
        head = git(["rev-parse", "HEAD"], co.path).stdout.strip()
        if push:
            proc = git(["push", "-q", "origin", f"{branch}:{branch}"], co.path, check=False)
            if proc.returncode != 0:
                raise ForkliftError(
                    redact(f"push of {pkg.name} {branch} to {co.origin} was refused: "
                           f"{' / '.join(proc.stderr.strip().splitlines()[-2:])}"),
                    hint="the branch moved on the server meanwhile: run `invoke dist-git` again (it fetches and "
                         "stops if your commit and theirs need merging)")
            out.print(f"{pkg.name}: pushed {head[:12]} to {branch} of {redact(co.origin)}")
        result[pkg.name] = scm_url(location, head)
        out.print(f"{pkg.name}: {redact(result[pkg.name])}", markup=False)
    return result


def _commit(co: Checkout, c: Content) -> None:
    env: dict[str, str] = {}
    if c.author:
        env = {"GIT_AUTHOR_NAME": c.author[0], "GIT_AUTHOR_EMAIL": c.author[1]}
        if not git(["config", "user.email"], co.path, check=False).stdout.strip():
            env |= {"GIT_COMMITTER_NAME": c.author[0], "GIT_COMMITTER_EMAIL": c.author[1]}
    gitdir = Path(git(["rev-parse", "--absolute-git-dir"], co.path).stdout.strip())
    message = gitdir / "FORKLIFT_COMMIT_MSG"
    message.write_text(c.message)
    try:
        git(["commit", "-q", "--no-verify", "-F", str(message)], co.path, env=env)
    finally:
        message.unlink(missing_ok=True)


def _upload_sources(pkg: Package, c: Content, co: Checkout, lookaside: str | None, fedpkg: str | None, *,
                    branch: str, cache_dir: Path | None, mirrors: list[str], offline: bool, out: Console) -> None:
    from tooling.sources.api import sources_config
    from tooling.sources.resolve import resolve_sources

    cache, mirror_list = sources_config(cache_dir, mirrors)
    found = resolve_sources(pkg, cache=cache, mirrors=mirror_list, offline=offline)
    module = Path(urllib.parse.urlsplit(co.origin).path).name.removesuffix(".git") or pkg.name
    for h in c.uploads:
        path = found[h.filename]
        _verify(path, h)
        if lookaside is not None:
            lookaside_upload(lookaside, module, h, path, out)
        else:
            assert fedpkg is not None
            staged = co.path / h.filename  # fedpkg uploads files from the checkout (.gitignore'd)
            shutil.copyfile(path, staged)
            try:
                proc = subprocess.run([fedpkg, "--path", str(co.path), "--release", branch, "upload", h.filename],
                                      cwd=co.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      check=False, timeout=3600)
            finally:
                staged.unlink(missing_ok=True)
            if proc.returncode != 0:
                raise ForkliftError(redact(f"fedpkg upload {h.filename} failed: "
                                           f"{' / '.join(proc.stdout.strip().splitlines()[-2:])}"))
            git(["checkout", "-q", "--", "sources", ".gitignore"], co.path, check=False)
