"""The ownership record and running a plan: claims pending before a step, done after; a run
killed (SIGKILL) between the two leaves the claim pending and the step named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from moby_dm_storage_setup import SetupError
from moby_dm_storage_setup import state as state_mod

from tests.storage.conftest import TREE

SCRIPT = textwrap.dedent("""
    import io, sys
    sys.path.insert(0, {tree!r})
    from moby_dm_storage_setup import state
    from moby_dm_storage_setup.apply import execute
    from moby_dm_storage_setup.plan import Plan, Step
    rec = state.load({path!r})
    plan = Plan()
    plan.cmd("touch", {a!r}, claim="loop:a")
    plan.cmd("touch", {b!r}, claim="pv:b")
    plan.steps.append(Step(write=({c!r}, "x"), claim="file:c"))
    execute(plan, rec, dry_run=False, out=io.StringIO())
""")


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = SCRIPT.format(tree=str(TREE), path=str(tmp_path / "st" / "default.json"), a=str(tmp_path / "a"),
                           b=str(tmp_path / "b"), c=str(tmp_path / "c"))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_killed_run_leaves_the_step_pending_and_a_rerun_completes(tmp_path: Path, kill_after: int) -> None:
    proc = _run(tmp_path, MOBY_DM_STORAGE_SETUP_TEST_KILL_AFTER=str(kill_after))
    assert proc.returncode == -9, proc.stderr  # SIGKILL: no handler ran
    rec = json.loads((tmp_path / "st" / "default.json").read_text())
    claims = ["loop:a", "pv:b", "file:c"]
    assert rec["claims"] == {**{c: "done" for c in claims[:kill_after - 1]}, claims[kill_after - 1]: "pending"}
    assert rec["pending"] is not None
    assert (tmp_path / "abc"[kill_after - 1]).exists()  # the step ran, its claim was not confirmed
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    rec = json.loads((tmp_path / "st" / "default.json").read_text())
    assert rec["claims"] == {c: "done" for c in claims} and rec["pending"] is None


def test_state_file_round_trip_and_empty_record_removes_it(tmp_path: Path) -> None:
    path = str(tmp_path / "s" / "x.json")
    rec = state_mod.load(path)
    assert rec.empty
    rec.claims["vg:docker"] = "done"
    rec.claims["pv:/dev/vdb"] = "pending"
    state_mod.save(rec)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    back = state_mod.load(path)
    assert back.claims == rec.claims and back.half_made() == ["pv:/dev/vdb"] and back.of_kind("pv") == ["/dev/vdb"]
    back.claims.clear()
    state_mod.save(back)
    assert not os.path.exists(path)
    assert list((tmp_path / "s").iterdir()) == []  # no temp file left


@pytest.mark.parametrize("text", ["{nope", '{"version": 2, "claims": {}}', '{"version": 1, "claims": {"a": "maybe"}}'])
def test_damaged_state_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "default.json"
    path.write_text(text)
    with pytest.raises(SetupError) as err:
        state_mod.load(str(path))
    assert str(path) in str(err.value) and "move it away" in str(err.value)
