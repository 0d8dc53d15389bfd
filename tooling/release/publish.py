"""``invoke publish``: the tree users point dnf at, in the shape of docker's download server::

    <dest>/<distro>/forklift.repo                     stable (enabled) and test (disabled) repositories
    <dest>/<distro>/gpg                               the public key (gpgkey= of the .repo file)
    <dest>/<distro>/<version>/<arch>/<channel>        -> .<channel>.d/<n>  (RPMs, repodata/, repomd.xml.asc)

``<version>`` is the target's %fedora / %rhel number (dnf's $releasever), ``<arch>`` dnf's $basearch;
noarch RPMs go into every arch directory. Each channel directory keeps the newest ``keep`` versions of
every package (name and arch). The input is a signed ``build/repos/<target>`` (``invoke sign``):
RPMs not signed by the configured key are refused, and repomd.xml is signed with it.

Plan (pure, ``plan_channel``): which files the channel should hold. When that is what it holds now
(same files, same bytes, same key), nothing is written at all: publishing the same inputs again leaves
the tree byte-identical. Otherwise the new version is staged beside the old one and swapped in with
one rename (tooling/release/atomic.py): a publish that dies half-way leaves the previous tree serving.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_bytes, atomic_write_text
from tooling.model import Target
from tooling.release import atomic, gpg, rpminfo
from tooling.release.placeholders import refuse_placeholders, rpm_placeholders
from tooling.release.sign import KEY_FILE, createrepo

CHANNELS = ("stable", "test")
DEFAULT_KEEP = 3
MANIFEST = ".forklift-publish.json"
REPO_FILE = "forklift.repo"
PUBLIC_KEY = "gpg"


@dataclass(frozen=True)
class Entry:
    """One RPM file of a channel (or one to add)."""

    filename: str
    name: str
    arch: str
    evr: tuple[str, str, str]  # epoch, version, release
    sha256: str
    source: Path


def _cmp_evr(a: Entry, b: Entry) -> int:
    import rpm

    return int(rpm.labelCompare(a.evr, b.evr))


def plan_channel(current: Sequence[Entry], incoming: Sequence[Entry], keep: int) -> list[Entry]:
    """The files a channel holds after publishing ``incoming`` onto ``current``: per (name, arch) the
    newest ``keep`` versions; an incoming file replaces a current one of the same file name (pure)."""
    by_file = {e.filename: e for e in current}
    for e in incoming:
        by_file[e.filename] = e
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in by_file.values():
        groups.setdefault((e.name, e.arch), []).append(e)
    kept: list[Entry] = []
    for entries in groups.values():
        entries.sort(key=functools.cmp_to_key(_cmp_evr), reverse=True)
        kept.extend(entries[:keep])
    return sorted(kept, key=lambda e: e.filename)


def manifest(entries: Sequence[Entry], fingerprint: str) -> dict[str, object]:
    return {"key": fingerprint, "files": {e.filename: e.sha256 for e in sorted(entries, key=lambda e: e.filename)}}


def repo_file(distro: str, base_url: str) -> str:
    """The .repo file of one distro: every channel, stable enabled (pure)."""
    base = base_url.rstrip("/")
    parts = []
    for channel in CHANNELS:
        parts.append(
            f"[forklift-{channel}]\n"
            f"name=Forklift {channel} - {distro} $releasever - $basearch\n"
            f"baseurl={base}/{distro}/$releasever/$basearch/{channel}\n"
            f"enabled={1 if channel == 'stable' else 0}\n"
            "gpgcheck=1\n"
            "repo_gpgcheck=1\n"
            f"gpgkey={base}/{distro}/{PUBLIC_KEY}\n")
    return "\n".join(parts)


def check_base_url(base_url: str) -> str:
    if not re.match(r"^(https?|file)://[^\s@]+$", base_url):
        raise ForkliftError(f"--base-url {base_url}: expected an http://, https:// or file:// URL "
                            "without credentials (where users reach --dest)")
    return base_url


def check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ForkliftError(f"--channel {channel}: unknown channel (known: {', '.join(CHANNELS)})")
    return channel


def check_keep(keep: int) -> int:
    if keep < 1:
        raise ForkliftError(f"--keep {keep}: keep at least 1 version of each package")
    return keep


@dataclass(frozen=True)
class ChannelResult:
    path: Path
    files: tuple[str, ...]
    changed: bool


def _entries(infos: Sequence[rpminfo.RpmInfo]) -> list[Entry]:
    return [Entry(i.path.name, i.name, i.arch, (str(i.epoch or 0), i.version, i.release), rpminfo.sha256(i.path),
                  i.path) for i in infos]


def _current_manifest(cur: Path | None) -> dict[str, object] | None:
    if cur is None or not (cur / MANIFEST).is_file():
        return None
    try:
        data = json.loads((cur / MANIFEST).read_text())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def publish(build_dir: Path, target: Target, dest: Path, channel: str, cfg: gpg.KeyConfig, *,
            keep: int = DEFAULT_KEEP, base_url: str | None = None,
            allow_placeholders: bool = False) -> list[ChannelResult]:
    """Publish the signed build/repos/<target> into ``dest``'s channel. The stable channel refuses
    placeholder URLs and identities unless ``allow_placeholders`` (a throw-away tree of local builds,
    as the smoke test's guest reads: never from the CLI)."""
    check_channel(channel)
    check_keep(keep)
    dest = Path(os.path.abspath(dest))
    base = check_base_url(base_url) if base_url else dest.as_uri()
    if dest.exists() and not dest.is_dir():
        raise ForkliftError(f"--dest {dest}: not a directory")
    link = build_dir / "repos" / target.name
    src = atomic.current(link)
    if src is None:
        raise ForkliftError(f"{link}: no repository for target {target.name}: run invoke build -t {target.name} first")
    if not (src / KEY_FILE).is_file():
        raise ForkliftError(f"{link}: not signed (no {KEY_FILE}): run invoke sign -t {target.name} first")
    rpms = sorted(p for p in src.glob("*.rpm") if not p.name.endswith(".src.rpm"))
    if not rpms:
        raise ForkliftError(f"{link}: the repository holds no binary RPMs: run invoke build -t {target.name} first")
    infos = [rpminfo.info(p) for p in rpms]  # read once: the placeholder check and the entries
    if channel == "stable" and not allow_placeholders:
        refuse_placeholders(rpm_placeholders(infos), f"publish --channel stable of {link}")
    exported = (src / KEY_FILE).read_bytes()
    verdicts = gpg.verify_rpms(rpms, exported)
    for path, verdict in sorted(verdicts.items()):
        if verdict != "ok":
            what = {"unsigned": "is not signed", "other-key": "is signed by another key",
                    "bad": "does not verify (corrupt or tampered with)"}[verdict]
            raise ForkliftError(f"{path.name} in {link} {what}: run invoke sign -t {target.name}")
    incoming = _entries(infos)
    dest.mkdir(parents=True, exist_ok=True)
    with _DestLock(dest), gpg.open_signer(cfg) as signer:
        public = signer.public_key()
        if public != exported:
            raise ForkliftError(f"{link} was signed with another key than {signer.key.short_id}: "
                                f"run invoke sign -t {target.name} with this key")
        distro_dir = dest / target.distro
        version_dir = distro_dir / str(target.version)
        arches = sorted({e.arch for e in incoming if e.arch != "noarch"} or {target.arch})
        if version_dir.is_dir():  # arch directories published before get the noarch updates too
            arches = sorted(set(arches) | {p.name for p in version_dir.iterdir()
                                           if not p.name.startswith(".") and (p / channel).exists()})
        _write_if_changed(distro_dir / PUBLIC_KEY, public)
        _write_if_changed(distro_dir / REPO_FILE, repo_file(target.distro, base).encode())
        results = []
        for arch in arches:
            results.append(_publish_channel(version_dir / arch / channel,
                                            [e for e in incoming if e.arch in (arch, "noarch")], keep, signer))
        return results


class _DestLock:
    """One publish at a time per --dest (flock on <dest>/.forklift-publish.lock)."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / ".forklift-publish.lock"
        self.fd = -1

    def __enter__(self) -> _DestLock:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise ForkliftError(f"--dest {self.path.parent}: another publish is running there (lock "
                                f"{self.path.name}): wait for it") from None
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    atomic_write_bytes(path, data)


def _publish_channel(link: Path, incoming: list[Entry], keep: int, signer: gpg.Signer) -> ChannelResult:
    cur = atomic.current(link)
    current = _entries([rpminfo.info(p) for p in sorted(cur.glob("*.rpm"))]) if cur is not None else []
    planned = plan_channel(current, incoming, keep)
    wanted = manifest(planned, signer.fingerprint)
    if _current_manifest(cur) == wanted and cur is not None and (cur / "repodata" / "repomd.xml.asc").is_file():
        return ChannelResult(link, tuple(e.filename for e in planned), False)
    staged = atomic.staging(link)
    try:
        for e in planned:
            if cur is not None and e.source.parent == cur:
                os.link(e.source, staged / e.filename)  # what stays: a hard link, no copy
            else:
                shutil.copy2(e.source, staged / e.filename)  # from the build tree: a copy of its own
        atomic.fault_point("publish:after-copy")
        createrepo(staged)
        atomic.fault_point("publish:after-createrepo")
        signer.detach_sign(staged / "repodata" / "repomd.xml")
        atomic_write_text(staged / MANIFEST, json.dumps(wanted, indent=1, sort_keys=True) + "\n")
        atomic.fault_point("publish:before-swap")
        atomic.swap_in(link, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return ChannelResult(link, tuple(e.filename for e in planned), True)
