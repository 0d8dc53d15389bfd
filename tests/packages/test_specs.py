"""The rendered package specs, checked with rpm's own parser under each target's macros."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.packages.conftest import GO_PACKAGES, MATRIX, PACKAGES, TARGETS, Rendered, rpmspec

RenderFn = Callable[[str, str], Rendered]


def names(deps: list[str]) -> set[str]:
    return {d.split()[0] for d in deps}


# --------------------------------------------------------------------------- the engine


@pytest.mark.parametrize("target", TARGETS)
def test_engine_requires_the_dm_thin_runtime(render_pkg: RenderFn, target: str) -> None:
    reqs = render_pkg("moby-engine-dm", target).query("requires")
    assert {"lvm2", "device-mapper-persistent-data", "xfsprogs", "device-mapper-libs", "containerd", "runc"} <= names(reqs)
    # dockerd runs the host's xz and unpigz for layer and `docker cp` archives (CVE-2026-41567)
    assert {"xz", "pigz"} <= names(reqs)
    spec = render_pkg("moby-engine-dm", target)
    recommends = rpmspec(["-q", "--qf", "[%{RECOMMENDNAME}\\n]"], spec.path, spec.target).split()
    assert "docker-cli" in recommends
    # container-selinux with an epoch-qualified minimum (epoch:version)
    assert [r for r in reqs if re.fullmatch(r"container-selinux >= \d+:[0-9.]+", r)], reqs
    assert [r for r in reqs if re.fullmatch(r"device-mapper-libs >= [0-9.]+", r)], reqs


@pytest.mark.parametrize("target", TARGETS)
def test_engine_conflicts_with_the_engines_it_would_fight(render_pkg: RenderFn, target: str) -> None:
    conflicts = names(render_pkg("moby-engine-dm", target).query("conflicts"))
    assert {"moby-engine", "docker-ce", "docker-ce-cli", "podman-docker"} <= conflicts
    assert {"docker-ce-cli", "moby-engine", "podman-docker"} <= names(render_pkg("docker-cli", target).query("conflicts"))


@pytest.mark.parametrize("target", TARGETS)
def test_btrfs_driver_follows_the_target_flag(render_pkg: RenderFn, target: str) -> None:
    spec = render_pkg("moby-engine-dm", target)
    has_btrfs = MATRIX.targets[target].features["btrfs"]
    assert 'DOCKER_BUILDTAGS="%{buildtags}"' in spec.section("build")
    tags = spec.global_macro("buildtags").split()
    assert {"seccomp", "selinux"} <= set(tags)
    # hack/make.sh adds journald itself when pkg-config finds libsystemd: listing it too doubles it
    assert "journald" not in tags and "pkgconfig(libsystemd)" in spec.query("buildrequires")
    assert "daemon/logger/journald.New" in spec.section("check")
    assert ("exclude_graphdriver_btrfs" in tags) is not has_btrfs
    # and the expanded spec (rpm's view) carries the same tags
    assert f'DOCKER_BUILDTAGS="{" ".join(tags)}"' in spec.expanded()
    assert ("btrfs-progs-devel" in names(spec.query("buildrequires"))) is has_btrfs


@pytest.mark.parametrize("target", TARGETS)
def test_engine_is_a_dynamic_build_with_devicemapper(render_pkg: RenderFn, target: str) -> None:
    build = render_pkg("moby-engine-dm", target).section("build")
    assert re.search(r"^hack/make\.sh dynbinary$", build, re.M), build
    assert "static_build" not in build and "exclude_graphdriver_devicemapper" not in build
    assert "device-mapper-devel" in names(render_pkg("moby-engine-dm", target).query("buildrequires"))


@pytest.mark.parametrize("target", TARGETS)
def test_engine_systemd_scriptlets_and_sysusers(render_pkg: RenderFn, target: str) -> None:
    text = render_pkg("moby-engine-dm", target).text
    for macro in ("%systemd_post", "%systemd_preun"):
        assert re.search(rf"^{macro} docker\.service docker\.socket$", text, re.M), macro
    # an upgrade restarts the service; restarting the socket too would drop its listeners
    assert re.search(r"^%systemd_postun_with_restart docker\.service$", text, re.M)
    assert "%{_sysusersdir}/docker.conf" in text
    compat = "%sysusers_create_compat" in text
    assert compat is not MATRIX.targets[target].features["sysusers_macros"]


@pytest.mark.parametrize("target", TARGETS)
def test_engine_ships_upstreams_udev_rule(render_pkg: RenderFn, target: str) -> None:
    spec = render_pkg("moby-engine-dm", target)
    assert "contrib/udev/80-docker.rules %{buildroot}%{_udevrulesdir}/80-docker.rules" in spec.section("install")
    assert re.search(r"^%\{_udevrulesdir\}/80-docker\.rules$", spec.section("files"), re.M)


def test_tini_is_built_from_a_declared_source() -> None:
    pkg = MATRIX.packages["moby-engine-dm"]
    tini = [s for s in pkg.sources if s.file.startswith("tini-")]
    assert tini and tini[0].hash is not None and tini[0].url and tini[0].url.startswith("https://github.com/krallin/tini/")


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("target", TARGETS)
def test_cli_ships_upstreams_generated_man_pages(render_pkg: RenderFn, target: str) -> None:
    """A page per command from upstream's generator (man/generate.go), offline: cobra/doc and go-md2man
    come as sources (what `make manpages` fetches with `go mod vendor`), not six hand-written pages alone."""
    spec = render_pkg("docker-cli", target)
    sources = rpmspec(["-P"], spec.path, spec.target)
    assert re.search(r"^Source1:\s+https://github.com/spf13/cobra/archive/v1.7.0/cobra-1.7.0.tar.gz$", sources, re.M)
    assert re.search(r"^Source2:\s+https://github.com/cpuguy83/go-md2man/archive/v2.0.3/", sources, re.M)
    build = spec.section("build")
    assert "go build -tags manpages -o _build/gen-manpages ./man/generate.go" in build
    assert "_build/gen-manpages --root . --target" in build
    # the generator exits 0 when it fails: the build must look at what it wrote
    assert 'grep -q "Failed to generate"' in build and "-ge 180" in build
    files = spec.section("files")
    assert "%{_mandir}/man1/docker-*.1*" in files
    check = spec.section("check")
    assert "docker-container-run.1" in check
    # the versions are the ones upstream pins: cobra as vendored, md2man as generate-man.sh says
    vendor = (MATRIX.root / "docker-cli" / "package.toml").read_text()
    assert '"github.com/spf13/cobra v1.7.0"' in vendor


# --------------------------------------------------------------------------- every package


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("package", GO_PACKAGES)
def test_go_packages_ship_the_licences_of_their_vendored_modules(render_pkg: RenderFn, package: str,
                                                                 target: str) -> None:
    """Bundled code's licence texts are %license: every module of vendor/modules.txt, from %install."""
    if not MATRIX.packages[package].enabled_for(MATRIX.targets[target]):
        pytest.skip(f"{package} is not built for {target}")
    spec = render_pkg(package, target)
    install = spec.section("install")
    assert "vendor/modules.txt" in install and "%{_licensedir}/%{name}" in install
    assert re.search(r"^%files -f licenses.files$", spec.text, re.M)
    # the package's own licence files go through the same list (one owner of %{_licensedir}/%{name})
    assert not re.search(r"^%license ", spec.section("files"), re.M)



@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("target", TARGETS)
def test_check_section_tests_the_built_version(render_pkg: RenderFn, package: str, target: str) -> None:
    spec = render_pkg(package, target)
    check = spec.section("check", expanded=True)
    version = spec.package.version
    # the binary's own --version output compared with the expected version and commit
    assert "--version" in check and version in check
    commit = spec.package.vars["commit"]
    assert commit[:7] in check, check


NETWORK = re.compile(
    r"\b(curl|wget|git\s+clone|git\s+fetch|go\s+get|go\s+mod\s+(download|vendor|tidy)|pip\s+install|npm\s+install)\b"
    r"|go\s+install\s+\S+@"
    r"|(?:^|\s)cargo\s+(?!.*--offline)(build|vendor|fetch|install)"
    r"|GOPROXY=(?!off\b)|GOFLAGS=[^\n]*-mod=mod|GOTOOLCHAIN=(?!local\b)",
    re.M,
)


@pytest.mark.parametrize("package", PACKAGES)
@pytest.mark.parametrize("target", TARGETS)
def test_no_network_in_prep_or_build(render_pkg: RenderFn, package: str, target: str) -> None:
    spec = render_pkg(package, target)
    for section in ("prep", "build"):
        # comments are not run
        body = "\n".join(line for line in spec.section(section).splitlines() if not line.lstrip().startswith("#"))
        assert not NETWORK.search(body), f"%{section} of {package} may reach the network: {NETWORK.search(body)}"


def test_network_pattern_catches_the_usual_fetches() -> None:
    for bad in ("git clone https://x/tini", "go install github.com/x/y@v1", "cargo build --release",
                "curl -LO https://x", "GOPROXY=https://proxy.golang.org", "go mod vendor"):
        assert NETWORK.search(bad), bad
    for ok in ("cargo build --release --offline --locked", "GOPROXY=off GOTOOLCHAIN=local", "git-core"):
        assert not NETWORK.search(ok), ok


@pytest.mark.parametrize("package", GO_PACKAGES)
@pytest.mark.parametrize("target", TARGETS)
def test_bundled_go_modules_are_declared(render_pkg: RenderFn, package: str, target: str) -> None:
    spec = render_pkg(package, target)
    provides = [p for p in spec.query("provides") if p.startswith("bundled(golang(")]
    declared = spec.package.vars["bundled"]
    assert len(provides) == len(declared) > 20
    for p in provides:
        assert re.fullmatch(r"bundled\(golang\([\w./~+-]+\)\) = [0-9][0-9A-Za-z.+~]*", p), p


@pytest.mark.parametrize("package", PACKAGES)
def test_changelog_license_and_doc(render_pkg: RenderFn, package: str) -> None:
    spec = render_pkg(package, "fedora-45")
    text = spec.text
    # %license in %files, or (Go packages) every licence text through the %files -f list %install writes
    assert re.search(r"^%license ", text, re.M) or "%%license" in spec.section("install")
    assert re.search(r"^%doc ", text, re.M)
    changelog = text.split("%changelog", 1)[1]
    assert re.search(rf"^\* \w{{3}} \w{{3}} \d\d \d{{4}} .+ - {re.escape(spec.package.version)}-{spec.package.release}$",
                     changelog, re.M), changelog[:200]


def test_packages_built_only_where_the_target_lacks_them() -> None:
    for target in MATRIX.targets.values():
        assert MATRIX.packages["containerd"].enabled_for(target) is not target.features["distro_containerd"]
