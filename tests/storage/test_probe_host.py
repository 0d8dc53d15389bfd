"""Probing real block devices on this host: loop devices carrying a filesystem, a partition
table, a LUKS header, a mount, an LVM label of another VG. The planner must refuse each,
naming the device and the reason, and leave the device byte-identical.

Needs root and loop devices (CI runs as root); LV activation needs device-mapper in the
kernel, which is tested in the VM (tests/smoke/test_storage_setup.py)."""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from moby_dm_storage_setup import SetupError
from moby_dm_storage_setup.config import load_config
from moby_dm_storage_setup.plan import plan_setup
from moby_dm_storage_setup.probe import probe

from tests.conftest import require_tool


@pytest.fixture
def loopdev(tmp_path: Path) -> Iterator[str]:
    require_tool("losetup", "wipefs", "pvs")
    if os.geteuid() != 0:
        pytest.skip("loop devices need root")
    img = tmp_path / "disk.img"
    with open(img, "wb") as fh:
        fh.truncate(64 << 20)
    proc = subprocess.run(["losetup", "--find", "--show", str(img)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"no loop device here: {proc.stderr.strip()}")
    dev = proc.stdout.strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "--detach", dev], capture_output=True)


def _digest(dev: str) -> str:
    with open(dev, "rb") as fh:
        return hashlib.sha256(fh.read(8 << 20)).hexdigest()


def _refusal(dev: str, wipe: bool = False, same_bytes: bool = True) -> str:
    cfg = load_config(f"DEVS={dev}\nVG=forkliftprobe\nMIN_DATA_SIZE=8M\nDEVICE_WAIT_TIMEOUT=0\n")
    before = _digest(dev)
    with pytest.raises(SetupError) as err:
        plan_setup(cfg, probe(cfg, wait=False), wipe=wipe)
    if same_bytes:
        assert _digest(dev) == before
    return str(err.value)


def test_blank_loop_device_is_accepted(loopdev: str) -> None:
    cfg = load_config(f"DEVS={loopdev}\nVG=forkliftprobe\nMIN_DATA_SIZE=8M\n")
    st = probe(cfg, wait=False)
    (d,) = st.devices
    assert d.is_block and d.signatures == () and d.pv_vg is None and d.size == 64 << 20 and not d.busy
    assert plan_setup(cfg, st).commands[0] == ["pvcreate", "--yes", loopdev]


def test_filesystem_signature(loopdev: str) -> None:
    require_tool("mkfs.ext4")
    subprocess.run(["mkfs.ext4", "-q", "-F", loopdev], check=True)
    msg = _refusal(loopdev)
    assert loopdev in msg and "filesystem or other signature (ext4)" in msg


def test_partition_table(loopdev: str) -> None:
    mbr = bytearray(512)
    mbr[446:462] = bytes([0, 0, 2, 0, 0x83, 0, 0, 0]) + struct.pack("<II", 2048, 4096)
    mbr[510:512] = b"\x55\xaa"
    with open(loopdev, "r+b") as fh:
        fh.write(mbr)
    msg = _refusal(loopdev)
    assert loopdev in msg and "partition table (dos)" in msg


def test_luks_header_even_with_wipe(loopdev: str) -> None:
    hdr = (b"LUKS\xba\xbe" + struct.pack(">H", 1) + b"aes".ljust(32, b"\0") + b"xts-plain64".ljust(32, b"\0")
           + b"sha256".ljust(32, b"\0") + struct.pack(">II", 4096, 32) + b"\0" * 52 + struct.pack(">I", 1000)
           + b"12345678-1234-1234-1234-123456789abc".ljust(40, b"\0"))
    with open(loopdev, "r+b") as fh:
        fh.write(hdr)
    msg = _refusal(loopdev, wipe=True)
    assert loopdev in msg and "LUKS" in msg


def test_mounted_device(loopdev: str, tmp_path: Path) -> None:
    require_tool("mkfs.ext4", "mount", "umount")
    subprocess.run(["mkfs.ext4", "-q", "-F", loopdev], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", loopdev, str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
    try:
        msg = _refusal(loopdev, wipe=True, same_bytes=False)  # a mounted ext4 writes by itself (lazy init)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert loopdev in msg and "mounted" in msg and str(mnt) in msg


def test_pv_of_another_vg(loopdev: str) -> None:
    require_tool("pvcreate", "vgcreate", "vgremove", "pvremove")
    subprocess.run(["pvcreate", "-qq", "--yes", loopdev], check=True, capture_output=True)
    subprocess.run(["vgcreate", "-qq", "forkliftother", loopdev], check=True, capture_output=True)
    try:
        msg = _refusal(loopdev, wipe=True)
    finally:
        subprocess.run(["vgremove", "-qq", "--yes", "forkliftother"], capture_output=True)
        subprocess.run(["pvremove", "-qq", "--yes", loopdev], capture_output=True)
    assert loopdev in msg and "volume group forkliftother" in msg
