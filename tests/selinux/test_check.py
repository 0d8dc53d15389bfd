"""check_policy: the module linked with the distribution's base policy, assertions run with setools."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.selinux.conftest import insert_after, require_base_policy, require_devel
from tooling.errors import DataError, ForkliftError
from tooling.selinux import ASSERTIONS_FILE, build_policy, check_policy
from tooling.selinux.assertions import evaluate_labels, evaluate_module, label_of, load_assertions
from tooling.selinux.cil import facts, module_cil
from tooling.selinux.filecontexts import module_file_contexts

# A stand-in for container-selinux: the two types the module's optional
# blocks need. Linked in, it turns those blocks (and their assertions) on.
CONTAINER_STUB_TE = """\
policy_module(container_stub, 1.0.0)
type container_runtime_t;
domain_type(container_runtime_t)
type container_config_t;
files_config_file(container_config_t)
"""


def _requires_container(path: Path = ASSERTIONS_FILE) -> int:
    return sum(1 for a in load_assertions(path).rules if a.requires)


@pytest.mark.slow
def test_repo_module_passes_against_the_base_policy(built_module: Path) -> None:
    require_base_policy()
    report = check_policy(built_module)
    total = len(load_assertions(ASSERTIONS_FILE).rules)
    # the reference policy has no container-selinux: those assertions do not apply
    assert report.passed == total - _requires_container()
    assert len(report.not_applicable) == _requires_container()
    assert all("container_" in n for n in report.not_applicable)
    assert report.policy.is_file()
    # the linked policy is an ordinary kernel policy: sesearch reads it
    if shutil.which("sesearch"):
        out = subprocess.run(
            ["sesearch", "-T", "-s", "moby_dm_storage_setup_t", "-t", "lvm_exec_t", "-c", "process", str(report.policy)],
            check=True, capture_output=True, text=True,
        ).stdout
        assert "type_transition moby_dm_storage_setup_t lvm_exec_t:process lvm_t;" in out


@pytest.mark.slow
def test_engine_rules_apply_with_container_selinux(built_module: Path, tmp_path: Path) -> None:
    require_base_policy()
    stub_src = tmp_path / "stub"
    stub_src.mkdir()
    (stub_src / "container_stub.te").write_text(CONTAINER_STUB_TE)
    (stub_src / "container_stub.if").write_text("## <summary>test stub</summary>\n")
    (stub_src / "container_stub.fc").write_text("")
    stub = build_policy(out_dir=tmp_path / "stub-out", source_dir=stub_src, module="container_stub")
    report = check_policy(built_module, extra_modules=[stub])
    assert report.not_applicable == ()
    assert report.passed == len(load_assertions(ASSERTIONS_FILE).rules)


@pytest.mark.slow
def test_missing_rule_unconfined_and_permissive_are_reported(variant: Callable[..., Path], tmp_path: Path) -> None:
    require_base_policy()

    def edit(te: str) -> str:
        te = te.replace("read_files_pattern(lvm_t, moby_dm_lvm_profile_t, moby_dm_lvm_profile_t)\n", "")
        te = insert_after("self:fifo_file", "unconfined_domain(moby_dm_storage_setup_t)")(te)
        return insert_after("self:fifo_file", "permissive moby_dm_storage_setup_t;")(te)

    def edit_fc(fc: str) -> str:
        fc = fc.replace("object_r:moby_dm_engine_storage_conf_t", "object_r:moby_dm_storage_setup_conf_t")
        return fc + "/usr/bin/moby-dm-helper\t--\tgen_context(system_u:object_r:moby_dm_no_such_t,s0)\n"

    pp = build_policy(out_dir=tmp_path / "out", source_dir=variant(te=edit, fc=edit_fc))
    with pytest.raises(ForkliftError) as err:
        check_policy(pp)
    msg = str(err.value)
    assert "file context '/usr/bin/moby-dm-helper -- system_u:object_r:moby_dm_no_such_t:s0': no type moby_dm_no_such_t" in msg
    assert "label /etc/sysconfig/docker-storage -> moby_dm_engine_storage_conf_t" in msg
    assert "labelled moby_dm_storage_setup_conf_t by '/etc/sysconfig/docker-storage -- " in msg
    assert "allow lvm_t moby_dm_lvm_profile_t:file { getattr open read }" in msg
    assert "missing permission(s) { getattr open read } (lvm reads the thin pool's autoextend profile)" in msg
    assert "the module declares permissive type moby_dm_storage_setup_t" in msg
    assert "the module puts moby_dm_storage_setup_t into unconfined_domain_type" in msg
    assert "type moby_dm_storage_setup_t is permissive" in msg
    attrs = next(line for line in msg.splitlines() if "type moby_dm_storage_setup_t has forbidden attribute(s)" in line)
    assert "unconfined_domain_type" in attrs.split()


def test_broad_rules_and_capabilities_are_found_in_the_module(variant: Callable[..., Path], tmp_path: Path) -> None:
    require_devel()
    require_tool("semodule_package")

    def edit(te: str) -> str:
        te = insert_after("self:fifo_file", "files_read_all_files(moby_dm_storage_setup_t)")(te)
        te = insert_after("self:fifo_file", "dev_getattr_all_blk_files(moby_dm_storage_setup_t)")(te)
        return insert_after("self:fifo_file", "allow moby_dm_storage_setup_t self:capability sys_module;")(te)

    pp = build_policy(out_dir=tmp_path / "out", source_dir=variant(te=edit))
    forbid = load_assertions(ASSERTIONS_FILE).forbid
    problems = evaluate_module(facts(module_cil(pp, tmp_path / "cil")), forbid)
    text = "\n".join(problems)
    assert "broad rule (allow moby_dm_storage_setup_t file_type (file (" in text
    assert "grants forbidden capability permission(s) sys_module" in text
    assert "broad rule (allow moby_dm_storage_setup_t device_node (blk_file (getattr)))" in text
    # the repository's module itself introduces nothing of the kind
    clean = build_policy(out_dir=tmp_path / "clean")
    assert evaluate_module(facts(module_cil(clean, tmp_path / "cil2")), forbid) == []


@pytest.mark.slow
def test_required_type_outside_optional_fails_the_link(variant: Callable[..., Path], tmp_path: Path) -> None:
    require_base_policy()
    te = insert_after("self:fifo_file", "gen_require(` type no_such_runtime_t; ')\n"
                      "allow moby_dm_storage_setup_t no_such_runtime_t:file read;")
    pp = build_policy(out_dir=tmp_path / "out", source_dir=variant(te=te))
    with pytest.raises(ForkliftError) as err:
        check_policy(pp)
    assert "linking moby_dm.pp.bz2 with the base policy" in str(err.value)
    assert "no_such_runtime_t" in str(err.value)


def test_assertion_file_errors_name_the_key(tmp_path: Path, built_module: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text('[[allow]]\nwhy = "x"\nsource = "a_t"\ntarget = "b_t"\nclass = "file"\nperm = ["read"]\n')
    with pytest.raises(DataError) as err:
        check_policy(built_module, assertions=bad)
    assert f"{bad}: allow[0].perm: unknown field" in str(err.value)
    bad.write_text('[[type_transition]]\nwhy = "x"\nsource = "a_t"\ntarget = "b_t"\nclass = "file"\n')
    with pytest.raises(DataError, match=r"type_transition\[0\]\.default: missing required field"):
        load_assertions(bad)


def test_file_contexts_label_the_tool_files(built_module: Path, tmp_path: Path) -> None:
    require_tool("semodule_unpackage")
    contexts = module_file_contexts(built_module, tmp_path)
    assert evaluate_labels(contexts, load_assertions(ASSERTIONS_FILE).labels, ASSERTIONS_FILE) == []
    state = label_of(contexts, "/var/lib/moby-dm-storage-setup")
    assert state is not None and state.type == "moby_dm_storage_setup_var_lib_t"
    assert label_of(contexts, "/usr/bin/dockerd") is None
    assert label_of(contexts, "/etc/lvm/lvm.conf") is None  # lvm.conf keeps lvm_etc_t
