"""Run a plan: each step in order, the ownership record updated around it.

Before a step that creates something, its claim is saved as ``pending`` (with
the step as ``pending`` too); after it, ``done``. A run killed between the two
leaves a record that the next ``setup`` finishes and ``status`` reports.
"""

from __future__ import annotations

import os
import signal
from typing import TextIO

from moby_dm_storage_setup import SetupError
from moby_dm_storage_setup import state as state_mod
from moby_dm_storage_setup.plan import LOOP, Plan
from moby_dm_storage_setup.probe import run
from moby_dm_storage_setup.state import DONE, PENDING, State

# For the tests only: SIGKILL this process right after step N ran, before its claim is marked done
# (the worst moment to be killed).
KILL_AFTER_ENV = "MOBY_DM_STORAGE_SETUP_TEST_KILL_AFTER"


def execute(plan: Plan, record: State, *, dry_run: bool, out: TextIO, kill_after: int | None = None) -> None:
    if dry_run:
        for step in plan.steps:
            print(f"would run: {step.describe()}", file=out, flush=True)
        for note in plan.notes:
            print(f"note: {note}", file=out, flush=True)
        return
    if kill_after is None and os.environ.get(KILL_AFTER_ENV, "").isdigit():
        kill_after = int(os.environ[KILL_AFTER_ENV])
    if plan.steps or plan.adopt or plan.drop:
        record.info.update(plan.info)
    for claim in plan.adopt:
        record.claims[claim] = DONE
    for claim in plan.drop:
        record.claims.pop(claim, None)
    if plan.adopt or plan.drop or record.pending:
        if record.pending:
            print(f"note: an earlier run stopped during: {record.pending}; continuing from there", file=out, flush=True)
        record.pending = None
        state_mod.save(record)
    loop_dev = ""
    for number, step in enumerate(plan.steps, 1):
        shown = step.describe(loop_dev)
        print(f"+ {shown}", file=out, flush=True)
        if step.claim and record.claims.get(step.claim) != DONE:
            record.claims[step.claim] = PENDING
        record.pending = shown
        state_mod.save(record)
        if step.argv:
            argv = [loop_dev if a == LOOP else a for a in step.argv]
            if LOOP in step.argv and not loop_dev:
                raise SetupError(f"{shown}: no loop device was attached before this step")
            proc = run(argv, check=False)
            if proc.returncode not in step.ok_rc:
                raise SetupError(f"{shown} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
            if argv[0] == "losetup" and "--show" in argv:
                loop_dev = proc.stdout.strip()
        elif step.write:
            state_mod.atomic_write(*step.write)
        elif step.remove and os.path.lexists(step.remove):
            os.unlink(step.remove)
        if kill_after == number:
            os.kill(os.getpid(), signal.SIGKILL)
        if step.claim:
            record.claims[step.claim] = DONE
        if step.release:
            record.claims.pop(step.release, None)
        record.pending = None
        state_mod.save(record)
    state_mod.save(record)
    for note in plan.notes:
        print(f"note: {note}", file=out, flush=True)
