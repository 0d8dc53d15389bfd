"""build_policy: a real compile with the policy devel Makefile."""

from __future__ import annotations

import bz2
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.selinux.conftest import insert_after, line_of, require_devel
from tooling.errors import ForkliftError
from tooling.selinux import build_policy
from tooling.selinux.cil import facts, module_cil

EXPECTED_TYPES = {
    "moby_dm_storage_setup_t",
    "moby_dm_storage_setup_exec_t",
    "moby_dm_storage_setup_conf_t",
    "moby_dm_engine_storage_conf_t",
    "moby_dm_lvm_profile_t",
    "moby_dm_storage_setup_var_lib_t",
    "moby_dm_storage_setup_tmp_t",
    "moby_dm_storage_setup_unit_file_t",
}


def test_build_writes_a_bzip2_module_with_the_domain(built_module: Path, tmp_path: Path) -> None:
    assert built_module.name == "moby_dm.pp.bz2"
    raw = bz2.decompress(built_module.read_bytes())
    assert raw == (built_module.parent / "work" / "moby_dm.pp").read_bytes()
    module = facts(module_cil(built_module, tmp_path))
    assert set(module.types) == EXPECTED_TYPES
    assert module.permissive == ()
    # the domain is a systemd daemon entered from its executable
    assert "moby_dm_storage_setup_t" in module.attribute_members["daemon"]
    assert "moby_dm_storage_setup_exec_t" in module.attribute_members["entry_type"]


def test_build_is_reproducible(built_module: Path, tmp_path: Path) -> None:
    again = build_policy(out_dir=tmp_path)
    assert again.read_bytes() == built_module.read_bytes()


BAD_FC = "/usr/bin/foo\t--\tgen_context(system_u:object_r:moby_dm_storage_setup_exec_t,s0"


# (file, line to insert after, bad line, text that finds it again, expected messages:
#  @PATH@ is the file's full path, @LINE@ the line of the bad text)
@pytest.mark.parametrize(("kind", "anchor", "bad", "marker", "expected"), [
    ("te", "self:fifo_file", "allow moby_dm_storage_setup_t self:capability { sys_admin ;",
     "self:capability { sys_admin ;",
     ["@PATH@:@LINE@: 'syntax error' at token ';'", "allow moby_dm_storage_setup_t self:capability { sys_admin ;"]),
    ("te", "self:fifo_file", "allow moby_dm_storage_setup_t no_such_type_t:file read;", "no_such_type_t",
     ["moby_dm.te:@LINE@: 'unknown type no_such_type_t'"]),
    ("te", "self:fifo_file", "not_an_interface(moby_dm_storage_setup_t)", "not_an_interface(",
     ["moby_dm.te:@LINE@: 'syntax error' at token 'not_an_interface'"]),
    # m4 reports where the unterminated call starts
    ("fc", "moby-dm-storage-setup\\.service", BAD_FC, "/usr/bin/foo",
     ["moby_dm.fc:@LINE@: ERROR: end of file in argument list"]),
], ids=["syntax-error", "undeclared-type", "unknown-interface", "broken-file-contexts"])
def test_policy_errors_name_file_and_line(variant: Callable[..., Path], tmp_path: Path, kind: str, anchor: str,
                                          bad: str, marker: str, expected: list[str]) -> None:
    require_devel()
    src = variant(**{kind: insert_after(anchor, bad)})
    path = src / f"moby_dm.{kind}"
    line = line_of(path, marker)
    with pytest.raises(ForkliftError) as err:
        build_policy(out_dir=tmp_path / "out", source_dir=src)
    for text in expected:
        assert text.replace("@PATH@", str(path)).replace("@LINE@", str(line)) in str(err.value)
    assert not (tmp_path / "out" / "moby_dm.pp.bz2").exists()


def test_missing_source_file(tmp_path: Path) -> None:
    require_devel()
    (tmp_path / "moby_dm.te").write_text("policy_module(moby_dm, 0.1.0)\n")
    with pytest.raises(ForkliftError, match=r"moby_dm\.if is missing"):
        build_policy(out_dir=tmp_path / "out", source_dir=tmp_path)


def test_missing_devel_makefile(tmp_path: Path) -> None:
    with pytest.raises(ForkliftError) as err:
        build_policy(out_dir=tmp_path, makefile=tmp_path / "no" / "Makefile")
    assert "selinux-policy-dev" in str(err.value)


def test_broken_interface_file_fails_although_make_succeeds(variant: Callable[..., Path], tmp_path: Path) -> None:
    require_devel()
    src = variant(**{"if": lambda text: text + "interface(`moby_dm_broken',`\n\tallow $1 self:file read;\n"})
    line = line_of(src / "moby_dm.if", "interface(`moby_dm_broken'")
    with pytest.raises(ForkliftError) as err:
        build_policy(out_dir=tmp_path / "out", source_dir=src)
    # m4 reports where the unterminated string starts
    assert f"moby_dm.if:{line}: ERROR: end of file in string" in str(err.value)
