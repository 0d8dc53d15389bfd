"""Go link flags reach `go build -ldflags` through GO_LDFLAGS only; rpm's %build_ldflags reach the
system linker only (inside `-extldflags '...'` and CGO_LDFLAGS), never Go's own linker; an inherited
$LDFLAGS reaches neither.

The rendered %build section runs for real (rpmbuild -bc --short-circuit) with the
upstream build scripts from the source tarball (hack/make.sh, scripts/build/binary,
the Makefile); only `go`, `cmake` and `go-md2man` are stand-ins that record their
arguments (the `go` stand-in's gen-manpages writes empty pages). rpm's %build_ldflags
and an inherited $LDFLAGS carry sentinels.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.packages.conftest import GO_PACKAGES, MATRIX, UPSTREAM_CACHE
from tooling import lint, render

RPM_SENTINEL = "-Wl,--forklift-rpm-ldflags"
ENV_SENTINEL = "-Wl,--forklift-env-ldflags"

GO_STUB = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
if args[:1] == ["env"]:
    values = {"GOOS": "linux", "GOARCH": "amd64", "GOHOSTOS": "linux", "GOHOSTARCH": "amd64",
              "GOARM": "", "GOPATH": os.environ.get("GOPATH", "/tmp")}
    print("\n".join(values.get(a, "") for a in args[1:]))
elif args[:1] == ["version"]:
    print("go version go1.25.5 linux/amd64")
elif args[:1] == ["build"]:
    with open(os.environ["FORKLIFT_GO_LOG"], "a") as log:
        log.write(json.dumps({"argv": args, "CGO_LDFLAGS": os.environ.get("CGO_LDFLAGS", ""),
                              "LDFLAGS": os.environ.get("LDFLAGS")}) + "\n")
    if "-o" in args:
        out = args[args.index("-o") + 1]
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as fh:
            if out.endswith("gen-manpages"):  # docker-cli's man page generator: 200 empty pages
                fh.write('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --target ] && dir=$2; shift; done\n'
                         'i=0; while [ $i -lt 200 ]; do : > "$dir/docker-stub-$i.1"; i=$((i+1)); done\n')
            else:
                fh.write("#!/bin/sh\nexit 0\n")
        os.chmod(out, 0o755)
"""

CMAKE_STUB = """#!/bin/sh
# records nothing; makes the build dir that `make -C <dir> tini-static` expects
while [ $# -gt 0 ]; do [ "$1" = -B ] && dir=$2; shift; done
mkdir -p "$dir" && printf 'tini-static:\\n\\ttrue\\n' > "$dir/Makefile"
"""

MD2MAN_STUB = """#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -out ] && out=$2; shift; done
[ -n "$out" ] && : > "$out"
"""


def _stubs(bindir: Path) -> None:
    bindir.mkdir()
    for name, text in (("go", GO_STUB), ("cmake", CMAKE_STUB), ("go-md2man", MD2MAN_STUB)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)


def _extract_without_vendor(tarball: Path, dest: Path) -> None:
    with tarfile.open(tarball) as tf:
        members = [m for m in tf.getmembers() if "/vendor/" not in m.name and "/.github/" not in m.name]
        tf.extractall(dest, members=members)  # our own cached upstream tarballs


def ldflags_values(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-ldflags"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["fedora-45", "centos-stream-9"])
@pytest.mark.parametrize("package", GO_PACKAGES)
def test_rpm_ldflags_never_reach_go_ldflags(tmp_path: Path, package: str, target: str) -> None:
    require_tool("rpmbuild", "make", "gcc")
    pkg, tgt = MATRIX.packages[package], MATRIX.targets[target]
    tarball = UPSTREAM_CACHE / pkg.sources[0].file
    if not tarball.is_file():
        pytest.skip(f"needs the upstream tarball {tarball} (fetch it with `invoke sources`)")
    builddir = tmp_path / "BUILD"
    _extract_without_vendor(tarball, builddir)
    if package == "moby-engine-dm":  # docker-init's source, extracted beside the engine's by %prep
        tini = next(s for s in pkg.sources if s.file.startswith("tini-"))
        top = next(builddir.iterdir())
        if not (UPSTREAM_CACHE / tini.file).is_file():
            pytest.skip(f"needs {UPSTREAM_CACHE / tini.file}")
        _extract_without_vendor(UPSTREAM_CACHE / tini.file, top)
    spec = tmp_path / f"{package}.spec"
    spec.write_text(render.render_spec(MATRIX, tgt, pkg))
    _stubs(tmp_path / "bin")
    log = tmp_path / "go.log"
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", LDFLAGS=ENV_SENTINEL,
               FORKLIFT_GO_LOG=str(log))
    argv = ["rpmbuild", "-bc", "--short-circuit", "--nodeps", *lint.macro_load_args(MATRIX.root),
            *tgt.macro_args(), "--define", f"_topdir {tmp_path}", "--define", f"_builddir {builddir}",
            "--define", f"build_ldflags -Wl,-z,now {RPM_SENTINEL}", "--define", "_smp_mflags -j1", str(spec)]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0, f"{shlex.join(argv)}\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}"
    builds = [json.loads(line) for line in log.read_text().splitlines()]
    assert builds, "no go build ran"
    shipped = [b for b in builds if "manpages" not in b["argv"]]  # not the build-time man page generator
    assert shipped, "no go build of a shipped binary ran"
    for b in shipped:
        flags = ldflags_values(b["argv"])
        assert flags, b["argv"]
        for value in flags:
            ext = re.search(r"""-extldflags (?:'([^']*)'|"([^"]*)")""", value)
            go_linker = value.replace(ext.group(0), "") if ext else value
            assert RPM_SENTINEL not in go_linker and ENV_SENTINEL not in value, value
            assert "-B gobuildid" in value, value  # GO_LDFLAGS did reach the linker
            if "-linkmode=external" in value:  # the system linker gets the distro's flags (hardening)
                assert ext and RPM_SENTINEL in (ext.group(1) or ext.group(2)), value
        assert b["LDFLAGS"] is None, "rpm's LDFLAGS still exported to the Go build"
        # rpm's linker flags do reach cgo's C linker
        assert RPM_SENTINEL in b["CGO_LDFLAGS"], b["CGO_LDFLAGS"]
