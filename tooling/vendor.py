"""`invoke vendor`: make the vendor tarball an offline build needs, and record it in `sources`.

Specs never reach the network in %prep/%build/%check: dependencies come from
a vendor tarball, a Source with no upstream URL (kind "lookaside") whose file
name ends in ``-vendor.tar.gz``. This module makes it from the upstream tarball:

- Rust (Cargo.toml): ``cargo vendor --locked --versioned-dirs vendor``;
- Go (go.mod): nothing when upstream ships vendor/modules.txt (moby, docker/cli,
  containerd do), else ``go mod vendor``.

The tarball holds ``vendor/`` (extracted with ``%setup -a N`` inside the source
tree) and is reproducible: sorted members, owner 0/0, mtimes clamped to the
package's SOURCE_DATE_EPOCH, gzip without a name or time stamp.
"""

from __future__ import annotations

import gzip
import os
import re
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tooling import sourcesfile
from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import Matrix, Package, Source
from tooling.run import CommandError, run
from tooling.sources.api import sources_config
from tooling.sources.cache import SourceCache
from tooling.sources.resolve import resolve_sources
from tooling.sourcesfile import SourceHash

Report = Callable[[str], None]
VENDOR_TIMEOUT = 1800.0
_URL = re.compile(r"https?://[^\s`'\"),]+")
_HOST = re.compile(r"(?:resolve host|lookup|dial tcp:? lookup)[: ]+([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def vendor_kind(tree: Path) -> str:
    """"cargo", "go", "go-upstream-vendored" or "none" for an unpacked source tree."""
    if (tree / "Cargo.toml").is_file():
        return "cargo"
    if (tree / "go.mod").is_file() or (tree / "vendor.mod").is_file():  # moby/cli 24.x: vendor.mod
        return "go-upstream-vendored" if (tree / "vendor" / "modules.txt").is_file() else "go"
    return "none"


def unpack(tarball: Path, dest: Path) -> Path:
    """Extract ``tarball`` into ``dest``; return its single top directory (or dest)."""
    with tarfile.open(tarball) as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tf.extractall(dest, filter="data")
        else:  # Debian 12's 3.11.2: refuse what the "data" filter would refuse
            for m in tf.getmembers():
                target = (dest / m.name).resolve()
                root = dest.resolve()
                link_base = root if m.islnk() else target.parent
                link_ok = not (m.islnk() or m.issym()) or (link_base / m.linkname).resolve().is_relative_to(root)
                if m.name.startswith("/") or not target.is_relative_to(root) or not link_ok \
                        or m.isdev():
                    raise ForkliftError(f"{tarball.name}: unsafe member {m.name!r}; refusing to unpack it")
            tf.extractall(dest)
    entries = [p for p in dest.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def run_vendoring(tree: Path, kind: str, *, home: Path) -> None:
    """Run the tool that fills ``tree/vendor`` (needs network). Fails naming what it could not reach."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "RUSTUP_HOME",
                "RUSTUP_TOOLCHAIN"):
        if var in os.environ:
            env[var] = os.environ[var]
    if kind == "cargo":
        env["CARGO_HOME"] = str(home / "cargo")
        env["CARGO_NET_RETRY"] = "1"
        if "RUSTUP_HOME" not in env and (Path.home() / ".rustup").is_dir():
            env["RUSTUP_HOME"] = str(Path.home() / ".rustup")
        argv = ["cargo", "vendor", "--locked", "--versioned-dirs", "vendor"]
    else:
        env["GOPATH"] = str(home / "go")
        env["GOFLAGS"] = "-mod=mod"
        env["GOTOOLCHAIN"] = "local"
        argv = ["go", "mod", "vendor"]
        if not (tree / "go.mod").is_file():
            argv += ["-modfile", "vendor.mod"]
    try:
        run(argv, cwd=tree, env=env, timeout=VENDOR_TIMEOUT)
    except CommandError as exc:
        urls = {u for u in _URL.findall(exc.output) if not _is_docs(u)}
        unreachable = sorted(urls | set(_HOST.findall(exc.output)))
        if unreachable:
            raise ForkliftError(
                f"{argv[0]} could not reach: {', '.join(unreachable)} (running `{' '.join(argv)}` in {tree.name})",
                hint="vendoring downloads dependencies: run `invoke vendor` on a machine with network access "
                "(or behind a proxy: https_proxy=...), then copy the tarball into a mirror directory",
            ) from None
        raise
    (tree / "vendor").mkdir(exist_ok=True)


def _is_docs(url: str) -> bool:
    """Links to documentation that tools print in their hints, not places they tried to reach."""
    host = url.split("/")[2]
    return host.startswith("doc.") or host.startswith("docs.") or "/doc/" in url


def pack_vendor(tree: Path, out: Path, source_date_epoch: int) -> None:
    """Write ``tree/vendor`` as a reproducible .tar.gz at ``out`` (atomically)."""
    members = sorted([tree / "vendor", *(tree / "vendor").rglob("*")], key=lambda p: p.relative_to(tree).as_posix())
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in members:
            info = tf.gettarinfo(str(path), arcname=path.relative_to(tree).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = min(int(info.mtime), source_date_epoch)
            info.mode = (0o755 if info.isdir() or info.mode & 0o111 else 0o644)
            if info.isfile():
                with open(path, "rb") as fh:
                    tf.addfile(info, fh)
            else:
                tf.addfile(info)
    os.replace(tmp, out)


def make_vendor_tarball(upstream: Path, file: str, source_date_epoch: int, cache: SourceCache, *,
                        hashtype: str = "sha512", report: Report = print) -> SourceHash | None:
    """Vendor the dependencies of the upstream tarball into ``file``, store it in the cache.
    None when there is nothing to vendor (upstream ships vendor/ already)."""
    with tempfile.TemporaryDirectory(prefix="forklift-vendor-") as tmp:
        work = Path(tmp)
        (work / "src").mkdir()
        tree = unpack(upstream, work / "src")
        kind = vendor_kind(tree)
        if kind == "go-upstream-vendored":
            report(f"{upstream.name}: upstream vendors its Go modules (vendor/modules.txt); nothing to do")
            return None
        if kind == "none":
            raise ForkliftError(f"{upstream.name}: no Cargo.toml or go.mod at its top; don't know how to vendor it")
        (work / "home").mkdir()
        report(f"{upstream.name}: running {'cargo vendor' if kind == 'cargo' else 'go mod vendor'} ...")
        run_vendoring(tree, kind, home=work / "home")
        out = cache.scratch(file)
        pack_vendor(tree, out, source_date_epoch)
        h, _ = cache.add_unhashed(out, file, hashtype)
        return h


def vendor(matrix: Matrix, package: str, *, cache_dir: Path | None, mirrors: list[str] | None = None,
           report: Report = print) -> None:
    """`invoke vendor --package P`: make P's vendor tarball(s), store them in the cache and record
    their hashes in specs/P/sources."""
    (pkg,) = matrix.select_packages([package])
    cache, mirror_list = sources_config(cache_dir, mirrors)
    upstream = [s for s in pkg.sources if s.kind == "remote"]
    targets = [s for s in pkg.sources if s.kind == "lookaside" and s.file.endswith("-vendor.tar.gz")]
    if not upstream:
        raise ForkliftError(f"{pkg.name}: no upstream source to vendor from")
    # the upstream tarball, verified; only it is needed (the vendor file is what we make)
    only_upstream = _with_sources(pkg, upstream[0])
    src_path = resolve_sources(only_upstream, cache=cache, mirrors=mirror_list, offline=False)[upstream[0].file]
    if not targets:
        h = make_vendor_tarball(src_path, f"{pkg.name}-{pkg.version}-vendor.tar.gz", pkg.source_date_epoch, cache,
                                report=report)
        if h is None:
            return
        raise ForkliftError(
            f"{pkg.name}: made {h.filename} (in the cache) but package.toml declares no vendor source",
            hint=f'add [[sources]] file = "{pkg.name}-{{version}}-vendor.tar.gz" to specs/{pkg.name}/package.toml '
            "and run invoke vendor again",
        )
    for t in targets:
        h = make_vendor_tarball(src_path, t.file, pkg.source_date_epoch, cache,
                                hashtype=t.hash.hashtype if t.hash else "sha512", report=report)
        if h is None:
            continue
        record_hash(pkg, h)
        report(h.line())


def record_hash(pkg: Package, h: SourceHash) -> None:
    """Replace (or add) the line for ``h.filename`` in specs/<pkg>/sources, atomically."""
    path = pkg.directory / "sources"
    entries = [e for e in sourcesfile.load(path) if e.filename != h.filename]
    atomic_write_text(path, sourcesfile.dump([*entries, h]))


def _with_sources(pkg: Package, *sources: Source) -> Package:
    return replace(pkg, sources=tuple(sources), patches=())
