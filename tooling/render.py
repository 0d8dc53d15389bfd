"""Render spec files: (package, target) -> spec text. No side effects but
``write_specs``, which writes each spec atomically.

One Jinja2 environment with StrictUndefined: a template that uses an
undefined variable fails with the template's name and line. Output is
normalised so that it reads as if written by hand: trailing white space is
stripped, runs of blank lines collapse to one, and the file ends in one
newline. Same inputs give byte-identical output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from tooling import goversion
from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import Matrix, Package, Target

SHARED_TEMPLATES = "_templates"  # specs/_templates/: macros shared by every package


class FeatureFlags(Mapping[str, bool]):
    """A target's flags; attribute or item access; an unknown flag is an error, not False."""

    def __init__(self, target: Target) -> None:
        self._target = target

    def __getitem__(self, key: str) -> bool:
        try:
            return self._target.features[key]
        except KeyError:
            raise KeyError(f"unknown feature flag {key!r}") from None

    def __getattr__(self, key: str) -> bool:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as exc:
            raise jinja2.UndefinedError(
                f"unknown feature flag {key!r} (known: {', '.join(self._target.features)})"
            ) from exc

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._target.features)

    def __len__(self) -> int:
        return len(self._target.features)


@dataclass(frozen=True)
class RenderedSpec:
    target: Target
    package: Package
    text: str

    @property
    def filename(self) -> str:
        return f"{self.package.name}.spec"


def _go_rpm_version(version: str) -> str:
    try:
        return goversion.rpm_version(version)
    except ValueError as exc:
        raise ForkliftError(f"{exc} (a bundled module in the package's package.toml vars.bundled)") from None


def _environment(root: Path) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader([str(root)], followlinks=False)
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["spec_list"] = lambda items, sep=" ": sep.join(items)
    env.filters["go_rpm_version"] = _go_rpm_version
    return env


_envs: dict[Path, jinja2.Environment] = {}


def environment(root: Path) -> jinja2.Environment:
    if root not in _envs:
        _envs[root] = _environment(root)
    return _envs[root]


def context(matrix: Matrix, target: Target, package: Package) -> dict[str, Any]:
    from tooling import security

    record = security.load(package)
    return {
        # the Go packages whose upstream regression tests %check runs (security.toml)
        "security_tests": record.check_tests if record else (),
        "pkg": package,
        "target": target,
        "features": FeatureFlags(target),
        "vars": package.vars,
        "packages": matrix.packages,
        "enabled": {name: p.enabled_for(target) for name, p in matrix.packages.items()},
    }


def render_spec(matrix: Matrix, target: Target, package: Package) -> str:
    env = environment(matrix.root)
    name = f"{package.name}/{package.template.name}"
    try:
        template = env.get_template(name)
        text = template.render(context(matrix, target, package))
    except jinja2.TemplateSyntaxError as exc:
        raise ForkliftError(
            f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}",
        ) from None
    except jinja2.UndefinedError as exc:
        raise ForkliftError(
            f"{_template_location(exc, matrix.root, name)}: undefined variable in template: {exc.message}",
            hint=f"rendering {package.name} for {target.name}; {_undefined_hint(exc.message or '', package.name)}",
        ) from None
    return normalise(text)


def _undefined_hint(message: str, package: str) -> str:
    """What to do about an undefined name: package data reaches a template only as vars.NAME."""
    m = re.search(r"has no attribute '([^']+)'", message) or re.search(r"'([^']+)' is undefined", message)
    var = m.group(1) if m else "NAME"
    toml = f"specs/{package}/package.toml"
    if "has no attribute" in message:
        return (f"if it is package data, define {var} under [vars] in {toml} (the template reads it as "
                f"vars.{var}); else fix the template")
    return (f"package data reaches the template as vars.NAME: define {var} under [vars] in {toml} and write "
            f"{{{{ vars.{var} }}}} in the template; else fix the template")


def _template_location(exc: BaseException, root: Path, default: str) -> str:
    """The innermost template frame of the traceback: 'specs/pkg/x.spec.j2:LINE'."""
    where = default
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__jinja_template__") is not None or frame.f_code.co_filename.endswith(".j2"):
            filename = frame.f_code.co_filename
            tmpl = frame.f_globals.get("__jinja_template__")
            lineno = tmpl.get_corresponding_lineno(tb.tb_lineno) if tmpl is not None else tb.tb_lineno
            try:
                rel = Path(filename).resolve().relative_to(root.resolve().parent)
            except ValueError:
                rel = Path(filename)
            where = f"{rel}:{lineno}"
        tb = tb.tb_next
    return where


_BLANKS = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    """Strip trailing white space, collapse blank-line runs, drop leading blank
    lines and blank lines right after a section header, end with one newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1] or out[-1].startswith("%changelog")):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return _BLANKS.sub("\n\n", "\n".join(out)) + "\n"


def render_all(
    matrix: Matrix,
    targets: Iterable[str] | None = None,
    packages: Iterable[str] | None = None,
    *,
    enabled_only: bool = False,
) -> list[RenderedSpec]:
    """Render the selected specs. Every template renders for every target by default, also
    where the target does not build that package (its enabled_when says no)."""
    t = list(targets) if targets else None
    p = list(packages) if packages else None
    return [RenderedSpec(tg, pk, render_spec(matrix, tg, pk)) for tg, pk in matrix.pairs(t, p, enabled_only=enabled_only)]


def spec_path(out_dir: Path, target: Target, package: Package) -> Path:
    return out_dir / target.name / f"{package.name}.spec"


def write_specs(specs: Iterable[RenderedSpec], out_dir: Path) -> list[Path]:
    """Write each spec to ``out_dir/<target>/<package>.spec``; unchanged files are left alone."""
    written: list[Path] = []
    for spec in specs:
        path = spec_path(out_dir, spec.target, spec.package)
        if not (path.exists() and path.read_text(encoding="utf-8") == spec.text):
            atomic_write_text(path, spec.text)
        written.append(path)
    return written
