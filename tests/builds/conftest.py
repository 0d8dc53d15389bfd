"""Small upstream projects the build tests create and package themselves.

libfk: a C shared library with a -devel subpackage (header, .so link, .pc file).
fkapp: a C program that BuildRequires libfk-devel, includes its header and links it.
fkdoc: an independent noarch package.
Each is an upstream tarball (made here) plus a spec template, in a private
spec tree with the real specs/targets.toml, so the real model, render, SRPM
and build code run on them.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import textwrap
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import REPO_ROOT

LIBFK = {
    "libfk-1.0/fk.h": "int fk_answer(void);\n",
    "libfk-1.0/fk.c": '#include "fk.h"\nint fk_answer(void) { return 42; }\n',
    "libfk-1.0/libfk.pc": "prefix=/usr\nName: libfk\nDescription: fk\nVersion: 1.0\nLibs: -lfk\nCflags:\n",
    "libfk-1.0/LICENSE": "MIT License\n",
}
FKAPP = {
    "fkapp-1.0/main.c": '#include <stdio.h>\n#include <fk.h>\nint main(void) { printf("%d\\n", fk_answer()); return 0; }\n',
    "fkapp-1.0/LICENSE": "MIT License\n",
}
FKDOC = {"fkdoc-1.0/README": "fk documentation\n", "fkdoc-1.0/LICENSE": "MIT License\n"}

HEADER = """\
{% import "_templates/macros.j2" as m %}
{{ m.preamble(pkg) }}
"""

SPECS = {
    "libfk": HEADER + textwrap.dedent("""\
        BuildRequires:  gcc

        %description
        A tiny library for Forklift's build tests.

        %package devel
        Summary:        Development files for libfk
        Requires:       libfk%{?_isa} = %{version}-%{release}

        %description devel
        Header and link library of libfk.

        %prep
        %autosetup

        %build
        gcc %{optflags} -fPIC -shared -Wl,-soname,libfk.so.1 -o libfk.so.1 fk.c

        %install
        install -D -m 0755 libfk.so.1 %{buildroot}%{_libdir}/libfk.so.1
        ln -s libfk.so.1 %{buildroot}%{_libdir}/libfk.so
        install -D -m 0644 fk.h %{buildroot}%{_includedir}/fk.h
        install -D -m 0644 libfk.pc %{buildroot}%{_libdir}/pkgconfig/libfk.pc

        %files
        %license LICENSE
        %{_libdir}/libfk.so.1

        %files devel
        %{_includedir}/fk.h
        %{_libdir}/libfk.so
        %{_libdir}/pkgconfig/libfk.pc

        {{ m.changelog(pkg) }}
        """),
    "fkapp": HEADER + textwrap.dedent("""\
        BuildRequires:  gcc
        BuildRequires:  libfk-devel
        {% if vars.extra_br %}
        BuildRequires:  {{ vars.extra_br }}
        {% endif %}

        %description
        A tiny program for Forklift's build tests.

        %prep
        %autosetup

        %build
        {{ vars.build_cmd }}

        %install
        install -D -m 0755 fkapp %{buildroot}%{_bindir}/fkapp

        %files
        %license LICENSE
        %{_bindir}/fkapp

        {{ m.changelog(pkg) }}
        """),
    "fkdoc": HEADER + textwrap.dedent("""\
        BuildArch:      noarch

        %description
        Documentation for Forklift's build tests.

        %prep
        %autosetup

        %build
        {{ vars.build_cmd }}

        %install
        install -D -m 0644 README %{buildroot}%{_docdir}/fkdoc/README

        %files
        %license LICENSE
        %{_docdir}/fkdoc/README

        {{ m.changelog(pkg) }}
        """),
}

PACKAGE_TOML = """\
name = "{name}"
version = "1.0"
release = 1
summary = "Test package {name}"
license = "MIT"
url = "https://example.org/{name}"
source_date_epoch = 1700000000

[[sources]]
file = "{name}-1.0.tar.gz"
local = true

[vars]
{vars}
"""

DEFAULT_VARS = {
    "libfk": "",
    "fkapp": 'build_cmd = "gcc %{optflags} -o fkapp main.c -lfk"\nextra_br = ""',
    "fkdoc": 'build_cmd = "true"',
}


@pytest.fixture(autouse=True)
def _private_build_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Builds in tests keep their Go build caches in the test's own directory, not ~/.cache."""
    root = tmp_path / "buildcache"
    monkeypatch.setenv("FORKLIFT_BUILD_CACHE", str(root))
    return root


def make_tarball(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))


def write_package(root: Path, name: str, files: dict[str, str], vars_toml: str | None = None) -> None:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    make_tarball(d / f"{name}-1.0.tar.gz", files)
    (d / "package.toml").write_text(PACKAGE_TOML.format(name=name, vars=DEFAULT_VARS[name] if vars_toml is None
                                                        else vars_toml))
    (d / f"{name}.spec.j2").write_text(SPECS[name])
    (d / "changelog").write_text(f"* Tue Nov 24 2026 Forklift Tests <tests@example.org> - 1.0-1\n- Test package {name}\n")


@pytest.fixture
def test_specs(tmp_path: Path) -> Path:
    """A spec tree with libfk, fkapp and fkdoc and the real target matrix."""
    require_tool("rpmbuild", "createrepo_c", "gcc", "rpm2archive")
    root = tmp_path / "specs"
    root.mkdir()
    shutil.copy(REPO_ROOT / "specs" / "targets.toml", root / "targets.toml")
    shutil.copytree(REPO_ROOT / "specs" / "_templates", root / "_templates")
    shutil.copy(REPO_ROOT / "specs" / "host-compat.macros", root / "host-compat.macros")
    write_package(root, "libfk", LIBFK)
    write_package(root, "fkapp", FKAPP)
    write_package(root, "fkdoc", FKDOC)
    return root


def set_vars(root: Path, name: str, vars_toml: str) -> None:
    path = root / name / "package.toml"
    text = path.read_text()
    path.write_text(text[: text.index("[vars]")] + "[vars]\n" + vars_toml + "\n")
