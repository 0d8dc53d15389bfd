"""SPDX 2.3 JSON, one document per built RPM.

What it records:
- the RPM itself: name, EVR, arch, the SHA256 of the file, its declared licence (the License tag), a
  purl, and every regular file of its payload with SHA1 and SHA256 (read from the payload with the
  rpm bindings: SPDX 2.3 requires SHA1 for files, which rpm headers do not carry);
- the upstream it was built from (GENERATED_FROM): version, commit (package.toml ``vars.commit``),
  the first remote Source as download location, the licence of package.toml;
- every bundled component (CONTAINS): the Go modules of package.toml ``vars.bundled`` (exact module
  versions) and every other ``bundled(...)`` Provides of the RPM (tini, crates), with a purl and, where
  package.toml has ``<name>_commit``, the commit.

``document`` is pure (RPM facts and package data in, a JSON-ready dict out); the document's namespace
and creation time derive from the RPM's SHA256 and build time, so the same RPM always gives the same
bytes. Validation: ``validate`` runs the SPDX project's own library (spdx-tools) on the written file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import Package
from tooling.release.rpminfo import RpmInfo

NAMESPACE_BASE = "https://forklift.invalid/spdx"
TOOL = "Tool: forklift-release-0.1"
NOASSERTION = "NOASSERTION"


def _ref(text: str) -> str:
    """An SPDX identifier fragment: letters, digits, '.' and '-' only."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "x"


def _purl_rpm(info: RpmInfo) -> str:
    epoch = f"&epoch={info.epoch}" if info.epoch is not None else ""
    return f"pkg:rpm/forklift/{info.name}@{info.version}-{info.release}?arch={info.arch}{epoch}"


def _bundled(info: RpmInfo, package: Package | None) -> list[dict[str, str]]:
    """(ecosystem, name, version, commit) of every bundled component, package.toml first (exact Go versions)."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    pvars: Mapping[str, Any] = package.vars if package is not None else {}
    for line in pvars.get("bundled", []) or []:
        name, _, version = str(line).partition(" ")
        out[("golang", name)] = {"eco": "golang", "name": name, "version": version.strip(), "commit": ""}
    for eco, name, version in info.bundled():
        key = (eco, name)
        if key in out:
            continue
        commit = str(pvars.get(f"{name}_commit", ""))
        out[key] = {"eco": eco, "name": name, "version": version, "commit": commit}
    return [out[k] for k in sorted(out)]


def _purl(eco: str, name: str, version: str) -> str:
    kind = {"golang": "golang", "crate": "cargo", "npm": "npm", "python3dist": "pypi"}.get(eco, "generic")
    return f"pkg:{kind}/{name}@{version}" if version else f"pkg:{kind}/{name}"


def verification_code(sha1s: list[str]) -> str:
    """SPDX package verification code: SHA1 over the sorted SHA1s of the package's files."""
    return hashlib.sha1("".join(sorted(sha1s)).encode(), usedforsecurity=False).hexdigest()


def document(info: RpmInfo, rpm_sha256: str, contents: Mapping[str, bytes], package: Package | None) -> dict[str, Any]:
    """The SPDX 2.3 document of one RPM (pure)."""
    rpm_id = "SPDXRef-Package-" + _ref(info.name)
    files = []
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": rpm_id}]
    sha1s = []
    for n, path in enumerate(sorted(contents)):
        data = contents[path]
        sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        sha1s.append(sha1)
        fid = f"SPDXRef-File-{n}"
        files.append({"SPDXID": fid, "fileName": "." + path if path.startswith("/") else path,
                      "checksums": [{"algorithm": "SHA1", "checksumValue": sha1},
                                    {"algorithm": "SHA256", "checksumValue": hashlib.sha256(data).hexdigest()}],
                      "licenseConcluded": NOASSERTION, "copyrightText": NOASSERTION})
        relationships.append({"spdxElementId": rpm_id, "relationshipType": "CONTAINS", "relatedSpdxElement": fid})
    rpm_pkg: dict[str, Any] = {
        "SPDXID": rpm_id, "name": info.name, "versionInfo": info.evr, "supplier": "Organization: Forklift",
        "downloadLocation": NOASSERTION, "filesAnalyzed": bool(files),
        "checksums": [{"algorithm": "SHA256", "checksumValue": rpm_sha256}],
        "licenseConcluded": NOASSERTION, "licenseDeclared": _licence(info.license),
        "copyrightText": NOASSERTION, "summary": info.summary, "primaryPackagePurpose": "APPLICATION",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": _purl_rpm(info)}],
    }
    if files:
        rpm_pkg["packageVerificationCode"] = {"packageVerificationCodeValue": verification_code(sha1s)}
    packages = [rpm_pkg]
    up_id = "SPDXRef-Upstream-" + _ref(package.name if package else info.name)
    packages.append(_upstream(up_id, info, package))
    relationships.append({"spdxElementId": rpm_id, "relationshipType": "GENERATED_FROM", "relatedSpdxElement": up_id})
    for n, b in enumerate(_bundled(info, package)):
        bid = f"SPDXRef-Bundled-{n}-{_ref(b['name'])}"[:120]
        entry: dict[str, Any] = {
            "SPDXID": bid, "name": b["name"], "versionInfo": b["version"] or NOASSERTION,
            "downloadLocation": NOASSERTION, "filesAnalyzed": False, "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION, "copyrightText": NOASSERTION,
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": _purl(b["eco"], b["name"], b["version"])}],
        }
        if b["commit"]:
            entry["sourceInfo"] = f"upstream commit {b['commit']}"
        packages.append(entry)
        relationships.append({"spdxElementId": rpm_id, "relationshipType": "CONTAINS", "relatedSpdxElement": bid})
    created = dt.datetime.fromtimestamp(info.buildtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": info.nevra,
        "documentNamespace": f"{NAMESPACE_BASE}/{info.nevra}-{rpm_sha256[:16]}",
        "creationInfo": {"created": created, "creators": [TOOL, "Organization: Forklift"]},
        "packages": packages, "files": files, "relationships": relationships,
    }


def _licence(expr: str) -> str:
    """The RPM License tag as an SPDX expression, when it is one (Fedora uses SPDX since 2022)."""
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    try:
        licensing = get_spdx_licensing()
        parsed = licensing.parse(expr, validate=True, strict=True)
        return str(parsed) if parsed is not None else NOASSERTION
    except Exception:  # an old-style (callaway) licence tag: say nothing rather than something wrong
        return NOASSERTION


def _upstream(spdx_id: str, info: RpmInfo, package: Package | None) -> dict[str, Any]:
    if package is None:
        return {"SPDXID": spdx_id, "name": info.name, "versionInfo": info.version,
                "downloadLocation": info.url or NOASSERTION, "filesAnalyzed": False,
                "licenseConcluded": NOASSERTION, "licenseDeclared": _licence(info.license),
                "copyrightText": NOASSERTION, "comment": "no Forklift package data for this RPM"}
    remote = [s for s in package.sources if s.url]
    commit = str(package.vars.get("commit", ""))
    out: dict[str, Any] = {
        "SPDXID": spdx_id, "name": package.name, "versionInfo": package.version,
        "downloadLocation": remote[0].url if remote and remote[0].url else (package.url or NOASSERTION),
        "homepage": package.url or NOASSERTION, "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION, "licenseDeclared": _licence(package.license), "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "SOURCE",
    }
    if commit:
        out["sourceInfo"] = f"upstream commit {commit}"
    return out


def package_for(info: RpmInfo, packages: Mapping[str, Package]) -> Package | None:
    """The Forklift package an RPM was built from, by its source RPM's name."""
    src = info.source_rpm
    for name in sorted(packages, key=len, reverse=True):
        p = packages[name]
        if src.startswith(f"{name}-{p.version}-"):
            return p
    return None


def write(info: RpmInfo, rpm_sha256: str, contents: Mapping[str, bytes], package: Package | None,
          out_dir: Path) -> Path:
    doc = document(info, rpm_sha256, contents, package)
    path = out_dir / f"{info.nevra}.spdx.json"
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return path


def validate(path: Path) -> list[str]:
    """Messages of the SPDX project's validator (spdx-tools) for the document at ``path``; [] when valid."""
    try:
        from spdx_tools.spdx.parser.parse_anything import parse_file
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    except ImportError:
        raise ForkliftError("spdx-tools is not installed: pip install -e '.[dev]' (pyproject.toml)") from None
    try:
        doc = parse_file(str(path))
    except Exception as exc:  # the parser raises SPDXParsingError with a list of messages
        messages = getattr(exc, "messages", None) or [str(exc)]
        return [str(m) for m in messages]
    return [m.validation_message for m in validate_full_spdx_document(doc, "SPDX-2.3")]
