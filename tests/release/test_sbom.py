"""SPDX 2.3 SBOMs: checked by the SPDX project's own validator (spdx-tools), and against the RPM."""

from __future__ import annotations

import json
from pathlib import Path

from tooling import model
from tooling.release import rpminfo, sbom


def _write(rpm: Path, out: Path, package: model.Package | None = None) -> Path:
    info = rpminfo.info(rpm)
    return sbom.write(info, rpminfo.sha256(rpm), rpminfo.payload_files(rpm), package, out)


def test_sbom_is_valid_spdx_and_matches_the_rpm(rpms_dir: Path, tmp_path: Path) -> None:
    rpm = rpms_dir / "fktwo-2.0-1.noarch.rpm"
    path = _write(rpm, tmp_path)
    assert sbom.validate(path) == []
    doc = json.loads(path.read_text())
    assert doc["spdxVersion"] == "SPDX-2.3"
    info = rpminfo.info(rpm)
    # every regular payload file, with the SHA256 the RPM header records for it
    header = {"." + f.path: f.digest for f in info.files if f.is_regular}
    files = {f["fileName"]: {c["algorithm"]: c["checksumValue"] for c in f["checksums"]} for f in doc["files"]}
    assert set(files) == set(header)
    for name, sums in files.items():
        assert sums["SHA256"] == header[name] and len(sums["SHA1"]) == 40
    rpm_pkg = doc["packages"][0]
    assert rpm_pkg["checksums"] == [{"algorithm": "SHA256", "checksumValue": rpminfo.sha256(rpm)}]
    assert rpm_pkg["licenseDeclared"] == "MIT"
    bundled = [p for p in doc["packages"] if p["SPDXID"].startswith("SPDXRef-Bundled-")]
    assert [(p["name"], p["versionInfo"]) for p in bundled] == [("github.com/example/lib", "1.2.3")]
    assert bundled[0]["externalRefs"][0]["referenceLocator"] == "pkg:golang/github.com/example/lib@1.2.3"
    # the same RPM gives the same bytes
    again = _write(rpm, tmp_path / "again")
    assert again.read_bytes() == path.read_bytes()


def test_sbom_from_package_data_lists_commit_and_every_bundled_module(rpms_dir: Path, tmp_path: Path) -> None:
    """With the engine's package.toml: the upstream commit, and each vendored Go module at its exact version."""
    engine = model.load().packages["moby-engine-dm"]
    path = _write(rpms_dir / "fkone-1.0-1.noarch.rpm", tmp_path, engine)
    assert sbom.validate(path) == []
    doc = json.loads(path.read_text())
    upstream = next(p for p in doc["packages"] if p["SPDXID"].startswith("SPDXRef-Upstream-"))
    assert upstream["sourceInfo"] == f"upstream commit {engine.vars['commit']}"
    assert upstream["versionInfo"] == engine.version
    assert upstream["downloadLocation"].startswith("https://github.com/moby/moby/archive/")
    names = {(p["name"], p["versionInfo"]) for p in doc["packages"] if p["SPDXID"].startswith("SPDXRef-Bundled-")}
    assert len(names) == len(engine.vars["bundled"])
    assert ("github.com/opencontainers/runc", "v1.1.12") in names
    rels = {(r["relationshipType"], r["relatedSpdxElement"].split("-")[1]) for r in doc["relationships"]}
    assert ("GENERATED_FROM", "Upstream") in rels and ("CONTAINS", "Bundled") in rels


def test_the_validator_is_not_a_rubber_stamp(rpms_dir: Path, tmp_path: Path) -> None:
    path = _write(rpms_dir / "fkone-1.0-1.noarch.rpm", tmp_path)
    doc = json.loads(path.read_text())
    doc["files"][0]["checksums"] = [c for c in doc["files"][0]["checksums"] if c["algorithm"] != "SHA1"]
    doc["relationships"].append({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                                 "relatedSpdxElement": "SPDXRef-Nowhere"})
    broken = tmp_path / "broken.spdx.json"
    broken.write_text(json.dumps(doc))
    problems = " ".join(sbom.validate(broken))
    assert "SHA1" in problems and "SPDXRef-Nowhere" in problems
