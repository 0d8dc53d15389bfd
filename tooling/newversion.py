"""`invoke new-version`: move a package to a new upstream version.

Downloads (or finds in the mirrors) the new version's sources, hashes them
(SHA512; signatures checked where declared), stores them in the cache, and only
then writes, each file atomically: specs/<pkg>/sources, the `version` and
`release` values in package.toml (a minimal text edit: comments and layout
stay) and a new entry on top of specs/<pkg>/changelog.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tooling import sourcesfile
from tooling.errors import DataError, ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import PACKAGE_FILE, Matrix, Package, read_toml
from tooling.run import run
from tooling.sources.api import sources_config
from tooling.sources.cache import SourceCache
from tooling.sources.fetch import NotFoundError, TransientFailure, download
from tooling.sources.mirrors import Mirror, with_upstream
from tooling.sources.signature import verify_detached
from tooling.sourcesfile import SourceHash
from tooling.vendor import make_vendor_tarball

# the identity the first changelog entries were written with: a placeholder, never a release identity
FALLBACK_PACKAGER = "Forklift Maintainers <forklift@example.org>"
_VERSION_LINE = re.compile(r'^(?P<pre>version\s*=\s*)"(?P<value>[^"]*)"', re.M)
_RELEASE_LINE = re.compile(r"^(?P<pre>release\s*=\s*)(?P<value>\d+)", re.M)
_VALID_VERSION = re.compile(r"^[A-Za-z0-9._+~^]+$")


@dataclass(frozen=True)
class NewSource:
    file: str
    url: str | None  # None: a lookaside-only (vendored) file
    signature: str | None
    keyring: str | None


def planned_sources(package: Package, version: str) -> list[NewSource]:
    """The package's non-local sources as they will be at ``version`` (from the raw package.toml templates)."""
    raw = read_toml(package.directory / PACKAGE_FILE).get("sources", [])
    out: list[NewSource] = []
    for entry in raw:
        if entry.get("local"):
            continue
        url = entry["url"].format(version=version) if entry.get("url") else None
        file = entry["file"].format(version=version) if entry.get("file") else None
        if file is None:
            assert url is not None
            file = url.rsplit("/", 1)[-1].split("#", 1)[0]
        sig = entry["signature"].format(version=version) if entry.get("signature") else None
        out.append(NewSource(file, url, sig, entry.get("keyring")))
    return out


def bump_package_toml(text: str, version: str, path: Path) -> str:
    """Set version = "<version>" and release = 1, touching nothing else."""
    if not _VERSION_LINE.search(text):
        raise DataError(path, "version", 'no top-level `version = "..."` line to rewrite')
    if not _RELEASE_LINE.search(text):
        raise DataError(path, "release", "no top-level `release = N` line to rewrite")
    text = _VERSION_LINE.sub(lambda m: f'{m["pre"]}"{version}"', text, count=1)
    return _RELEASE_LINE.sub(lambda m: f"{m['pre']}1", text, count=1)


_IDENTITY = re.compile(r"^[^<>]+ <[^<>@\s]+@[^<>@\s]+>$")


def packager() -> str:
    """Who signs a changelog entry, looked up as rpmdev-packager does: RPM_PACKAGER, else rpm's
    %packager (~/.rpmmacros), else git's user.name/user.email. None of them set, or only the
    project's placeholder, is an error: a release names a real person."""
    found = ""
    where = ""
    env = os.environ.get("RPM_PACKAGER", "").strip()
    if env:
        found, where = env, "RPM_PACKAGER"
    elif shutil.which("rpm") and (macro := run(["rpm", "--eval", "%{?packager}"], check=False).stdout.strip()):
        found, where = macro, "rpm's %packager"
    elif shutil.which("git"):
        name = run(["git", "config", "user.name"], check=False).stdout.strip()
        email = run(["git", "config", "user.email"], check=False).stdout.strip()
        if name and email:
            found, where = f"{name} <{email}>", "git config user.name/user.email"
    how = ("set RPM_PACKAGER='Full Name <you@example.com>' (as rpmdev-packager reads it), "
           "or %packager in ~/.rpmmacros, or git config user.name and user.email")
    if not found:
        raise ForkliftError("no packager identity for the %changelog entry", hint=how)
    if not _IDENTITY.match(found):
        raise ForkliftError(f"packager identity {found!r} (from {where}) is not 'Full Name <email>'", hint=how)
    if found == FALLBACK_PACKAGER:
        raise ForkliftError(f"packager identity {found!r} (from {where}) is the project's placeholder", hint=how)
    return found


def changelog_entry(package: Package, version: str, who: str, when: dt.date) -> str:
    evr = (f"{package.epoch}:" if package.epoch is not None else "") + f"{version}-1"
    return f"* {when.strftime('%a %b %d %Y')} {who} - {evr}\n- Update to {version}\n"


def new_version(
    matrix: Matrix,
    package: str,
    version: str,
    *,
    offline: bool,
    cache_dir: Path | None,
    mirrors: list[str],
    today: dt.date | None = None,
    report: Callable[[str], None] = print,
) -> None:
    """Update specs/<package>/ to ``version``: sources (hashed), package.toml, changelog."""
    (pkg,) = matrix.select_packages([package])
    who = packager()  # before any download: a release needs a real changelog identity
    if not _VALID_VERSION.match(version) or "-" in version:
        raise ForkliftError(f"{version!r} is not a valid RPM version (letters, digits, . _ + ~ ^; no '-')")
    if version == pkg.version:
        raise ForkliftError(f"{pkg.name} is already at {version}", hint="to rebuild, bump `release` in package.toml")
    cache, mirror_list = sources_config(cache_dir, mirrors)
    hashes: list[SourceHash] = []
    missing: list[str] = []
    upstream_path: Path | None = None
    for ns in planned_sources(pkg, version):
        h = _obtain(pkg, ns, cache, mirror_list, offline)
        if isinstance(h, str) and ns.url is None and upstream_path is not None and not offline:
            # a vendor tarball not on any mirror yet: make it from the new upstream tarball
            made = make_vendor_tarball(upstream_path, ns.file, pkg.source_date_epoch, cache, report=report)
            h = made if made is not None else h
        if isinstance(h, str):
            missing.append(h)
            continue
        hashes.append(h)
        if ns.url is not None and upstream_path is None:
            upstream_path = cache.path_for(h)
    if missing:
        raise ForkliftError(
            f"{pkg.name} {version}: could not obtain every source; nothing was changed:\n" + "\n".join(missing),
            hint="check the version (is it tagged upstream?), add a mirror, or put the files in a --mirror dir:PATH; "
            f"a vendor tarball is made with `invoke vendor --package {pkg.name}` after this step "
            "(drop it from the mirrors until then)",
        )
    # every download verified: now write (each file atomically)
    toml_path = pkg.directory / PACKAGE_FILE
    new_toml = bump_package_toml(toml_path.read_text(encoding="utf-8"), version, toml_path)
    changelog_path = pkg.directory / "changelog"
    old_log = changelog_path.read_text(encoding="utf-8") if changelog_path.exists() else ""
    entry = changelog_entry(pkg, version, who, today or dt.datetime.now(dt.UTC).date())
    atomic_write_text(pkg.directory / "sources", sourcesfile.dump(hashes))
    atomic_write_text(toml_path, new_toml)
    atomic_write_text(changelog_path, entry + ("\n" + old_log if old_log.strip() else ""))
    for h in hashes:
        report(h.line())
    report(f"{pkg.name}: {pkg.version}-{pkg.release} -> {version}-1")


def _obtain(pkg: Package, ns: NewSource, cache: SourceCache, mirrors: list[Mirror], offline: bool) -> SourceHash | str:
    """Find the new file (no hash known yet), hash it into the cache; or a line saying where it looked."""
    tried: list[str] = []
    for m in with_upstream(mirrors):
        if offline and m.kind != "dir":
            continue
        if m.kind == "dir":
            for p in (Path(m.location) / pkg.name / ns.file, Path(m.location) / ns.file):
                if p.is_file():
                    tmp = cache.scratch(ns.file)
                    shutil.copyfile(p, tmp)
                    sig = p.with_name(ns.signature.rsplit("/", 1)[-1]) if ns.signature else None
                    return _admit(pkg, ns, cache, tmp, sig)
                tried.append(f"{p}: no such file")
            continue
        if m.kind == "lookaside":
            tried.append(f"{m.location}: lookaside needs the hash, which a new version does not have yet")
            continue
        urls = [ns.url] if m.kind == "upstream" and ns.url else []
        if m.kind == "url":
            urls = [f"{m.location.rstrip('/')}/{pkg.name}/{ns.file}", f"{m.location.rstrip('/')}/{ns.file}"]
        for url in urls:
            tmp = cache.scratch(ns.file)
            tmp.unlink()
            try:
                download(url, tmp)
            except (NotFoundError, TransientFailure) as exc:
                cache.discard(tmp)
                tried.append(str(exc))
                continue
            sig_path = None
            if ns.signature:
                sig_path = cache.scratch(ns.file + ".sig")
                sig_path.unlink()
                download(ns.signature, sig_path)
            return _admit(pkg, ns, cache, tmp, sig_path)
    return f"  {ns.file}:\n" + "\n".join(f"    looked in {t}" for t in tried)


def _admit(pkg: Package, ns: NewSource, cache: SourceCache, tmp: Path, sig: Path | None) -> SourceHash:
    if ns.signature and ns.keyring:
        if sig is None or not sig.is_file():
            cache.discard(tmp)
            raise ForkliftError(f"{pkg.name}: {ns.file} declares a signature but {sig} was not found")
        try:
            verify_detached(tmp, sig, pkg.directory / ns.keyring, what=f"{pkg.name}: {ns.file}")
        except ForkliftError:
            cache.reject(tmp, ns.file)
            raise
        finally:
            if sig.is_relative_to(cache.root):
                cache.discard(sig)
    h, _ = cache.add_unhashed(tmp, ns.file)
    return h
