"""``invoke release-report``: what went into a release, as Markdown and a self-contained HTML page.

Gathers (``gather``, reading files), then builds one JSON-ready record (``assemble``, pure), then
renders it (``markdown`` and ``html``, pure). Sections:

- packages: NVRs, the upstream version and commit each was built from (package.toml), signing key;
- changelog entries since the previous release (``--previous`` release.json, else the last report in
  the output directory, else every entry);
- CVEs: ``specs/<package>/security.toml`` through tooling/security.py (docs/security.md is the human
  view of the same data); a note where a package has no record or the module is absent;
- build times: the build's ``--json`` report (tooling/builds/report.py);
- smoke verdicts: ``build/smoke/<target>/junit.xml``;
- SBOMs: one SPDX 2.3 document per RPM (tooling/release/sbom.py), validated with spdx-tools;
- reproducibility: each RPM's payload digest against a second build of the same inputs
  (``--rebuild-dir``), with the reason where they differ;
- SHA256 of every file of the release (also as ``SHA256SUMS``).

The output directory is written as a whole (staged, then swapped in: tooling/release/atomic.py).
"""

from __future__ import annotations

import html as h
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import Matrix, Package, Target
from tooling.release import atomic, rpminfo, sbom
from tooling.release.rpminfo import RpmInfo

REPORT_JSON = "release.json"


# --------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    target: str
    rpms: list[RpmInfo]
    sha256: dict[str, str]  # file name -> sha256 of the RPM
    packages: Mapping[str, Package]
    previous: dict[str, str] | None  # source package -> EVR of the previous release
    previous_note: str
    cves: dict[str, list[dict[str, str]]] | None  # package -> rows; None: no CVE data at all
    cve_note: str
    build_times: dict[str, dict[str, Any]] | None  # package -> {seconds, status, nvr}
    build_note: str
    smoke: list[dict[str, str]] | None
    smoke_note: str
    rebuild: dict[str, RpmInfo] | None  # file name -> the rebuild's RPM
    rebuild_note: str
    sboms: dict[str, str] = field(default_factory=dict)  # RPM file name -> SBOM path (relative)
    sbom_problems: dict[str, list[str]] = field(default_factory=dict)
    other_files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256 (the SBOMs)


def load_build_json(path: Path, target: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ForkliftError(f"--build-json {path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ForkliftError(f"--build-json {path}: not JSON ({exc})") from None
    except OSError as exc:
        raise ForkliftError(f"--build-json {path}: cannot read it ({exc.strerror})") from None
    builds = data.get("builds") if isinstance(data, dict) else None
    if not isinstance(builds, list):
        raise ForkliftError(f"--build-json {path}: not a build report (no 'builds' list; write it with invoke build --json)")
    out: dict[str, dict[str, Any]] = {}
    for b in builds:
        if isinstance(b, dict) and b.get("target") == target and isinstance(b.get("package"), str):
            out[b["package"]] = {"seconds": float(b.get("seconds") or 0), "status": str(b.get("status", "")),
                                 "nvr": str(b.get("nvr", ""))}
    return out


def load_previous(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data["release"].items()}
    except FileNotFoundError:
        raise ForkliftError(f"--previous {path}: no such file") from None
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise ForkliftError(f"--previous {path}: not a release.json of invoke release-report") from None


def load_smoke(junit: Path) -> list[dict[str, str]]:
    try:
        root = ET.parse(junit).getroot()
    except (ET.ParseError, OSError) as exc:
        raise ForkliftError(f"{junit}: not a JUnit XML file ({exc})") from None
    rows = []
    for case in root.iter("testcase"):
        failure = case.find("failure")
        skipped = case.find("skipped")
        if failure is not None:
            verdict, detail = "FAIL", failure.get("message", "")
        elif skipped is not None:
            verdict, detail = "SKIP", skipped.get("message", "")
        else:
            verdict, detail = "PASS", ""
        rows.append({"check": case.get("name", ""), "verdict": verdict, "seconds": case.get("time", ""),
                     "detail": detail})
    return rows


def load_cves(packages: Sequence[Package]) -> tuple[dict[str, list[dict[str, str]]] | None, str]:
    try:
        from tooling import security
    except ImportError:
        return None, "no CVE data: tooling/security.py (specs/<package>/security.toml) is not in this checkout"
    out: dict[str, list[dict[str, str]]] = {}
    missing = []
    for p in packages:
        rec = security.load(p)
        if rec is None:
            missing.append(p.name)
            continue
        out[p.name] = [{"id": c.id, "component": c.component, "severity": c.severity, "status": c.status,
                        "summary": c.summary,
                        "how": ", ".join(c.patches) if c.patches else (f"fixed in {c.fixed_in}" if c.fixed_in else c.reason)}
                       for c in rec.cves]
    note = (f"no CVE record (specs/<package>/security.toml) for: {', '.join(missing)}" if missing else "")
    return out, note


def gather(matrix: Matrix, target: Target, build_dir: Path, *, build_json: Path | None, previous: Path | None,
           rebuild_dir: Path | None, out_dir: Path) -> Inputs:
    link = build_dir / "repos" / target.name
    cur = atomic.current(link)
    if cur is None:
        raise ForkliftError(f"{link}: no repository for target {target.name}: run invoke build -t {target.name} first")
    paths = sorted(cur.glob("*.rpm"))
    if not paths:
        raise ForkliftError(f"{link}: the repository holds no RPMs: run invoke build -t {target.name} first")
    rpms = [rpminfo.info(p) for p in paths]
    sha = {p.name: rpminfo.sha256(p) for p in paths}
    used = {}
    for i in rpms:
        pkg = sbom.package_for(i, matrix.packages)
        if pkg is not None:
            used[pkg.name] = pkg
    # previous release
    prev: dict[str, str] | None
    if previous is not None:
        prev, prev_note = load_previous(previous), f"since the release in {previous}"
    else:
        prev, prev_note = _previous_from(out_dir / REPORT_JSON, rpms)
    cves, cve_note = load_cves(list(used.values()))
    if build_json is not None:
        times, build_note = load_build_json(build_json, target.name), f"from {build_json}"
    else:
        times, build_note = None, "no build report given: pass --build-json FILE (written by invoke build --json FILE)"
    junit = build_dir / "smoke" / target.name / "junit.xml"
    if junit.is_file():
        smoke, smoke_note = load_smoke(junit), f"from {junit}"
    else:
        smoke, smoke_note = None, f"no smoke report ({junit}): run invoke smoke -t {target.name}"
    rebuild: dict[str, RpmInfo] | None = None
    if rebuild_dir is not None:
        other = atomic.current(rebuild_dir / "repos" / target.name)
        if other is None:
            raise ForkliftError(f"--rebuild-dir {rebuild_dir}: no repos/{target.name} in it "
                                f"(a second invoke build --build-dir {rebuild_dir} -t {target.name})")
        rebuild = {p.name: rpminfo.info(p) for p in sorted(other.glob("*.rpm"))}
        rebuild_note = f"payload digests against the build in {rebuild_dir}"
    else:
        rebuild_note = ("not checked: pass --rebuild-dir DIR, a second build of the same inputs "
                        f"(invoke build --build-dir DIR -t {target.name})")
    return Inputs(target.name, rpms, sha, used, prev, prev_note, cves, cve_note, times, build_note, smoke,
                  smoke_note, rebuild, rebuild_note)


def _previous_from(report: Path, rpms: Sequence[RpmInfo]) -> tuple[dict[str, str] | None, str]:
    """The previous release from the last report in the output directory: its release, or (a report
    of this same release, written again) the release before it."""
    if not report.is_file():
        return None, "no previous release known (--previous): every entry"
    try:
        data = json.loads(report.read_text())
        last = {str(k): str(v) for k, v in data["release"].items()}
        before = data.get("previous")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, f"{report} unreadable: every entry"
    if last != _release_of(rpms):
        return last, f"since the last report ({report})"
    if isinstance(before, dict):
        return {str(k): str(v) for k, v in before.items()}, "since the release before this one (last report)"
    return None, "no previous release known (--previous): every entry"


def _source_name(i: RpmInfo) -> str:
    src = i.source_rpm.removesuffix(".src.rpm") if i.source_rpm else i.nvr
    return src.rsplit("-", 2)[0]


def _release_of(rpms: Sequence[RpmInfo]) -> dict[str, str]:
    """Source package name -> EVR, from the binary RPMs."""
    return dict(sorted((_source_name(i), i.evr) for i in rpms))


# --------------------------------------------------------------------------- the record (pure)


def _evr_newer(evr: str, than: str) -> bool:
    import rpm

    def split(x: str) -> tuple[str, str, str]:
        epoch, _, vr = x.rpartition(":")
        v, _, r = vr.partition("-")
        return (epoch or "0", v, r)

    return bool(rpm.labelCompare(split(evr), split(than)) > 0)


def reproducibility(a: RpmInfo, b: RpmInfo | None) -> tuple[str, str]:
    """(verdict, reason) for one RPM against the same RPM of a second build (pure)."""
    if b is None:
        return "not compared", "missing from the second build"
    if a.payload_digest and a.payload_digest == b.payload_digest:
        return "reproducible", "identical payload digest"
    fa = {f.path: f for f in a.files}
    fb = {f.path: f for f in b.files}
    if set(fa) != set(fb):
        diff = sorted(set(fa) ^ set(fb))
        return "differs", f"file lists differ: {', '.join(diff[:3])}"
    content = sorted(p for p in fa if fa[p].digest != fb[p].digest)
    if content:
        more = f" (+{len(content) - 3} more)" if len(content) > 3 else ""
        return "differs", f"file contents differ: {', '.join(content[:3])}{more}"
    mtimes = sorted(p for p in fa if fa[p].mtime != fb[p].mtime)
    if mtimes:
        return "differs", (f"same contents, file mtimes differ ({', '.join(mtimes[:3])}): the build did not clamp "
                           "them to SOURCE_DATE_EPOCH (rpm macros source_date_epoch_from_changelog and "
                           "clamp_mtime_to_source_date_epoch, set by Fedora's redhat-rpm-config)")
    modes = sorted(p for p in fa if fa[p].mode != fb[p].mode)
    if modes:
        return "differs", f"same contents, file modes differ: {', '.join(modes[:3])}"
    return "differs", "same files and metadata; the payload archive itself differs (compressor or cpio headers)"


def assemble(inp: Inputs) -> dict[str, Any]:
    release = _release_of(inp.rpms)
    packages = []
    for i in inp.rpms:
        pkg = sbom.package_for(i, inp.packages)
        packages.append({
            "file": i.path.name, "name": i.name, "nvr": i.nvr, "evr": i.evr, "arch": i.arch,
            "package": pkg.name if pkg else "", "upstream_version": pkg.version if pkg else i.version,
            "commit": str(pkg.vars.get("commit", "")) if pkg else "", "signed_by": i.signed_by,
            "sha256": inp.sha256[i.path.name], "sbom": inp.sboms.get(i.path.name, ""),
            "sbom_valid": not inp.sbom_problems.get(i.path.name),
        })
    changelog = []
    seen: set[str] = set()
    for i in inp.rpms:
        src = _source_name(i)
        if src in seen:
            continue
        seen.add(src)
        since = (inp.previous or {}).get(src)
        for c in i.changelog:
            if since and c.evr and not _evr_newer(c.evr, since):
                break
            changelog.append({"package": src, "evr": c.evr, "author": c.author.rsplit(" - ", 1)[0],
                              "text": c.text})
    repro = []
    for i in inp.rpms:
        if inp.rebuild is None:
            break
        verdict, reason = reproducibility(i, inp.rebuild.get(i.path.name))
        repro.append({"file": i.path.name, "verdict": verdict, "reason": reason})
    builds = []
    if inp.build_times is not None:
        for name, b in sorted(inp.build_times.items()):
            builds.append({"package": name, **b})
    cves: list[dict[str, str]] = []
    if inp.cves is not None:
        for name, rows in sorted(inp.cves.items()):
            cves.extend({"package": name, **r} for r in rows)
    return {
        "target": inp.target, "release": release, "previous": inp.previous,
        "packages": packages,
        "changelog": {"note": inp.previous_note, "entries": changelog},
        "cves": {"note": inp.cve_note, "available": inp.cves is not None, "rows": cves},
        "build_times": {"note": inp.build_note, "rows": builds},
        "smoke": {"note": inp.smoke_note, "rows": inp.smoke or []},
        "reproducibility": {"note": inp.rebuild_note, "rows": repro},
        "files": sorted([{"file": p["file"], "sha256": p["sha256"]} for p in packages]
                        + [{"file": k, "sha256": v} for k, v in inp.other_files.items()], key=lambda x: x["file"]),
    }


# --------------------------------------------------------------------------- renderers (pure)


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


def _sections(data: dict[str, Any]) -> list[tuple[str, str, str, list[str], list[list[str]]]]:
    """(id, title, note, headers, rows) of every table, shared by both renderers."""
    pk = data["packages"]
    return [
        ("packages", "Packages", "", ["RPM", "NVR", "arch", "upstream", "commit", "signed by"],
         [[p["file"], p["nvr"], p["arch"], p["upstream_version"], p["commit"] or "-", p["signed_by"] or "UNSIGNED"]
          for p in pk]),
        ("changelog", "Changes", data["changelog"]["note"], ["package", "version", "author", "entry"],
         [[c["package"], c["evr"], c["author"], c["text"]] for c in data["changelog"]["entries"]]),
        ("cves", "CVEs", data["cves"]["note"], ["package", "CVE", "component", "severity", "status", "how", "summary"],
         [[c["package"], c["id"], c["component"], c["severity"], c["status"], c["how"], c["summary"]]
          for c in data["cves"]["rows"]]),
        ("build-times", "Build times", data["build_times"]["note"], ["package", "NVR", "status", "seconds"],
         [[b["package"], b["nvr"], b["status"], f"{b['seconds']:.1f}"] for b in data["build_times"]["rows"]]),
        ("smoke", "Smoke verdicts", data["smoke"]["note"], ["check", "verdict", "seconds", "detail"],
         [[s["check"], s["verdict"], s["seconds"], s["detail"]] for s in data["smoke"]["rows"]]),
        ("sboms", "SBOMs (SPDX 2.3, validated with spdx-tools)", "", ["RPM", "SBOM", "valid"],
         [[p["file"], p["sbom"], "yes" if p["sbom_valid"] else "NO"] for p in pk]),
        ("reproducibility", "Reproducibility", data["reproducibility"]["note"], ["RPM", "result", "reason"],
         [[r["file"], r["verdict"], r["reason"]] for r in data["reproducibility"]["rows"]]),
        ("checksums", "SHA256 of every file", "", ["file", "SHA256"],
         [[f["file"], f["sha256"]] for f in data["files"]]),
    ]


def _title(data: dict[str, Any]) -> str:
    return f"Forklift release for {data['target']}: " + ", ".join(f"{k} {v}" for k, v in data["release"].items())


def markdown(data: dict[str, Any]) -> str:
    out = [f"# {_title(data)}", ""]
    for _id, title, note, headers, rows in _sections(data):
        out += [f"## {title}", ""]
        if note:
            out += [f"_{note}_", ""]
        if rows:
            if _id == "sboms":
                rows = [[r[0], f"[{r[1]}]({r[1]})" if r[1] else "-", r[2]] for r in rows]
            out += [*_md_table(headers, rows), ""]
        else:
            out += ["(none)", ""]
    return "\n".join(out)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; }
td.mono { font-family: monospace; word-break: break-all; }
p.note { color: #555; font-style: italic; }
.FAIL, .differs, .NO, .UNSIGNED { color: #a00; font-weight: bold; }
"""


def html(data: dict[str, Any]) -> str:
    """One page, no external resources (styles inline, no scripts): it renders from a file or an e-mail."""
    e = h.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{e(_title(data))}</title><style>{_CSS}</style></head><body>", f"<h1>{e(_title(data))}</h1>"]
    for sid, title, note, headers, rows in _sections(data):
        parts.append(f'<section id="section-{sid}"><h2>{e(title)}</h2>')
        if note:
            parts.append(f'<p class="note">{e(note)}</p>')
        if rows:
            parts.append(f'<table id="{sid}"><thead><tr>' + "".join(f"<th>{e(x)}</th>" for x in headers)
                         + "</tr></thead><tbody>")
            for r in rows:
                cells = []
                for n, c in enumerate(r):
                    text = e(str(c))
                    if sid == "sboms" and n == 1 and c:
                        text = f'<a href="{e(str(c))}">{text}</a>'
                    hexdigits = re.fullmatch(r"[0-9a-f]{40,64}", str(c))
                    mono = ' class="mono"' if hexdigits else f' class="{e(str(c))}"' if str(c).isalpha() else ""
                    cells.append(f"<td{mono}>{text}</td>")
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("</tbody></table>")
        else:
            parts.append("<p>(none)</p>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------- the task


def release_report(matrix: Matrix, target: Target, build_dir: Path, out_dir: Path, *, build_json: Path | None = None,
                   previous: Path | None = None, rebuild_dir: Path | None = None) -> Path:
    """Write release.md, release.html, release.json, sboms/ and SHA256SUMS into ``out_dir`` (a link to
    a complete version, swapped in at the end)."""
    import os

    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.exists() and not out_dir.is_dir():
        raise ForkliftError(f"--out {out_dir}: not a directory")
    inp = gather(matrix, target, build_dir, build_json=build_json, previous=previous, rebuild_dir=rebuild_dir,
                 out_dir=out_dir)
    staged = atomic.staging(out_dir)
    try:
        (staged / "sboms").mkdir()
        for i in inp.rpms:
            path = sbom.write(i, inp.sha256[i.path.name], rpminfo.payload_files(i.path),
                              sbom.package_for(i, matrix.packages), staged / "sboms")
            inp.sboms[i.path.name] = f"sboms/{path.name}"
            inp.sbom_problems[i.path.name] = sbom.validate(path)
            inp.other_files[f"sboms/{path.name}"] = rpminfo.sha256(path)
        data = assemble(inp)
        atomic_write_text(staged / REPORT_JSON, json.dumps(data, indent=1, sort_keys=True) + "\n")
        atomic_write_text(staged / "release.md", markdown(data))
        atomic_write_text(staged / "release.html", html(data))
        sums = [f"{f['sha256']}  {f['file']}" for f in data["files"]]
        atomic_write_text(staged / "SHA256SUMS", "\n".join(sums) + "\n")
        atomic.swap_in(out_dir, staged)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return out_dir
