"""The command as installed (python3 storage-setup/moby-dm-storage-setup): exit codes and messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.storage.conftest import COMMAND, TREE


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(COMMAND), *args], capture_output=True, text=True, timeout=60)


def test_bad_config_exits_2_names_the_key_and_changes_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("DEVS=/dev/vdb\nCHUNK_SIZE=100K\n")
    before = sorted(tmp_path.rglob("*"))
    proc = cli("--config", str(conf), "--state-dir", str(tmp_path / "st"), "setup")
    assert proc.returncode == 2
    assert "CHUNK_SIZE" in proc.stderr and "nothing was changed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(tmp_path.rglob("*")) == before
    missing = cli("--config", str(tmp_path / "none"), "status")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path: Path) -> None:
    require_tool("losetup", "pvs", "wipefs")
    img = tmp_path / "pool.img"
    conf = tmp_path / "c.conf"
    conf.write_text(f"LOOPBACK_FILE={img}\nVG=forkliftdry\nMIN_DATA_SIZE=1G\n")
    proc = cli("--config", str(conf), "--state-dir", str(tmp_path / "st"), "setup", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert f"would run: losetup --find --show {img}" in proc.stdout
    assert "would run: lvcreate --yes --type thin-pool" in proc.stdout and "--addtag moby-dm-storage-setup" in proc.stdout
    assert not img.exists() and not (tmp_path / "st").exists()
    down = cli("--config", str(conf), "--state-dir", str(tmp_path / "st"), "teardown", "--dry-run")
    assert down.returncode == 0 and "nothing to tear down" in down.stdout


def test_named_config_commands(tmp_path: Path) -> None:
    conf_dir = tmp_path / "configs"
    default = tmp_path / "default.conf"
    default.write_text("DEVS=/dev/vdb\n")
    base = ["--config", str(default), "--config-dir", str(conf_dir), "--state-dir", str(tmp_path / "st")]
    bad = tmp_path / "bad.conf"
    bad.write_text("DEVS=/dev/vdb\nPOOL_AUTOEXTEND_PERCENT=0\n")
    proc = cli(*base, "create", "second", str(bad))
    assert proc.returncode == 2 and "POOL_AUTOEXTEND_PERCENT" in proc.stderr and not conf_dir.exists()
    proc = cli(*base, "create", "no/slash", str(default))
    assert proc.returncode == 2 and "not a usable config name" in proc.stderr
    proc = cli(*base, "activate", "absent")
    assert proc.returncode == 1 and "no configuration named absent" in proc.stderr
    listed = cli(*base, "list")
    assert listed.returncode == 0 and "default" in listed.stdout and "not created" in listed.stdout


def test_needs_root_to_change_anything() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        conf = Path(d) / "c.conf"
        conf.write_text("DEVS=/dev/vdb\n")
        conf.chmod(0o644)
        argv = [sys.executable, str(COMMAND), "--config", str(conf), "setup"]
        if os.geteuid() == 0:  # run it as nobody
            require_tool("setpriv")
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "must run as root" in proc.stderr, proc.stderr


def test_unit_file_orders_before_the_engine() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(TREE / "moby-dm-storage-setup.service")
    assert unit["Service"]["Type"] == "oneshot" and unit["Service"]["RemainAfterExit"] == "yes"
    assert unit["Service"]["ExecStart"] == "/usr/bin/moby-dm-storage-setup setup"
    assert "docker.service" in unit["Unit"]["Before"].split()
    assert set(unit["Install"]["WantedBy"].split()) == {"multi-user.target", "docker.service"}


def test_spec_installs_the_package_for_every_target(tmp_path: Path) -> None:
    from tooling import model, render
    from tooling.run import run

    require_tool("rpmspec")
    matrix = model.load()
    pkg = matrix.packages["moby-dm-storage-setup"]
    local = {s.file for s in pkg.sources if s.kind == "local"}
    modules = {p.name for p in (TREE / "moby_dm_storage_setup").glob("*.py")}
    assert local >= {"moby-dm-storage-setup", "moby-dm-storage-setup.service", "moby-dm-storage-setup.conf"}
    assert local >= modules, f"modules not packaged: {modules - local}"
    assert {f"{m}.py" for m in pkg.vars["modules"]} == modules
    for target in matrix.targets.values():
        spec = tmp_path / f"{target.name}.spec"
        spec.write_text(render.render_spec(matrix, target, pkg))
        parsed = run(["rpmspec", "-P", str(spec), *target.macro_args()]).stdout
        assert "BuildArch:      noarch" in parsed
        assert "%config(noreplace) /etc/sysconfig/moby-dm-storage-setup" in parsed
        assert "/usr/share/moby-dm-storage-setup\n" in parsed
        for mod in modules:
            assert f"moby_dm_storage_setup/{mod}" in parsed
        for req in ("lvm2", "device-mapper-persistent-data", "xfsprogs"):
            assert f"Requires:       {req}" in parsed


def test_runs_on_the_oldest_target_python() -> None:
    """EL 9's /usr/bin/python3 is 3.9: the command and a plan must work there (skips when no python3.9 here)."""
    import shutil

    py = shutil.which("python3.9")
    works = py and subprocess.run([py, "-c", "import sys; assert sys.version_info[:2] == (3, 9)"],
                                  capture_output=True, timeout=60).returncode == 0
    if not py or not works:
        pytest.skip("no working python3.9 on PATH to check EL 9's interpreter with")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from moby_dm_storage_setup import config, plan, probe; "
            "c = config.load_config('DEVS=/dev/vdb\\n'); d = probe.DeviceState('/dev/vdb', '/dev/vdb', True, True, "
            "size=10 << 30); print(plan.plan_setup(c, probe.SystemState(devices=(d,))).commands[0])")
    proc = subprocess.run([py, "-c", code, str(TREE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['pvcreate', '--yes', '/dev/vdb']"
    version = subprocess.run([py, str(COMMAND), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "moby-dm-storage-setup" in version.stdout, version.stderr


def test_add_dev_needs_a_pool_made_by_the_tool(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("DEVS=/dev/vdb\n")
    proc = cli("--config", str(conf), "--state-dir", str(tmp_path / "st"), "add-dev", "/dev/vdc", "--dry-run")
    assert proc.returncode == 1 and "no pool made by moby-dm-storage-setup yet; run setup first" in proc.stderr
