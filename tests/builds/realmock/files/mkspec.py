#!/usr/bin/python3
"""Write the spec and file list that package a Debian tree as a buildroot RPM.

    mkspec.py base TREE OUTDIR --version V --release R --pkgs PKGS.tsv
    mkspec.py go   TREE OUTDIR --version V --release R --pkgs PKGS.tsv --base-paths PATHS --goroot-version 1.25.5

TREE is the pruned root file system; the RPM is built with
``rpmbuild --buildroot TREE``. ``base`` packages everything (top-level entries);
``go`` packages only what TREE has beyond the base tree's paths (top-most new
paths, so whole new directories are listed once). PKGS.tsv is
``dpkg-query -W -f '${Package}\\t${Version}\\n'`` of TREE before pruning; it
versions the Fedora names the package provides. Pure stdlib; runs on the host.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

# Fedora/EL name -> Debian package whose upstream version it carries (None: unversioned).
# Only names the tree really satisfies.
BASE_PROVIDES: dict[str, str | None] = {
    "bash": "bash", "coreutils": "coreutils", "coreutils-common": "coreutils",
    "sed": "sed", "grep": "grep", "gawk": "gawk", "tar": "tar", "gzip": "gzip",
    "xz": "xz-utils", "xz-libs": "liblzma5", "bzip2": "bzip2", "zstd": "zstd",
    "findutils": "findutils", "diffutils": "diffutils", "patch": "patch", "cpio": "cpio",
    "file": "file", "unzip": "unzip", "which": None, "hostname": "hostname",
    "make": "make", "gcc": "gcc-12", "cpp": "cpp-12", "gcc-c++": "g++-12",
    "libgcc": "libgcc-s1", "libgomp": "libgomp1", "libstdc++": "libstdc++6",
    "libstdc++-devel": "libstdc++-12-dev", "libstdc++-static": "libstdc++-12-dev",
    "binutils": "binutils", "glibc": "libc6", "glibc-common": "libc6",
    "glibc-minimal-langpack": "libc6", "glibc-devel": "libc6-dev",
    "glibc-headers": "libc6-dev", "glibc-static": "libc6-dev",
    "kernel-headers": "linux-libc-dev", "libxcrypt-devel": "libcrypt-dev",
    "pkgconf": "pkgconf", "pkgconf-pkg-config": "pkgconf", "pkgconf-m4": "pkgconf",
    "shadow-utils": "passwd", "util-linux": "util-linux", "util-linux-core": "util-linux",
    "rpm": "rpm", "rpm-build": "rpm", "rpm-libs": "librpm9", "rpm-build-libs": "librpmbuild9",
    "debugedit": "debugedit", "elfutils": "elfutils",
    "perl-interpreter": "perl", "perl": "perl", "python3": "python3",
    "python3-libs": "libpython3.11-stdlib",
    "redhat-rpm-config": None, "systemd-rpm-macros": None, "python3-rpm-macros": None,
    "setup": None, "filesystem": None, "basesystem": None,
    # glibc provides it on Fedora; rpm's elfdeps makes every dynamic ELF file require it
    "rtld(GNU_HASH)": None,
}
EPOCH_PROVIDES = {"pkgconfig": ("pkgconf", 1), "pkg-config": ("pkgconf", 1)}

GO_PROVIDES: dict[str, str | None] = {
    "go-md2man": "go-md2man", "golang-github-cpuguy83-md2man": "go-md2man",
    "cmake": "cmake", "cmake-data": "cmake-data", "cmake-filesystem": "cmake-data",
    "device-mapper-devel": "libdevmapper-dev", "libseccomp-devel": "libseccomp-dev",
    "systemd-devel": "libsystemd-dev", "btrfs-progs-devel": "libbtrfs-dev",
    "libbtrfsutil-devel": "libbtrfsutil-dev", "git-core": "git",
    "selinux-policy-devel": "selinux-policy-dev", "checkpolicy": "checkpolicy",
    "policycoreutils-devel": "semodule-utils", "clang-devel": "libclang-dev",
}
GOLANG_NAMES = ["golang", "golang-bin", "golang-src"]

PC_DIRS = ["usr/lib/x86_64-linux-gnu/pkgconfig", "usr/lib/pkgconfig", "usr/share/pkgconfig",
           "usr/lib64/pkgconfig"]
SAFE = re.compile(r"^[A-Za-z0-9/._+@:,=-]+$")


def upstream(debver: str) -> str | None:
    """'1:12.2.0-14+deb12u1' -> '12.2.0' (leading dotted numbers of the upstream part)."""
    v = debver.split(":", 1)[-1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    m = re.match(r"[0-9]+(\.[0-9]+)*", v)
    return m.group(0) if m else None


def read_pkgs(path: Path) -> dict[str, str]:
    pkgs = {}
    for line in path.read_text().splitlines():
        if "\t" in line:
            name, ver = line.split("\t", 1)
            pkgs[name.split(":")[0]] = ver
    return pkgs


def provide_lines(table: dict[str, str | None], pkgs: dict[str, str]) -> list[str]:
    out = []
    for name, deb in table.items():
        if deb is None:
            out.append(name)
            continue
        if deb not in pkgs:
            sys.exit(f"mkspec: {name} maps to Debian package {deb}, which is not in the tree")
        ver = upstream(pkgs[deb])
        out.append(f"{name} = {ver}" if ver else name)
    return out


def pkgconfig_provides(tree: Path, only: set[str] | None) -> list[str]:
    out = []
    for d in PC_DIRS:
        for pc in sorted((tree / d).glob("*.pc")) if (tree / d).is_dir() else []:
            rel = "/" + str(pc.relative_to(tree))
            if only is not None and rel not in only:
                continue
            ver = None
            for line in pc.read_text(errors="replace").splitlines():
                if line.startswith("Version:"):
                    ver = line.split(":", 1)[1].strip()
            if ver and re.fullmatch(r"[0-9][0-9A-Za-z.+_~]*", ver):
                out.append(f"pkgconfig({pc.stem}) = {ver}")
            else:
                out.append(f"pkgconfig({pc.stem})")
    return sorted(set(out))


def elf_provides(tree: Path, candidates: list[Path]) -> list[str]:
    """Soname provides of the shared objects (what rpm's elfdeps says), e.g. libc.so.6()(64bit)."""
    libs = []
    for p in candidates:
        if p.is_symlink() or not p.is_file() or ".so" not in p.name:
            continue
        with p.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        libs.append(str(p))
    if not libs:
        return []
    res = subprocess.run(["/usr/lib/rpm/elfdeps", "--provides"], input="\n".join(libs) + "\n",
                         capture_output=True, text=True, check=True)
    return sorted({line.strip() for line in res.stdout.splitlines() if line.strip()})


def all_paths(tree: Path) -> list[str]:
    paths = []
    for root, dirs, files in os.walk(tree):
        rel = os.path.relpath(root, tree)
        base = "" if rel == "." else "/" + rel
        for name in dirs + files:
            paths.append(f"{base}/{name}")
    return paths


def topmost_new(tree: Path, known: set[str]) -> list[str]:
    """Top-most paths of TREE that are not in KNOWN (a new directory is listed once)."""
    out = []
    for root, dirs, files in os.walk(tree):
        rel = os.path.relpath(root, tree)
        base = "" if rel == "." else "/" + rel
        keep = []
        for name in dirs:
            path = f"{base}/{name}"
            if path in known and not os.path.islink(tree / path.lstrip("/")):
                keep.append(name)
            elif path not in known:
                out.append(path)
        dirs[:] = keep
        for name in files:
            path = f"{base}/{name}"
            if path not in known:
                out.append(path)
    return sorted(out)


def quote(path: str) -> str:
    if not SAFE.match(path):
        sys.exit(f"mkspec: path with characters a file list cannot carry: {path!r}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["base", "go"])
    ap.add_argument("tree", type=Path)
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--version", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--pkgs", type=Path, required=True)
    ap.add_argument("--payload", default="w10T2.zstdio")
    ap.add_argument("--base-paths", type=Path)
    ap.add_argument("--goroot-version")
    ap.add_argument("--rust-version", help="a Rust toolchain is in the tree (usr/lib/rust): provide rust, cargo")
    args = ap.parse_args()
    tree = args.tree.resolve()
    pkgs = read_pkgs(args.pkgs)
    args.outdir.mkdir(parents=True, exist_ok=True)

    if args.kind == "base":
        name = "forklift-buildroot"
        entries = sorted("/" + n for n in os.listdir(tree))
        paths = all_paths(tree)
        (args.outdir / "base.paths").write_text("\n".join(sorted(paths)) + "\n")
        provides = provide_lines(BASE_PROVIDES, pkgs)
        provides += [f"{n} = {e}:{upstream(pkgs[d])}" for n, (d, e) in EPOCH_PROVIDES.items()]
        provides += pkgconfig_provides(tree, None)
        provides += elf_provides(tree, [tree / p.lstrip("/") for p in paths])
        requires: list[str] = []
        summary = "Stand-in Fedora/EL buildroot: Debian 12 userland with gcc, make and rpm-build"
        check = ""
    else:
        if not args.base_paths or not args.goroot_version:
            sys.exit("mkspec: go needs --base-paths and --goroot-version")
        name = "forklift-buildroot-go"
        known = set(args.base_paths.read_text().split("\n")) - {""}
        entries = topmost_new(tree, known)
        new_files: list[Path] = []
        new_set: set[str] = set()
        for e in entries:
            p = tree / e.lstrip("/")
            if p.is_dir() and not p.is_symlink():
                for sub in all_paths(p):
                    new_set.add(e + sub)
                    new_files.append(p / sub.lstrip("/"))
            new_set.add(e)
            new_files.append(p)
        provides = provide_lines(GO_PROVIDES, pkgs)
        provides += [f"{n} = {args.goroot_version}" for n in GOLANG_NAMES]
        if args.rust_version:
            provides += [f"{n} = {args.rust_version}" for n in ("rust", "cargo", "rust-std-static")]
        provides += pkgconfig_provides(tree, new_set)
        provides += elf_provides(tree, new_files)
        requires = [f"forklift-buildroot = {args.version}-{args.release}"]
        summary = "Stand-in buildroot extras: Go toolchain, go-md2man, cmake, dm/seccomp/systemd/btrfs headers"
        check = "%global __check_files %{nil}\n"

    filelist = args.outdir / f"{name}.files"
    filelist.write_text("%defattr(-,root,root,-)\n" + "".join(quote(e) + "\n" for e in entries))
    spec = args.outdir / f"{name}.spec"
    lines = [
        "# generated by tests/builds/realmock/files/mkspec.py: do not edit",
        "%global __os_install_post %{nil}",
        "%global __spec_install_pre %{nil}",
        "%global __spec_install_post %{nil}",
        "%global __spec_clean_body %{nil}",
        "%global debug_package %{nil}",
        "%global _build_id_links none",
        "%global _missing_build_ids_terminate_build 0",
        f"%global _binary_payload {args.payload}",
        check.rstrip("\n"),
        f"Name: {name}",
        f"Version: {args.version}",
        f"Release: {args.release}",
        f"Summary: {summary}",
        "License: DFSG-compliant (see /usr/share/common-licenses)",
        "URL: https://www.debian.org/",
        "AutoReqProv: no",
        *[f"Requires: {r}" for r in requires],
        *[f"Provides: {p}" for p in provides],
        "",
        "%description",
        "Files of Debian 12 (bookworm) packages, laid out as the root file system of a",
        "mock chroot, so that rpmbuild runs inside the chroot on a Debian host. Provides",
        "the Fedora names of the build tools it carries. Local verification only.",
        "",
        f"%files -f {filelist.name}",
        "",
    ]
    spec.write_text("\n".join(line for line in lines if line is not None) + "\n")
    print(f"{spec}: {len(entries)} entries, {len(provides)} provides")


if __name__ == "__main__":
    main()
