"""Go module versions become RPM versions that sort as Go sorts them (issue 13: 1.1.0-rc3 was 1.1.0.rc3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import require_tool
from tooling.errors import ForkliftError
from tooling.goversion import rpm_version
from tooling.model import load
from tooling.render import render_all


@pytest.mark.parametrize(("go", "rpm"), [
    ("v1.1.0", "1.1.0"),
    ("v1.1.0-rc3", "1.1.0~rc3"),
    ("v1.0.0-rc.1", "1.0.0~rc.1"),
    ("v0.0.0-20230811130428-ced1acdcaa24", "0.0.0~20230811130428.ced1acdcaa24"),
    ("v0.9.1-0.20221107090550-2e043c6bd626", "0.9.1~0.20221107090550.2e043c6bd626"),
    ("v1.5.1-1.0.20160303222718-d30aec9fd63c", "1.5.1~1.0.20160303222718.d30aec9fd63c"),
    ("v2.8.2+incompatible", "2.8.2+incompatible"),
    ("v17.0.0-rc.1+incompatible", "17.0.0~rc.1+incompatible"),
])
def test_conversion(go: str, rpm: str) -> None:
    assert rpm_version(go) == rpm


@pytest.mark.parametrize("bad", ["", "latest", "v1.2.3-", "1.2 3", "v1.2.3+", "master"])
def test_not_a_version(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a Go module version"):
        rpm_version(bad)


# each pair in Go's (semver) order: rpm must agree
ORDERED = [
    ("v1.0.9", "v1.1.0-rc3"), ("v1.1.0-rc3", "v1.1.0"), ("v1.1.0-rc2", "v1.1.0-rc3"),
    ("v0.9.0", "v0.9.1-0.20221107090550-2e043c6bd626"), ("v0.9.1-0.20221107090550-2e043c6bd626", "v0.9.1"),
    ("v0.0.0-20190806004212-e31b211e4f1c", "v0.0.0-20210331224755-41bb18bfe9da"),
    ("v0.0.0-20210331224755-41bb18bfe9da", "v0.0.1"),
]


@pytest.mark.parametrize(("older", "newer"), ORDERED)
def test_rpm_sorts_as_go_does(older: str, newer: str) -> None:
    require_tool("rpm")
    import rpm

    assert rpm.labelCompare(("0", rpm_version(older), "1"), ("0", rpm_version(newer), "1")) == -1


def test_the_engine_spec_provides_image_spec_as_a_pre_release() -> None:
    matrix = load()
    spec = render_all(matrix, ["fedora-45"], ["moby-engine-dm"])[0].text
    assert "Provides:       bundled(golang(github.com/opencontainers/image-spec)) = 1.1.0~rc3\n" in spec
    provides = [line for line in spec.splitlines() if line.startswith("Provides:")]
    assert not [line for line in provides if ".rc" in line]


def test_a_bad_bundled_version_is_a_one_line_error() -> None:
    matrix = load()
    pkg = matrix.packages["docker-cli"]
    bad = dict(pkg.vars)
    bad["bundled"] = [*pkg.vars["bundled"], "github.com/example/x master"]
    broken = replace(matrix, packages={**matrix.packages, "docker-cli": replace(pkg, vars=bad)})
    with pytest.raises(ForkliftError, match=r"^'master' is not a Go module version .*vars\.bundled\)$"):
        render_all(broken, ["fedora-45"], ["docker-cli"])
