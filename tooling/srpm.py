"""Reproducible source RPMs: ``rpmbuild -bs`` in a private top dir.

Same inputs (spec text, source bytes, target macros, SOURCE_DATE_EPOCH, rpm
version) give byte-identical SRPMs. What makes it so:

- SOURCE_DATE_EPOCH from the package data, ``use_source_date_epoch_as_buildtime``
  (header build time) and ``clamp_mtime_to_source_date_epoch`` (file times);
- every file copied into a fresh _sourcedir with mode 0644 and its mtime set
  to SOURCE_DATE_EPOCH (the spec too);
- a fixed ``_buildhost``, a fixed source payload compression and file digest
  algorithm, and no signature-less variation from the environment (LANG=C.UTF-8,
  TZ=UTC, HOME in the temp dir so no ~/.rpmmacros is read).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_bytes, ensure_writable_dir
from tooling.model import Matrix, Package, Target
from tooling.render import render_spec
from tooling.run import run

BUILDHOST = "forklift"
SOURCE_PAYLOAD = "w9.gzdio"  # what Fedora uses for SRPMs
FILEDIGEST_SHA256 = "8"


def rpmbuild_argv(target: Target, package: Package, top: Path, spec: Path) -> list[str]:
    """The rpmbuild command line (pure: for tests and --dry-run)."""
    # rpm stores the expanded spec in the SRPM header (RPMTAG_SPEC): paths that
    # appear in it must not depend on the temp dir. rpmbuild runs in ``top``
    # with relative directories only (rpmbuild creates the build dirs: they stay in ``top``).
    defines = {
        "_topdir": ".",
        "_sourcedir": "SOURCES",
        "_specdir": "SPECS",
        "_srcrpmdir": "SRPMS",
        "_rpmdir": "RPMS",
        "_builddir": "BUILD",
        "_buildrootdir": "BUILDROOT",
        "_buildhost": BUILDHOST,
        "use_source_date_epoch_as_buildtime": "1",
        "clamp_mtime_to_source_date_epoch": "1",
        "source_date_epoch_from_changelog": "0",
        "_source_payload": SOURCE_PAYLOAD,
        "_source_filedigest_algorithm": FILEDIGEST_SHA256,
        "_srcrpmfilename": "%%{NAME}-%%{VERSION}-%%{RELEASE}.src.rpm",
        "_disable_source_fetch": "1",
    }
    argv = ["rpmbuild", "-bs", "--nodeps"]
    for k, v in defines.items():
        argv += ["--define", f"{k} {v}"]
    return [*argv, *target.macro_args(), str(spec.relative_to(top))]


def build_srpm(
    matrix: Matrix,
    target: Target,
    package: Package,
    *,
    out_dir: Path,
    sources: dict[str, Path],
    spec_text: str | None = None,
) -> Path:
    """Build the SRPM of ``package`` for ``target`` into ``out_dir`` (written atomically); return its path.

    ``sources`` maps each Source/Patch file name to a verified file (resolve_sources()).
    """
    text = spec_text if spec_text is not None else render_spec(matrix, target, package)
    epoch = package.source_date_epoch
    with tempfile.TemporaryDirectory(prefix=f"forklift-srpm-{package.name}-") as tmp:
        top = Path(tmp)
        for d in ("SOURCES", "SPECS", "SRPMS", "BUILD", "BUILDROOT", "home"):
            (top / d).mkdir()
        spec = top / "SPECS" / f"{package.name}.spec"
        spec.write_text(text, encoding="utf-8")
        _pin(spec, epoch)
        for name, src in sorted(sources.items()):
            if not src.is_file():
                raise ForkliftError(f"{package.name}: source {name} is not a file: {src}",
                                    hint="resolve sources first (invoke sources)")
            dest = top / "SOURCES" / name
            shutil.copyfile(src, dest)
            _pin(dest, epoch)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(top / "home"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "TZ": "UTC",
            "SOURCE_DATE_EPOCH": str(epoch),
        }
        run(
            rpmbuild_argv(target, package, top, spec),
            env=env,
            cwd=top,
            hint=f"rendering {package.name} for {target.name}: check the spec with invoke lint",
        )
        built = sorted((top / "SRPMS").glob("*.src.rpm"))
        if len(built) != 1:
            raise ForkliftError(f"rpmbuild -bs for {package.name} ({target.name}) produced {len(built)} SRPMs, not 1")
        dest_path = out_dir / built[0].name
        atomic_write_bytes(dest_path, built[0].read_bytes())
        return dest_path


def _pin(path: Path, epoch: int) -> None:
    os.chmod(path, 0o644)
    os.utime(path, (epoch, epoch))


def build_srpms(
    matrix: Matrix,
    targets: list[str],
    packages: list[str],
    *,
    build_dir: Path,
    offline: bool,
    cache_dir: Path | None,
    mirrors: list[str],
) -> list[Path]:
    """`invoke srpm`: render, resolve sources and build SRPMs into ``build_dir/srpms/<target>/``.

    Targets and packages default to all (packages a target does not build are skipped).
    Sources are resolved first for every package; a MissingSourcesError lists ALL missing
    files across the packages before anything is built.
    """
    from tooling.sources.api import sources_config
    from tooling.sources.resolve import MissingSource, MissingSourcesError, resolve_sources

    pairs = matrix.pairs(targets or None, packages or None)
    ensure_writable_dir(build_dir, "--build-dir", create=False)
    cache, mirror_list = sources_config(cache_dir, mirrors)
    resolved: dict[str, dict[str, Path]] = {}
    missing: list[MissingSource] = []
    for _, pkg in pairs:
        if pkg.name in resolved:
            continue
        try:
            resolved[pkg.name] = resolve_sources(pkg, cache=cache, mirrors=mirror_list, offline=offline)
        except MissingSourcesError as exc:
            missing += exc.missing
            resolved[pkg.name] = {}
    if missing:
        raise MissingSourcesError(missing)
    return [
        build_srpm(matrix, target, pkg, out_dir=build_dir / "srpms" / target.name, sources=resolved[pkg.name])
        for target, pkg in pairs
    ]
