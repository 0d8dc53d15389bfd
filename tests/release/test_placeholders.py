"""Placeholders do not ship: the project's `home` fills the URL of the packages whose upstream is
this repository, and publish --channel stable refuses an RPM whose URL or newest changelog
identity is on a reserved domain (koji-build and dist-git --push: tests/koji, tests/distgit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.release.conftest import TARGET, Keys, build_rpm, ci_env, make_repo
from tooling import model, render
from tooling.errors import DataError, ForkliftError
from tooling.release import gpg, publish, sign
from tooling.release.placeholders import reserved_domain

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("host", "domain"), [
    ("example.org", "example.org"), ("forklift.example.org", "example.org"), ("EXAMPLE.COM.", "example.com"),
    ("mirror.example.net", "example.net"), ("pkgs.test", "test"), ("x.invalid", "invalid"), ("localhost", "localhost"),
    ("repo.example", "example"), ("mobyproject.org", None), ("github.com", None), ("forklift.internal", None),
    ("example.organic.com", None), ("notexample.org", None), ("", None),
])
def test_reserved_domains(host: str, domain: str | None) -> None:
    assert reserved_domain(host) == domain


def test_the_native_packages_take_their_url_from_the_project_home() -> None:
    matrix = model.load()
    assert matrix.home is not None
    for name in ("moby-dm-storage-setup", "moby-engine-dm-selinux"):
        pkg = matrix.packages[name]
        assert pkg.url == f"{matrix.home}/{name}"
        spec = render.render_all(matrix, [TARGET], [name])[0].text
        assert f"\nURL:            {matrix.home}/{name}\n" in spec


def _specs_copy(tmp_path: Path, targets_edit: tuple[str, str] | None = None, url: str | None = None) -> Path:
    specs = tmp_path / "specs"
    specs.mkdir()
    text = (REPO_ROOT / "specs" / "targets.toml").read_text()
    if targets_edit:
        assert targets_edit[0] in text
        text = text.replace(*targets_edit)
    (specs / "targets.toml").write_text(text)
    shutil.copytree(REPO_ROOT / "specs" / "moby-engine-dm-selinux", specs / "moby-engine-dm-selinux")
    if url is not None:
        toml = specs / "moby-engine-dm-selinux" / "package.toml"
        toml.write_text(toml.read_text().replace('url = "{home}/moby-engine-dm-selinux"', f'url = "{url}"'))
    return specs


def test_home_unset_names_the_package_field_and_what_to_set(tmp_path: Path) -> None:
    specs = _specs_copy(tmp_path, ('home = "https://forklift.example.org"\n', ""))
    with pytest.raises(DataError, match=r"moby-engine-dm-selinux/package\.toml: url: '\{home\}/moby-engine-dm-selinux' "
                                        r"names \{home\}, but specs/targets\.toml sets no `home`") as err:
        model.load(specs)
    assert "specs/targets.toml" in str(err.value.hint)


@pytest.mark.parametrize("home", ["http://forklift.dev", "forklift.dev", "https://", "https://forklift dev"])
def test_a_bad_home_is_refused(tmp_path: Path, home: str) -> None:
    specs = _specs_copy(tmp_path, ('home = "https://forklift.example.org"', f'home = "{home}"'))
    with pytest.raises(DataError, match=r"targets\.toml: home: .* is not an https:// URL"):
        model.load(specs)


def test_only_home_is_a_url_placeholder(tmp_path: Path) -> None:
    specs = _specs_copy(tmp_path, url="https://forklift.dev/{version}")
    with pytest.raises(DataError, match=r"package\.toml: url: .*the only placeholder a package URL may use is \{home\}"):
        model.load(specs)


def test_a_real_home_reaches_the_spec(tmp_path: Path) -> None:
    specs = _specs_copy(tmp_path, ('home = "https://forklift.example.org"', 'home = "https://forklift.dev/"'))
    matrix = model.load(specs)
    assert matrix.packages["moby-engine-dm-selinux"].url == "https://forklift.dev/moby-engine-dm-selinux"


def _cfg(keys: Keys) -> gpg.KeyConfig:
    return gpg.key_config(None, environ=ci_env(keys.good), config=Path("/nonexistent/signing.toml"))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"url": "https://forklift.example.org/fkhome"},
     r"fkhome-1\.0-1\.noarch\.rpm: URL 'https://forklift\.example\.org/fkhome' is a placeholder"),
    ({"packager": "Forklift Maintainers <forklift@example.org>"},
     r"fkhome-1\.0-1\.noarch\.rpm: changelog 'Forklift Maintainers <forklift@example\.org>' is a placeholder"),
], ids=["url", "changelog"])
def test_stable_publish_refuses_placeholders_and_test_takes_them(tmp_path: Path, keys: Keys, rpms_dir: Path,
                                                                 kwargs: dict[str, str], message: str) -> None:
    target = model.load().targets[TARGET]
    build = tmp_path / "build"
    placeholder = build_rpm(tmp_path, "fkhome", **kwargs)
    make_repo(build, [rpms_dir / "fkone-1.0-1.noarch.rpm", placeholder])
    sign.sign_repo(build, TARGET, _cfg(keys))
    dest = tmp_path / "dest"
    expected = rf"^publish --channel stable of \S+/repos/{TARGET}: {message} \(example\.org is a reserved domain\)\n"
    with pytest.raises(ForkliftError, match=expected):
        publish.publish(build, target, dest, "stable", _cfg(keys))
    assert not dest.exists()
    res = publish.publish(build, target, dest, "test", _cfg(keys))
    assert [r.changed for r in res] == [True]
    assert not (dest / "fedora" / "45" / "x86_64" / "stable").exists()
