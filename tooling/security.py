"""The CVE record of each package: ``specs/<package>/security.toml``.

One table per CVE (or advisory without a CVE id yet) known to affect the upstream
line a package ships, and how Forklift deals with it::

    [[cve]]
    id = "CVE-2024-41110"                  # or the GHSA id when no CVE was assigned
    ghsa = "GHSA-v23v-6jw2-98fq"           # optional
    component = "moby"                     # the upstream project, or a bundled one (tini, a Go module)
    summary = "AuthZ plugin bypass ..."
    severity = "critical (CVSS 9.9)"      # optional, as the advisory gives it
    status = "patched"                     # patched | fixed | not-affected | open
    patches = ["f9155186...patch"]         # patched: file names of the package's Patch entries
    tests = ["./pkg/authorization"]        # patched: Go packages whose upstream tests %check runs;
                                           # "./daemon:^TestCreateIfNotExists" runs only the tests that
                                           # regexp selects (go test -run) where the package's others
                                           # need root or a daemon
    fixed_in = "1.7.29"                    # fixed: the upstream version with the fix (<= the shipped one)
    reason = "..."                         # not-affected and open: why; anything else: a note
    upstream = ["moby 25.0 d5986c0430"]    # optional: where the fix is upstream

``render_markdown`` makes docs/security.md from these files (the human view);
the tests keep the two equal and check each status against the specs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import DataError
from tooling.model import Matrix, Package, _Table, read_toml

SECURITY_FILE = "security.toml"
STATUSES = ("patched", "fixed", "not-affected", "open")
_TEST = re.compile(r"^\./[\w./-]+(:[^\s'\\%]+)?$")
_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$")


@dataclass(frozen=True)
class Cve:
    id: str
    component: str
    summary: str
    status: str
    ghsa: str = ""
    severity: str = ""
    patches: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    fixed_in: str = ""
    reason: str = ""
    upstream: tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    package: str
    line: str  # what the CVEs were reviewed against, e.g. "moby 24.0.9, tini 0.19.0"
    reviewed: str  # date of the review, YYYY-MM-DD
    notes: str
    cves: tuple[Cve, ...]
    remote_patches: tuple[tuple[str, str], ...] = ()  # (file, url) of the package's patches fetched by URL
    local_patches: tuple[str, ...] = ()  # patches kept in specs/<package>/ (backports made here)
    # upstream commits that read like security fixes but were reviewed and are not carried: (commit, why)
    not_carried: tuple[tuple[str, str], ...] = ()

    def by_status(self, status: str) -> list[Cve]:
        return [c for c in self.cves if c.status == status]

    @property
    def check_tests(self) -> tuple[GoTest, ...]:
        """What %check runs: every patched CVE's ``tests``, one entry per Go package in order of first
        mention (%check runs them in one ``go test``, whose -run applies to every package). A package
        named whole once runs whole; otherwise its -run regexps are joined by ``|``."""
        runs: dict[str, list[str] | None] = {}
        for c in self.by_status("patched"):
            for text in c.tests:
                t = GoTest.parse(text)
                have = runs.setdefault(t.package, [])
                if have is None:
                    continue
                if not t.run:
                    runs[t.package] = None
                elif t.run not in have:
                    have.append(t.run)
        return tuple(GoTest(pkg, "" if rs is None else "|".join(rs)) for pkg, rs in runs.items())


@dataclass(frozen=True)
class GoTest:
    """One ``go test`` run of %check: a package, and optionally the -run regexp that selects its tests."""

    package: str
    run: str = ""

    @classmethod
    def parse(cls, text: str) -> GoTest:
        package, _, run = text.partition(":")
        return cls(package, run)

    @property
    def directory(self) -> str:
        """The package's directory relative to the source tree, as go test's run directory ends:
        ``./pkg/archive`` -> ``/pkg/archive``."""
        return self.package[1:].rstrip("/")


def load(package: Package) -> Record | None:
    """The package's record, or None when it has no security.toml."""
    path = package.directory / SECURITY_FILE
    if not path.exists():
        return None
    doc = _Table(path, "", read_toml(path))
    line = doc.get("line", str)
    reviewed = str(doc.get("reviewed", object))
    notes = doc.get("notes", str, "")
    cves: list[Cve] = []
    seen: set[str] = set()
    patch_files = {p.file for p in package.patches}
    not_carried: list[tuple[str, str]] = []
    for i, raw in enumerate(doc.get("not_carried", list, [])):
        nt = _Table(path, f"not_carried[{i}]", raw)
        commit, why = nt.get("commit", str), nt.get("reason", str)
        nt.no_unknown()
        if not re.fullmatch(r"[0-9a-f]{10,40}", commit):
            raise DataError(path, f"not_carried[{i}].commit", f"{commit!r} is not an abbreviated commit id")
        not_carried.append((commit, why.strip()))
    for i, raw in enumerate(doc.get("cve", list, [])):
        cves.append(_load_cve(_Table(path, f"cve[{i}]", raw), package, patch_files, seen))
    doc.no_unknown()
    _check_joinable(path, cves)
    return Record(
        package=package.name, line=line, reviewed=reviewed, notes=notes.strip(), cves=tuple(cves),
        remote_patches=tuple((p.file, p.source.url or "") for p in package.patches if p.source is not None),
        local_patches=tuple(p.file for p in package.patches if p.source is None),
        not_carried=tuple(not_carried),
    )


def _check_joinable(path: Path, cves: list[Cve]) -> None:
    """Two -run regexps of one package are joined with ``|`` (Record.check_tests); go test splits a
    -run regexp at ``/`` into subtest levels, so a subtest pattern cannot be joined with another."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for i, c in enumerate(cves):
        for t in map(GoTest.parse, c.tests):
            if t.run:
                runs.setdefault(t.package, []).append((i, t.run))
    for pkg, found in runs.items():
        distinct = {r for _, r in found}
        if len(distinct) > 1 and any("/" in r for r in distinct):
            i = next(i for i, r in found if "/" in r)
            raise DataError(path, f"cve[{i}].tests", f"{pkg}: a subtest -run regexp cannot be joined with the "
                            f"package's other selections ({' '.join(sorted(distinct))})",
                            hint="select the package's tests with one regexp, or with top-level test names only")


def _load_cve(t: _Table, package: Package, patch_files: set[str], seen: set[str]) -> Cve:
    cid = t.get("id", str)
    if not _ID.match(cid):
        raise DataError(t.path, f"{t.key}.id", f"{cid!r} is not a CVE-YYYY-N or GHSA-xxxx-xxxx-xxxx id")
    if cid in seen:
        raise DataError(t.path, f"{t.key}.id", f"{cid} is listed twice")
    seen.add(cid)
    status = t.choice("status", STATUSES)
    cve = Cve(
        id=cid, component=t.get("component", str), summary=t.get("summary", str), status=status,
        ghsa=t.get("ghsa", str, ""), severity=t.get("severity", str, ""),
        patches=t.str_list("patches", ()), tests=t.str_list("tests", ()), fixed_in=t.get("fixed_in", str, ""),
        reason=t.get("reason", str, "").strip(), upstream=t.str_list("upstream", ()),
    )
    t.no_unknown()
    for test in cve.tests:
        if not _TEST.match(test):
            raise DataError(t.path, f"{t.key}.tests", f"{test!r} is not ./PACKAGE or ./PACKAGE:REGEXP",
                            hint="a Go package path relative to the source tree, optionally ':' and a go test -run regexp")
    if status == "patched":
        if not cve.patches:
            raise DataError(t.path, f"{t.key}.patches", "a patched CVE names the Patch files that fix it")
        for f in cve.patches:
            if f not in patch_files:
                raise DataError(t.path, f"{t.key}.patches", f"{f} is not a patch of {package.name}",
                                hint="declare it in package.toml [[patches]]")
    elif cve.patches or cve.tests:
        raise DataError(t.path, f"{t.key}.patches", f"only a patched CVE has patches or tests (status {status})")
    if status == "fixed" and not cve.fixed_in:
        raise DataError(t.path, f"{t.key}.fixed_in", "a fixed CVE names the upstream version with the fix")
    if status in ("not-affected", "open") and not cve.reason:
        raise DataError(t.path, f"{t.key}.reason", f"say why the CVE is {status}")
    return cve


def load_all(matrix: Matrix) -> list[Record]:
    return [r for r in (load(p) for p in matrix.packages.values()) if r is not None]


# --------------------------------------------------------------------------- the human view

_HOW = {"patched": "patched", "fixed": "fixed by version", "not-affected": "does not apply", "open": "**OPEN**"}


def render_markdown(records: Iterable[Record]) -> str:
    out = [
        "# Security: the CVEs that affect what Forklift ships",
        "",
        "Generated from `specs/<package>/security.toml` by `tooling/security.py`; edit those files,",
        "then `.venv/bin/python -m tooling.security > docs/security.md`",
        "(`tests/packages/test_security.py` fails while this file and the data differ).",
        "",
        "Status: **patched** (a Patch in the spec, its upstream regression tests run in `%check`),",
        "**fixed by version** (the shipped upstream version has the fix), **does not apply**",
        "(with the reason), **OPEN** (affects what is shipped, no fix carried yet).",
        "",
        "The same test checks that every patched CVE's patches are in the rendered spec and apply in",
        "order to the cached upstream tarball with fuzz 0 (skipped while the tarball is not cached), that",
        "`%check` runs their upstream tests, and, with `FORKLIFT_MOBY_GIT=<a moby clone>`, that every",
        "commit on moby's release branch after the shipped tag that mentions security is carried or",
        "listed as not carried.",
        "",
    ]
    for r in records:
        counts = ", ".join(f"{len(r.by_status(s))} {_HOW[s].strip('*').lower()}" for s in STATUSES if r.by_status(s))
        out += [f"## {r.package}", "", f"Line reviewed: {r.line} (reviewed {r.reviewed}): {counts}.", ""]
        if r.notes:
            out += [r.notes, ""]
        out += ["| id | component | issue | status | how |", "| --- | --- | --- | --- | --- |"]
        for c in r.cves:
            ident = c.id + (f" / {c.ghsa}" if c.ghsa and c.ghsa != c.id else "")
            issue = c.summary + (f" ({c.severity})" if c.severity else "")
            how: list[str] = []
            if c.patches:
                how.append("patches: " + ", ".join(f"`{p}`" for p in c.patches))
            if c.tests:
                how.append("`%check` runs " + ", ".join(f"`{t}`" for t in c.tests))
            if c.fixed_in:
                how.append(f"fixed in {c.fixed_in}")
            if c.reason:
                how.append(c.reason)
            if c.upstream:
                how.append("upstream: " + ", ".join(c.upstream))
            cell = "; ".join(how).replace("|", "\\|").replace("\n", " ")
            out.append(f"| {ident} | {c.component} | {issue.replace('|', '/')} | {_HOW[c.status]} | {cell} |")
        out.append("")
        if r.remote_patches or r.local_patches or r.not_carried:
            out += _patch_notes(r)
    return "\n".join(out)


def _patch_notes(r: Record) -> list[str]:
    out = [f"### How the {r.package} patches are made", ""]
    if r.remote_patches:
        out += [
            "Fetched by URL like the tarballs (hash in `sources`, file in the source cache, never in git):",
            "",
            *[f"- `{f}`: <{u}>" for f, u in r.remote_patches],
            "",
            "**Hashes computed locally, to confirm once against GitHub.** GitHub cannot be reached from",
            "the build hosts, so each patch was made from the local mirror of the upstream repository",
            "with `git format-patch -1 --stdout <commit> > <commit>.patch` (git 2.39.5) and its SHA512",
            "written to `sources`; the file goes into the source cache or a `--mirror dir:` directory",
            "(`.cache/upstream/`). GitHub's `.patch` output is also `git format-patch` output but ends",
            "with its own git version line, so its bytes will likely differ: on a networked machine run",
            "`invoke sources -p " + r.package + "` once and, where the hash differs, replace the line in",
            "`sources` with the downloaded file's SHA512 (`sha512sum --tag`) after checking that the diff",
            "itself is the same (`diff <(sed '/^-- $/,$d' a.patch) <(sed '/^-- $/,$d' b.patch)`).",
            "",
        ]
    if r.not_carried:
        out += [
            "Upstream commits after the release that read like security fixes, reviewed and not carried:",
            "",
            *[f"- {c}: {why}" for c, why in r.not_carried],
            "",
        ]
    if r.local_patches:
        out += [
            "Backports made here (the upstream fix does not apply to this version as is), kept in",
            f"`specs/{r.package}/`; each names its upstream commits and what differs in its message:",
            "",
            *[f"- `{f}`" for f in r.local_patches],
            "",
        ]
    return out


def main() -> None:
    from tooling import model

    print(render_markdown(load_all(model.load())), end="")


if __name__ == "__main__":
    main()


__all__ = ["SECURITY_FILE", "STATUSES", "Cve", "GoTest", "Record", "load", "load_all", "render_markdown"]
