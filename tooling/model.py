"""Forklift's typed data model: targets and packages, loaded and validated once.

Every later stage receives these records and never reads the data files
again. Errors name the file and the key (DataError).

    specs/targets.toml              the target matrix (see its header comment)
    specs/<package>/package.toml    one package's data
    specs/<package>/sources         Fedora-style hashes of its remote sources
    specs/<package>/changelog       its %changelog entries, newest first
    specs/<package>/<package>.spec.j2   its template
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tooling import REPO_ROOT, sourcesfile
from tooling.errors import DataError
from tooling.sourcesfile import SourceHash

SPECS_DIR = REPO_ROOT / "specs"
TARGETS_FILE = "targets.toml"
PACKAGE_FILE = "package.toml"

FAMILIES = ("fedora", "el")
DISTROS = ("fedora", "centos-stream", "rhel")
_NAME = re.compile(r"^[a-z0-9][a-z0-9+._-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9._+~^]+$")
# a %changelog entry's header: "* Tue Dec 01 2026 Full Name <mail> - EVR"
_CHANGELOG_ENTRY = re.compile(
    r"^\*\s+\w{3}\s+\w{3}\s+\d{1,2}\s+\d{4}\s+(?P<name>.+?)\s+<(?P<email>[^>]+)>\s*(?:-\s*(?P<evr>\S+))?")

T = TypeVar("T")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Images:
    container: str
    cloud: str


@dataclass(frozen=True)
class Target:
    name: str
    family: str
    distro: str
    version: int
    arches: tuple[str, ...]
    mock_chroot_pattern: str
    koji_target: str
    dist: str
    macros: Mapping[str, str]
    features: Mapping[str, bool]
    images: Images
    eol: dt.date | None = None
    branch: str | None = None
    distgit_branch: str = ""  # the dist-git branch (f45, rawhide, epel9, ...); see default_distgit_branch

    @property
    def arch(self) -> str:
        """The primary architecture (the first listed)."""
        return self.arches[0]

    def mock_chroot(self, arch: str | None = None) -> str:
        return self.mock_chroot_pattern.format(arch=arch or self.arch)

    @property
    def rpm_macros(self) -> dict[str, str]:
        """Every macro this target defines, %dist included, sorted by name."""
        merged = dict(self.macros)
        merged["dist"] = self.dist
        return dict(sorted(merged.items()))

    def macro_args(self) -> list[str]:
        """``--define`` arguments for rpmbuild/rpmspec, one argv entry each."""
        args: list[str] = []
        for name, value in self.rpm_macros.items():
            args += ["--define", f"{name} {value}"]
        return args

    @property
    def label(self) -> str:
        return self.branch or str(self.version)


@dataclass(frozen=True)
class Source:
    """One Source of a package.

    kind is "remote" (downloaded from ``url``, hash in ``sources``), "lookaside"
    (no upstream URL: produced by ``invoke vendor``, hash in ``sources``,
    fetched from mirrors only) or "local" (a file in specs/<package>/).
    """

    index: int
    file: str
    kind: str
    url: str | None = None
    spec_url: str | None = None  # the URL as written into the spec (%{version} for the version)
    signature: str | None = None  # URL of a detached signature, if upstream publishes one
    keyring: str | None = None  # local keyring file (in specs/<package>/) for the signature
    hash: SourceHash | None = None

    @property
    def spec_value(self) -> str:
        return self.spec_url or self.url or self.file


@dataclass(frozen=True)
class Patch:
    """One Patch of a package: a file in specs/<package>/ (``source`` None), or a
    remote patch fetched by URL like a tarball, its hash in ``sources`` (``source``
    holds its URL and hash, as a remote Source)."""

    index: int
    file: str
    source: Source | None = None

    @property
    def spec_value(self) -> str:
        return self.source.spec_value if self.source else self.file


@dataclass(frozen=True)
class Package:
    name: str
    directory: Path
    version: str
    release: int
    summary: str
    license: str
    url: str
    source_date_epoch: int
    sources: tuple[Source, ...]
    patches: tuple[Patch, ...]
    vars: Mapping[str, Any]
    enabled_when: tuple[str, ...] = ()
    epoch: int | None = None
    changelog: str = ""
    notes: str = ""

    @property
    def template(self) -> Path:
        return self.directory / f"{self.name}.spec.j2"

    @property
    def remote_sources(self) -> tuple[Source, ...]:
        """Every file fetched by hash: remote and lookaside Sources, then remote Patches."""
        return tuple(s for s in self.sources if s.kind != "local") + tuple(
            p.source for p in self.patches if p.source is not None
        )

    @property
    def evr(self) -> str:
        prefix = f"{self.epoch}:" if self.epoch is not None else ""
        return f"{prefix}{self.version}-{self.release}"

    @property
    def changelog_author(self) -> tuple[str, str] | None:
        """(name, email) of the newest %changelog entry; None when its header does not parse."""
        lines = self.changelog.strip().splitlines()
        m = _CHANGELOG_ENTRY.match(lines[0]) if lines else None
        return (m["name"], m["email"]) if m else None

    def enabled_for(self, target: Target) -> bool:
        for cond in self.enabled_when:
            flag, want = (cond[1:], False) if cond.startswith("!") else (cond, True)
            if target.features[flag] != want:
                return False
        return True


@dataclass(frozen=True)
class Matrix:
    """Everything Forklift knows: the targets and the packages."""

    root: Path
    targets: Mapping[str, Target]
    packages: Mapping[str, Package]
    features: Mapping[str, str]  # flag -> description
    default_target: str
    home: str | None = None  # the project's public home (targets.toml `home`)

    def select_targets(self, names: list[str] | tuple[str, ...] | None) -> list[Target]:
        return _select(self.targets, names, "target", self.root / TARGETS_FILE)

    def select_packages(self, names: list[str] | tuple[str, ...] | None) -> list[Package]:
        return _select(self.packages, names, "package", self.root)

    def pairs(
        self,
        targets: list[str] | tuple[str, ...] | None = None,
        packages: list[str] | tuple[str, ...] | None = None,
        *,
        enabled_only: bool = True,
    ) -> list[tuple[Target, Package]]:
        """(target, package) pairs selected; by default without packages a target does not build
        (``enabled_when``). Every template still renders for every target (enabled_only=False)."""
        return [
            (t, p)
            for t in self.select_targets(targets)
            for p in self.select_packages(packages)
            if not enabled_only or p.enabled_for(t)
        ]


def _select(known: Mapping[str, T], names: list[str] | tuple[str, ...] | None, what: str, where: Path) -> list[T]:
    """The named entries of ``known`` in the given order (all of them for no names); unknown names are errors."""
    if not names:
        return list(known.values())
    for name in names:
        if name not in known:
            raise DataError(where, None, f"unknown {what} {name!r}", hint=f"known {what}s: {', '.join(known)}")
    return [known[name] for name in names]


# --------------------------------------------------------------------------- validation helpers


class _Table:
    """A TOML table with its file and dotted key, for precise errors."""

    def __init__(self, path: Path, key: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise DataError(path, key or None, f"expected a table, got {_tname(data)}")
        self.path = path
        self.key = key
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def _k(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def get(self, name: str, typ: type[T], default: Any = ..., *, desc: str = "") -> T:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise DataError(self.path, self._k(name), "missing required field" + (f" ({desc})" if desc else ""))
            return default
        value = self.data[name]
        ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if not ok:
            raise DataError(self.path, self._k(name), f"expected {typ.__name__}, got {_tname(value)} {value!r}")
        return value

    def table(self, name: str, default: Any = ...) -> _Table:
        value = self.get(name, dict, default)
        return _Table(self.path, self._k(name), value)

    def str_list(self, name: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(name, list, default)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise DataError(self.path, f"{self._k(name)}[{i}]", f"expected str, got {_tname(item)}")
        return tuple(value)

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        value = self.get(name, str)
        if value not in choices:
            raise DataError(self.path, self._k(name), f"{value!r} is not one of {', '.join(choices)}")
        return value

    def no_unknown(self) -> None:
        extra = sorted(set(self.data) - self.used)
        if extra:
            raise DataError(self.path, self._k(extra[0]), "unknown field", hint="check the spelling; see the file's header")


def _tname(value: Any) -> str:
    return {dict: "table", list: "array", str: "str", int: "int", bool: "bool", float: "float"}.get(
        type(value), type(value).__name__
    )


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, None, f"invalid TOML: {exc}") from None


# --------------------------------------------------------------------------- targets


def load_targets(path: Path) -> tuple[dict[str, Target], dict[str, str], str, str | None]:
    doc = _Table(path, "", read_toml(path))
    default = doc.get("default", str, desc="name of the default target")
    home = doc.get("home", str, None, desc="the project's public home page (an https:// URL)")
    if home is not None and not re.match(r"^https://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(/\S*)?$", home):
        raise DataError(path, "home", f"{home!r} is not an https:// URL", hint="e.g. home = \"https://forklift.dev\"")
    feats_t = doc.table("features")
    features: dict[str, str] = {}
    for name in sorted(feats_t.data):
        features[name] = feats_t.get(name, str)
    targets_t = doc.table("targets")
    doc.no_unknown()
    if not targets_t.data:
        raise DataError(path, "targets", "no targets defined")
    targets: dict[str, Target] = {}
    for name in targets_t.data:
        if not _NAME.match(name):
            raise DataError(path, f"targets.{name}", "target names are lower-case letters, digits, '.', '_', '-'")
        targets[name] = _load_target(targets_t.table(name), name, features)
    if default not in targets:
        raise DataError(path, "default", f"default target {default!r} is not defined", hint=f"one of {', '.join(targets)}")
    return targets, features, default, home.rstrip("/") if home else None


def _load_target(t: _Table, name: str, known_features: Mapping[str, str]) -> Target:
    family = t.choice("family", FAMILIES)
    distro = t.choice("distro", DISTROS)
    version = t.get("version", int)
    branch = t.get("branch", str, None)
    arches = t.str_list("arches")
    if not arches:
        raise DataError(t.path, f"{t.key}.arches", "at least one architecture is needed")
    chroot = t.get("mock_chroot", str)
    if "{arch}" not in chroot:
        raise DataError(t.path, f"{t.key}.mock_chroot", f"{chroot!r} must contain {{arch}}, e.g. 'fedora-45-{{arch}}'")
    koji_target = t.get("koji_target", str)
    dist = t.get("dist", str)
    if not re.match(r"^\.[a-z0-9_.]+$", dist):
        raise DataError(t.path, f"{t.key}.dist", f"{dist!r} is not a dist tag like '.fc45' or '.el9'")
    macros_t = t.table("macros")
    macros = {k: macros_t.get(k, str) for k in sorted(macros_t.data)}
    family_macro = "fedora" if family == "fedora" else "rhel"
    if macros.get(family_macro) != str(version):
        raise DataError(
            t.path, f"{t.key}.macros.{family_macro}",
            f"a {family} target must define %{family_macro} = \"{version}\" (its version)",
        )
    if "dist" in macros:
        raise DataError(t.path, f"{t.key}.macros.dist", "set %dist with the target's `dist` field, not in macros")
    feats_t = t.table("features")
    features: dict[str, bool] = {}
    for flag in sorted(feats_t.data):
        if flag not in known_features:
            raise DataError(
                t.path, f"{t.key}.features.{flag}", "unknown feature flag",
                hint=f"known flags (declared in [features]): {', '.join(known_features)}",
            )
        features[flag] = feats_t.get(flag, bool)
    missing = [f for f in known_features if f not in features]
    if missing:
        raise DataError(t.path, f"{t.key}.features.{missing[0]}", "feature flag not set for this target")
    img_t = t.table("images")
    images = Images(container=img_t.get("container", str), cloud=img_t.get("cloud", str))
    img_t.no_unknown()
    distgit_branch = t.get("distgit_branch", str, None) or default_distgit_branch(family, version, branch)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", distgit_branch):
        raise DataError(t.path, f"{t.key}.distgit_branch", f"{distgit_branch!r} is not a git branch name")
    eol_raw = t.get("eol", dt.date, None)
    if eol_raw is None and branch != "rawhide":
        raise DataError(t.path, f"{t.key}.eol", "missing required field (end-of-life date, YYYY-MM-DD)")
    t.no_unknown()
    return Target(
        name=name, family=family, distro=distro, version=version, arches=arches, mock_chroot_pattern=chroot,
        koji_target=koji_target, dist=dist, macros=macros, features=features, images=images, eol=eol_raw,
        branch=branch, distgit_branch=distgit_branch,
    )


def default_distgit_branch(family: str, version: int, branch: str | None) -> str:
    """Fedora's dist-git branch names: rawhide, f<version>; epel<version> for EL targets."""
    if branch == "rawhide":
        return "rawhide"
    return f"f{version}" if family == "fedora" else f"epel{version}"


# --------------------------------------------------------------------------- packages


def load_package(directory: Path, known_features: Mapping[str, str], home: str | None = None) -> Package:
    path = directory / PACKAGE_FILE
    t = _Table(path, "", read_toml(path))
    name = t.get("name", str)
    if name != directory.name:
        raise DataError(path, "name", f"{name!r} must equal the directory name {directory.name!r}")
    version = t.get("version", str)
    if not _VERSION.match(version) or "-" in version:
        raise DataError(path, "version", f"{version!r} is not a valid RPM version (no '-' or spaces)")
    release = t.get("release", int)
    if release < 0:
        raise DataError(path, "release", "must be 0 or a positive integer")
    epoch = t.get("epoch", int, None)
    summary = t.get("summary", str)
    if summary.endswith(".") or len(summary) > 79:
        raise DataError(path, "summary", "a Summary has no trailing period and fits in 79 characters")
    lic = t.get("license", str, desc="SPDX expression")
    url = t.get("url", str)
    if "{home}" in url:  # the packages whose upstream is this repository name the project's home
        if home is None:
            raise DataError(path, "url", f"{url!r} names {{home}}, but specs/{TARGETS_FILE} sets no `home`",
                            hint="set home = \"https://...\" (the project's public page) in specs/targets.toml")
        url = url.replace("{home}", home)
    if "{" in url:
        raise DataError(path, "url", f"{url!r}: the only placeholder a package URL may use is {{home}}")
    sde = t.get("source_date_epoch", int, desc="SOURCE_DATE_EPOCH for reproducible SRPMs")
    notes = t.get("notes", str, "")
    enabled_when = t.str_list("enabled_when", ())
    for i, cond in enumerate(enabled_when):
        flag = cond.removeprefix("!")
        if flag not in known_features:
            raise DataError(
                path, f"enabled_when[{i}]", f"unknown feature flag {flag!r}",
                hint=f"known flags: {', '.join(known_features)}",
            )
    hashes = {h.filename: h for h in sourcesfile.load(directory / "sources")}
    sources: list[Source] = []
    for i, raw in enumerate(t.get("sources", list, [])):
        sources.append(_load_source(_Table(path, f"sources[{i}]", raw), i, version, directory, hashes))
    patches: list[Patch] = []
    for i, raw in enumerate(t.get("patches", list, [])):
        patches.append(_load_patch(_Table(path, f"patches[{i}]", raw), i, directory, hashes))
    declared = {s.file for s in sources}
    for p in patches:
        if p.file in declared:
            raise DataError(path, f"patches[{p.index}]", f"{p.file} is both a source and a patch")
        declared.add(p.file)
    stale = sorted(set(hashes) - declared)
    if stale:
        raise DataError(
            directory / "sources", None, f"{stale[0]} has a hash but is not a source in {PACKAGE_FILE}",
            hint="remove the line or declare the source",
        )
    vars_t = t.get("vars", dict, {})
    t.no_unknown()
    if not (directory / f"{name}.spec.j2").is_file():
        raise DataError(directory, None, f"template {name}.spec.j2 is missing")
    changelog_path = directory / "changelog"
    changelog = changelog_path.read_text(encoding="utf-8").strip() if changelog_path.exists() else ""
    if not changelog:
        raise DataError(changelog_path, None, "missing or empty: every spec needs a %changelog")
    if not changelog.startswith("* "):
        raise DataError(changelog_path, "line 1", "a changelog entry starts with '* <date> <name> <email> - <evr>'")
    return Package(
        name=name, directory=directory, version=version, release=release, epoch=epoch, summary=summary,
        license=lic, url=url, source_date_epoch=sde, sources=tuple(sources), patches=tuple(patches),
        vars=dict(vars_t), enabled_when=enabled_when, changelog=changelog, notes=notes,
    )


def _load_source(
    st: _Table, index: int, version: str, directory: Path, hashes: Mapping[str, SourceHash]
) -> Source:
    url_tmpl = st.get("url", str, None)
    file = st.get("file", str, None)
    local = st.get("local", bool, False)
    sig = st.get("signature", str, None)
    keyring = st.get("keyring", str, None)
    st.no_unknown()
    url = url_tmpl.format(version=version) if url_tmpl else None
    spec_url = url_tmpl.replace("{version}", "%{version}") if url_tmpl else None
    if file is None:
        if url is None:
            raise DataError(st.path, f"{st.key}.file", "missing required field (a source needs `file` or `url`)")
        file = url.rsplit("/", 1)[-1].split("#", 1)[0]
    else:
        file = file.format(version=version)
    if local:
        if url:
            raise DataError(st.path, f"{st.key}.url", "a local source has no url")
        if not (directory / file).exists():
            raise DataError(st.path, f"{st.key}.file", f"local source {file} does not exist in {directory}")
        return Source(index=index, file=file, kind="local")
    if keyring and not (directory / keyring).is_file():
        raise DataError(st.path, f"{st.key}.keyring", f"{keyring} does not exist in {directory}")
    if sig and not keyring:
        raise DataError(st.path, f"{st.key}.keyring", "a signature needs a keyring to check it against")
    h = hashes.get(file)
    if h is None:
        raise DataError(
            directory / "sources", None, f"no hash for {file} (sources[{index}] of {PACKAGE_FILE})",
            hint=f"add 'SHA512 ({file}) = <hash>' (sha512sum --tag {file}), or run invoke new-version",
        )
    return Source(
        index=index, file=file, kind="remote" if url else "lookaside", url=url, spec_url=spec_url,
        signature=sig.format(version=version) if sig else None, keyring=keyring, hash=h,
    )


def _load_patch(pt: _Table, index: int, directory: Path, hashes: Mapping[str, SourceHash]) -> Patch:
    """``{file = "x.patch"}`` (in specs/<package>/) or ``{url = "https://.../<sha>.patch"}``
    (fetched and verified like a remote source: its SHA512 in ``sources``)."""
    url = pt.get("url", str, None)
    pfile = pt.get("file", str, None)
    pt.no_unknown()
    if url is None:
        if pfile is None:
            raise DataError(pt.path, f"{pt.key}.file", "missing required field (a patch needs `file` or `url`)")
        if not (directory / pfile).is_file():
            raise DataError(pt.path, f"{pt.key}.file", f"{pfile} does not exist in {directory}")
        return Patch(index=index, file=pfile)
    if pfile is not None:
        raise DataError(pt.path, f"{pt.key}.file", "a remote patch takes its file name from its url",
                        hint="rpm names it after the URL's last path component")
    if "{" in url:
        raise DataError(pt.path, f"{pt.key}.url", "a patch URL names one fixed commit, no {version}")
    name = url.rsplit("/", 1)[-1]
    if not name or "#" in url or "?" in url:
        raise DataError(pt.path, f"{pt.key}.url", f"{url!r} does not end in a file name (no query or #fragment)")
    if (directory / name).exists():
        raise DataError(pt.path, f"{pt.key}.url", f"{name} is fetched by URL but also exists in {directory}",
                        hint="fetched patches live in the source cache, never in the repository")
    h = hashes.get(name)
    if h is None:
        raise DataError(
            directory / "sources", None, f"no hash for {name} (patches[{index}] of {PACKAGE_FILE})",
            hint=f"add 'SHA512 ({name}) = <hash>' (sha512sum --tag {name})",
        )
    src = Source(index=index, file=name, kind="remote", url=url, spec_url=url, hash=h)
    return Patch(index=index, file=name, source=src)


# --------------------------------------------------------------------------- everything


def load(root: Path | None = None) -> Matrix:
    """Load and validate the whole matrix under ``root`` (default: this checkout's specs/)."""
    root = root or SPECS_DIR
    targets, features, default, home = load_targets(root / TARGETS_FILE)
    packages: dict[str, Package] = {}
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and (p / PACKAGE_FILE).exists()):
        pkg = load_package(directory, features, home)
        packages[pkg.name] = pkg
    if not packages:
        raise DataError(root, None, f"no packages found (no */{PACKAGE_FILE})")
    return Matrix(root=root, targets=targets, packages=packages, features=features, default_target=default,
                  home=home)


_cache: dict[Path, Matrix] = {}


def load_cached(root: Path | None = None) -> Matrix:
    root = (root or SPECS_DIR).resolve()
    if root not in _cache:
        _cache[root] = load(root)
    return _cache[root]


__all__ = ["Images", "Matrix", "Package", "Patch", "Source", "Target", "load", "load_cached"]
