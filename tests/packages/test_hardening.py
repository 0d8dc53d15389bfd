"""ELF hardening (issue: every shipped ELF is a PIE with full RELRO and BIND_NOW).

The checker reads ELF files straight from RPM payloads. It is proven on RPMs built here
with rpmbuild from tiny C and Go programs, once hardened and once not, so each check
can fail; then it runs over the RPMs of a real build of fedora-45 and centos-stream-9
where such a build is present (build/repos/<target>).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import REPO_ROOT, hardening, model
from tooling.errors import DataError

HARDENED_C = "-fPIE -pie -Wl,-z,relro -Wl,-z,now"
WEAK_C = "-no-pie -fno-PIE -Wl,-z,norelro -Wl,-z,lazy"
# what the Go templates must pass: a PIE, linked by the system linker with the distro's flags
HARDENED_GO = '-buildmode=pie -ldflags "-linkmode=external -extldflags \'-Wl,-z,relro -Wl,-z,now\'"'


def _rpm(tmp: Path, name: str, build: str, binary: str) -> Path:
    top = tmp / f"top-{name}"
    spec = top / f"{name}.spec"
    spec.parent.mkdir(parents=True)
    spec.write_text(textwrap.dedent(f"""\
        Name: {name}
        Version: 1
        Release: 1
        Summary: hardening test
        License: MIT
        %global debug_package %{{nil}}
        %global __os_install_post %{{nil}}
        %description
        test
        %build
        {build}
        %install
        install -D -m 0755 {binary} %{{buildroot}}/usr/bin/{name}
        %files
        /usr/bin/{name}
        """))
    env = {**os.environ, "GOFLAGS": "", "GOTOOLCHAIN": "local", "CGO_ENABLED": "1"}
    res = subprocess.run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_builddir {tmp}",
                          str(spec)], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return next((top / "RPMS").rglob("*.rpm"))


@pytest.mark.parametrize(("flags", "missing"), [(HARDENED_C, ()), (WEAK_C, ("pie", "relro", "bind-now"))],
                         ids=["hardened", "weak"])
def test_c_program(tmp_path: Path, flags: str, missing: tuple[str, ...]) -> None:
    require_tool("rpmbuild", "gcc")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    rpm = _rpm(tmp_path, "hardc", f"gcc -O2 {flags} -o main main.c", "main")
    findings, count = hardening.check_rpms([rpm])
    assert count == 1
    assert [f.missing for f in findings] == ([missing] if missing else [])
    if findings:
        assert str(findings[0]).startswith(f"{rpm.name}: /usr/bin/hardc: not pie")


@pytest.mark.slow
def test_go_program_built_as_the_templates_must(tmp_path: Path) -> None:
    """A Go PIE linked externally with the distro's RELRO/BIND_NOW flags passes (Go's default build, a
    static non-PIE, fails like the weak C program above)."""
    require_tool("rpmbuild", "go", "gcc")
    (tmp_path / "go.mod").write_text("module example.com/hardgo\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "os"\n\nfunc main() { os.Exit(0) }\n')
    rpm = _rpm(tmp_path, "hardgo", f"go build {HARDENED_GO} -o main .", "main")
    findings, count = hardening.check_rpms([rpm])
    assert count == 1 and findings == []


def test_an_exemption_covers_only_its_path_and_checks(tmp_path: Path) -> None:
    require_tool("rpmbuild", "gcc")
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    rpm = _rpm(tmp_path, "weak", f"gcc {WEAK_C} -o main main.c", "main")
    exempt = [hardening.Exemption("/usr/bin/weak", ("pie",), "test")]
    findings, _ = hardening.check_rpms([rpm], exempt)
    assert [f.missing for f in findings] == [("relro", "bind-now")]


BAD = [
    ('path = "usr/bin/x"\nchecks = ["pie"]\nreason = "r"', "exempt[0].path"),
    ('path = "/usr/bin/x"\nchecks = ["nx"]\nreason = "r"', "exempt[0].checks"),
    ('path = "/usr/bin/x"\nchecks = ["pie"]\nreason = ""', "exempt[0].reason"),
    ('path = "/usr/bin/x"\nchecks = ["pie"]\nreason = "r"\nwhy = "w"', "exempt[0]"),
]


@pytest.mark.parametrize(("body", "key"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_exemption_names_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    (tmp_path / hardening.EXEMPT_FILE).write_text(f"[[exempt]]\n{body}\n")
    with pytest.raises(DataError) as exc:
        hardening.load_exemptions(tmp_path)
    assert hardening.EXEMPT_FILE in str(exc.value) and key in str(exc.value)


def test_every_exemption_names_a_file_a_package_ships() -> None:
    exemptions = hardening.load_exemptions(model.SPECS_DIR)
    templates = "".join(p.read_text() for p in model.SPECS_DIR.glob("*/*.spec.j2"))
    for e in exemptions:
        base = e.path.rsplit("/", 1)[1]
        assert base in templates, f"{e.path}: no template installs it; drop the exemption"


@pytest.mark.parametrize("target", ["fedora-45", "centos-stream-9"])
def test_built_rpms_are_hardened(target: str) -> None:
    """The RPMs of a real build of the engine, CLI and containerd (needs the upstream sources: not in CI)."""
    repo = Path(os.environ.get("FORKLIFT_SMOKE_BUILD_DIR", REPO_ROOT / "build")) / "repos" / target
    rpms = [p for p in repo.glob("*.rpm") if not p.name.endswith(".src.rpm")]
    if not any(p.name.startswith("moby-engine-dm-2") for p in rpms):
        pytest.skip(f"no real build in {repo}: build it with the upstream sources (invoke build -t {target})")
    findings, count = hardening.check_rpms(rpms, hardening.load_exemptions(model.SPECS_DIR))
    assert count >= 3  # dockerd, docker-proxy, docker-init at least
    assert not findings, "\n".join(map(str, findings))
