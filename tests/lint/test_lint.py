"""rpmspec parses every package on every target with the target's macros; rpmlint is clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import lint, model, render

MATRIX = model.load()
PAIRS = MATRIX.pairs(enabled_only=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[model.Target, model.Package, Path]]:
    out = tmp_path_factory.mktemp("specs")
    specs = render.render_all(MATRIX)
    return [(s.target, s.package, p) for s, p in zip(specs, render.write_specs(specs, out), strict=True)]


@pytest.mark.parametrize("index", range(len(PAIRS)), ids=[f"{t.name}/{p.name}" for t, p in PAIRS])
def test_rpmspec_parses_with_target_macros(rendered: list, index: int) -> None:
    require_tool("rpmspec")
    target, pkg, path = rendered[index]
    expanded, findings = lint.rpmspec_parse(path, target, MATRIX.root)
    assert [f for f in findings if f.level == "error"] == []
    # the target's macros reached rpm: %dist expands in Release
    assert re.search(rf"^Release:\s+{pkg.release}{re.escape(target.dist)}$", expanded, re.M), expanded[:400]


def test_rpmlint_is_clean_on_every_rendered_spec(rendered: list) -> None:
    require_tool("rpmlint")
    findings = lint.lint_specs([(t, p) for t, _, p in rendered], MATRIX.root)
    assert [str(f) for f in findings] == []  # warnings included: `invoke lint` fails on them


def test_rpmspec_error_names_file_and_line(tmp_path: Path) -> None:
    require_tool("rpmspec")
    spec = tmp_path / "broken.spec"
    spec.write_text("Name: broken\nVersion: 1\nRelease: 1\nSummary: x\nLicense: MIT\nBogusTag: 1\n"
                    "%description\nx\n%files\n")
    _, findings = lint.rpmspec_parse(spec, MATRIX.targets["fedora-45"], MATRIX.root)
    errors = [f for f in findings if f.level == "error"]
    assert errors and errors[0].path == spec and errors[0].line == 6, findings
    with pytest.raises(Exception, match=r"broken\.spec:6: rpmspec: error: .*BogusTag"):
        lint.raise_for(findings)


def test_rpmlint_error_names_file(tmp_path: Path) -> None:
    require_tool("rpmlint")
    spec = tmp_path / "bad.spec"
    # no %changelog, a Summary with a period and a hard-coded /usr/lib path: rpmlint errors/warnings
    spec.write_text("Name: bad\nVersion: 1\nRelease: 1\nSummary: A summary.\nLicense: MIT\nBuildArch: noarch\n"
                    "%description\nBad.\n%install\nmkdir -p %{buildroot}/usr/lib/bad\n"
                    "%files\n/usr/lib/bad\n")
    findings = lint.rpmlint([spec], MATRIX.root / lint.RPMLINT_CONFIG)
    assert any(f.path == spec and f.level == "error" for f in findings), findings


def test_a_warning_alone_fails_lint(tmp_path: Path) -> None:
    require_tool("rpmlint")
    spec = tmp_path / "warn.spec"
    # clean but for a macro in a comment (rpm expands it there): one warning, no error
    spec.write_text("Name: warn\nVersion: 1\nRelease: 1\nSummary: A package with one warning\nLicense: MIT\n"
                    "URL: https://forklift.dev\nBuildArch: noarch\n%description\nOne warning.\n%prep\n%build\n%install\n"
                    "# no %postun here\n%files\n%changelog\n* Tue Nov 24 2026 T <t@forklift.dev> - 1-1\n- x\n")
    findings = lint.rpmlint([spec], MATRIX.root / lint.RPMLINT_CONFIG)
    assert [(f.level, f.message) for f in findings] == [("warning", "macro-in-comment %postun")]
    with pytest.raises(Exception, match=r"0 lint error\(s\), 1 warning\(s\):\n  \S+warn\.spec:13: rpmlint: warning: "
                                        r"macro-in-comment %postun"):
        lint.raise_for(findings)


def test_findings_print_verbatim_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`invoke lint` prints each finding through the CLI's console: rich must neither turn ":100:" into an
    emoji nor read [..] as markup nor wrap a long line (CI logs are grepped for file:line:)."""
    from tooling.cli import console

    line = str(lint.Finding(Path("/work/main/build/specs/fedora-45/" + "x" * 80 + ".spec"), 100, "rpmlint", "warning",
                            "macro-in-%changelog %doc) [bold]:smile:"))
    console.print(line, markup=False)
    assert capsys.readouterr().out == line + "\n"
    assert ".spec:100: rpmlint: warning:" in line
