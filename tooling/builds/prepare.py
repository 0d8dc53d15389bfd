"""From data to SRPM headers: render, resolve sources, build the SRPM (only when
its inputs changed), read its header. A package whose sources are missing is
reported, not fatal: the rest of the run goes on without it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from tooling.builds.cache import HashMemo
from tooling.builds.plan import SrpmInfo, read_srpm
from tooling.fsutil import atomic_write_text
from tooling.model import Matrix, Package, Target
from tooling.render import render_spec
from tooling.sources.cache import SourceCache
from tooling.sources.mirrors import Mirror
from tooling.sources.resolve import MissingSource, MissingSourcesError, resolve_sources


@dataclass(frozen=True)
class Prepared:
    target: Target
    package: Package
    info: SrpmInfo
    srpm_sha256: str
    srpm_reused: bool


def srpm_inputs_key(target: Target, package: Package, spec_text: str) -> str:
    """What an SRPM is made of: the spec, the sources' declared hashes, local files' contents, the macros."""
    h = hashlib.sha256()
    h.update(spec_text.encode())
    h.update(json.dumps(target.rpm_macros, sort_keys=True).encode())
    h.update(str(package.source_date_epoch).encode())
    for src in package.sources:
        h.update(src.file.encode())
        if src.hash is not None:
            h.update(src.hash.hexdigest.encode())
        else:
            h.update(hashlib.sha256((package.directory / src.file).read_bytes()).digest())
    for patch in package.patches:
        h.update(patch.file.encode())
        if patch.source is not None and patch.source.hash is not None:
            h.update(patch.source.hash.hexdigest.encode())
        else:
            h.update(hashlib.sha256((package.directory / patch.file).read_bytes()).digest())
    return h.hexdigest()


def prepare(
    matrix: Matrix,
    target: Target,
    package: Package,
    *,
    srpm_dir: Path,
    cache: SourceCache,
    mirrors: list[Mirror],
    offline: bool,
    memo: HashMemo,
) -> Prepared | list[MissingSource]:
    from tooling.srpm import build_srpm

    spec_text = render_spec(matrix, target, package)
    key = srpm_inputs_key(target, package, spec_text)
    stamp = srpm_dir / f".{package.name}.inputs.json"
    reused = False
    srpm: Path | None = None
    info_json = None
    sha = ""
    try:
        data = json.loads(stamp.read_text())
        candidate = srpm_dir / data["srpm"]
        # an SRPM is reused only when it was built from sources verified against these very hashes
        # (stamps from before that was recorded are not trusted) and it still has the bytes it was built with
        if (data["key"] == key and candidate.is_file() and data.get("verified") == verified_inputs(package)
                and memo.sha256(candidate) == data.get("srpm_sha256")):
            srpm, info_json, reused, sha = candidate, data.get("info"), True, data["srpm_sha256"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    if srpm is None:
        try:
            files = resolve_sources(package, cache=cache, mirrors=mirrors, offline=offline)
        except MissingSourcesError as exc:
            return exc.missing
        srpm = build_srpm(matrix, target, package, out_dir=srpm_dir, sources=files, spec_text=spec_text)
        sha = memo.sha256(srpm)
    if info_json and info_json.get("sha256") == sha:
        info = SrpmInfo.from_json(info_json["header"])
    else:
        info = read_srpm(srpm, macros=target.rpm_macros)
    if not reused:
        atomic_write_text(stamp, json.dumps({"key": key, "srpm": srpm.name, "srpm_sha256": sha,
                                             "verified": verified_inputs(package),
                                             "info": {"sha256": sha, "header": info.to_json()}}, indent=1))
    return Prepared(target=target, package=package, info=info, srpm_sha256=sha, srpm_reused=reused)


def verified_inputs(package: Package) -> dict[str, str]:
    """The hashes the sources of an SRPM were verified against when it was built (resolve_sources
    verifies every remote file, cached or not, against these)."""
    return {src.file: f"{src.hash.hashtype}:{src.hash.hexdigest}" for src in package.sources if src.hash is not None}
