"""The accelerator choice cannot hang a smoke run.

- the stall watchdog stops a child that prints nothing, with real processes;
- KVM counts only when a guest really runs: a missing node, a forced value and a bad value;
- a real kernel booted under TCG prints its banner (the probe's positive case, for real);
- on this host, the probe's verdict for KVM matches what a KVM guest really does;
- a KVM run that stalls after SeaBIOS is retried once under TCG, through the provisioner's own
  boot loop, with a stand-in qemu that hangs under kvm exactly as a nested guest does here.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling.errors import ForkliftError
from tooling.smoke import accel
from tooling.smoke.image import Image
from tooling.smoke.vm import VmProvisioner


def _kernel() -> Path:
    found = sorted(Path("/boot").glob("vmlinuz-*"))
    if not found:
        pytest.skip("needs a Debian kernel under /boot (apt-get install linux-image-amd64)")
    return found[-1]


def test_stall_watchdog_stops_a_silent_child() -> None:
    t0 = time.monotonic()
    res = accel.run_console(["sh", "-c", "echo hello; exec sleep 60"], timeout=30, stall=1.5)
    assert res.stalled and not res.timed_out
    assert res.returncode is None  # Forklift stopped it
    assert "hello" in res.output
    assert time.monotonic() - t0 < 10


def test_overall_deadline_stops_a_chatty_child() -> None:
    res = accel.run_console(["sh", "-c", "while :; do echo tick; sleep 0.2; done"], timeout=2, stall=10)
    assert res.timed_out and not res.stalled
    assert res.output.count("tick") >= 3


def test_until_returns_once_the_text_appears() -> None:
    t0 = time.monotonic()
    res = accel.run_console(["sh", "-c", "echo boot; echo 'Linux version 9'; exec sleep 60"],
                            timeout=30, stall=30, until=accel.PROBE_MARK)
    assert accel.PROBE_MARK in res.output
    assert time.monotonic() - t0 < 10


def test_exit_code_of_a_child_that_finishes() -> None:
    res = accel.run_console(["sh", "-c", "echo done; exit 3"], timeout=10, stall=10)
    assert res.returncode == 3 and not res.stalled and "done" in res.output


def test_missing_kvm_node_means_tcg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(accel.ENV, raising=False)
    choice = accel.choose(tmp_path / "vmlinuz", kvm_node=str(tmp_path / "no-kvm"))
    assert choice.accel == "tcg"
    assert "no-kvm" in choice.reason


@pytest.mark.parametrize("value", ["kvm", "tcg", "TCG"])
def test_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str) -> None:
    monkeypatch.setenv(accel.ENV, value)
    choice = accel.choose(tmp_path / "vmlinuz", kvm_node=str(tmp_path / "no-kvm"))
    assert choice.accel == value.lower()
    assert accel.ENV in choice.reason


def test_bad_override_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(accel.ENV, "hvf")
    with pytest.raises(ForkliftError) as exc:
        accel.choose(tmp_path / "vmlinuz")
    assert accel.ENV in str(exc.value) and "kvm or tcg" in str(exc.value)


@pytest.mark.slow
def test_a_real_kernel_runs_under_tcg() -> None:
    require_tool("qemu-system-x86_64")
    assert accel.guest_runs(_kernel(), "tcg")


@pytest.mark.slow
def test_kvm_verdict_matches_a_running_guest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this host is, the choice for KVM follows what a KVM guest does, never the device node."""
    require_tool("qemu-system-x86_64")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm node on this host: the probe is not reached (covered above)")
    monkeypatch.delenv(accel.ENV, raising=False)
    kernel = _kernel()
    accel._cache.pop(kernel, None)
    choice = accel.choose(kernel)
    # an independent run of a KVM guest, with a longer deadline than the probe's
    res = accel.run_console(accel.probe_argv(kernel, "kvm"), timeout=40, stall=40, until=accel.PROBE_MARK)
    runs = accel.PROBE_MARK in res.output
    assert choice.accel == ("kvm" if runs else "tcg"), (choice, res.output[-300:])


FAKE_QEMU = """#!/bin/sh
# stands in for qemu-system-x86_64: under kvm it hangs after SeaBIOS as a nested guest does
case " $* " in
  *" -accel kvm "*) echo "SeaBIOS (version 1.16.2-debian-1.16.2-1)"; echo "Booting from ROM.."; exec sleep 300 ;;
esac
echo "FORKLIFT-BOOTED 1.0"
echo "FORKLIFT-CHECK versions PASS 0.1 ok"
echo "FORKLIFT-END failed=[]"
"""


def _fake_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Image:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    q = bindir / "qemu-system-x86_64"
    q.write_text(FAKE_QEMU)
    q.chmod(q.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FORKLIFT_VM_STALL_SECONDS", "2")
    for name in ("vmlinuz", "initrd", "root", "payload", "pool", "spare"):
        (tmp_path / name).write_bytes(b"")
    return Image(tmp_path, tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "root", 0.0)


def test_a_stalled_kvm_run_is_retried_under_tcg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accel.ENV, raising=False)
    img = _fake_qemu(tmp_path, monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    t0 = time.monotonic()
    timing, console, problems = VmProvisioner()._boot(
        img, tmp_path / "payload", tmp_path / "pool", tmp_path / "spare",
        accel.Choice("kvm", "test"), 60, work)
    assert time.monotonic() - t0 < 20
    assert problems == []
    assert timing[0] == "boot-to-verdict (tcg)"
    assert "FORKLIFT-END" in console
    assert "Booting from ROM" in (work / "console-kvm.log").read_text()


def test_a_forced_kvm_run_that_stalls_names_the_stall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = _fake_qemu(tmp_path, monkeypatch)
    monkeypatch.setenv(accel.ENV, "kvm")
    work = tmp_path / "work"
    work.mkdir()
    timing, _console, problems = VmProvisioner()._boot(
        img, tmp_path / "payload", tmp_path / "pool", tmp_path / "spare",
        accel.choose(img.kernel), 60, work)
    assert len(problems) == 1
    assert "stalled under kvm" in problems[0] and "no console output for 2 s" in problems[0]
    assert "Booting from ROM" in problems[0]  # the last line it printed
    assert timing[0] == "boot-to-verdict (kvm)"


def test_bad_stall_setting_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = _fake_qemu(tmp_path, monkeypatch)
    monkeypatch.setenv("FORKLIFT_VM_STALL_SECONDS", "soon")
    with pytest.raises(ForkliftError, match="FORKLIFT_VM_STALL_SECONDS"):
        VmProvisioner()._boot(img, tmp_path / "payload", tmp_path / "pool", tmp_path / "spare",
                              accel.Choice("tcg", "test"), 60, tmp_path)
