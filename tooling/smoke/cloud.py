"""``invoke smoke --via vm --image FILE.qcow2``: drive a Fedora, CentOS Stream or RHEL cloud image.

The user's image is never written: qemu boots a qcow2 overlay backed by it
(``qemu-img create -f qcow2 -F qcow2 -b <abs image>``). Beside it, the disks of the
RPM-native guest (vm.py): the read-only payload disk (the repo under test, rpm-native.sh,
checks.sh, env, and guest/cloud-run.sh), the pool disk and the spare disk; and a
cloud-init **NoCloud seed**, an ISO 9660 disk labelled ``cidata`` holding ``user-data`` and
``meta-data`` (xorriso). The seed's runcmd prints ``FORKLIFT-BOOTED`` and the
``cloud-init-seed`` verdict (naming this run's instance-id) on ttyS0, mounts the payload
disk and starts guest/cloud-run.sh in its own systemd unit (outside cloud-final, since the
checks start units themselves); that script runs rpm-native.sh (dnf install from the payload
disk's repo, the distro's repos still enabled for dependencies) and powers the guest off.
Forklift reads the verdict from the serial console as for the other guests (verdict.py,
FORKLIFT-END, the stall watchdog). qemu user-mode networking gives the guest the distro's
repos when the host has network; Forklift's own packages never come from the network.

The image boots through its own bootloader. For the test image built here (the Debian
cloud-init image of rpmimage.py, which has no bootloader) a **test-only** direct kernel
boot: ``$FORKLIFT_CLOUD_KERNEL`` (+ ``$FORKLIFT_CLOUD_INITRD``, ``$FORKLIFT_CLOUD_APPEND``).

Pure functions compute the seed, the disks and the argv; :func:`make_overlay`,
:func:`make_seed` and :func:`debian_test_image` run processes.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run
from tooling.smoke.provision import GUEST_DIR

SEED_LABEL = "cidata"
QCOW2_MAGIC = b"QFI\xfb"
CLOUD_RUN_SCRIPT = GUEST_DIR / "cloud-run.sh"
SEED_SCRIPT = "/run/forklift-seed.sh"
SEED_CHECK = "cloud-init-seed"  # the verdict line only the seed's runcmd prints
ENV_KERNEL = "FORKLIFT_CLOUD_KERNEL"
ENV_INITRD = "FORKLIFT_CLOUD_INITRD"
ENV_APPEND = "FORKLIFT_CLOUD_APPEND"
DEFAULT_APPEND = "console=ttyS0 rw panic=-1"
TOOLS = ("qemu-system-x86_64", "qemu-img", "xorriso", "mkfs.ext4", "createrepo_c")
SETUP_HINT = "bash ci/setup.sh --test installs it"
TEST_IMAGE_EXTRA = ("cloud-init",)  # the Debian packages the cloud-init test image adds to the RPM-native guest's


@dataclass(frozen=True)
class DirectBoot:
    """Test-only: boot this kernel (and initrd) instead of the image's own bootloader."""

    kernel: Path
    initrd: Path | None
    append: str


@dataclass(frozen=True)
class Disk:
    name: str  # the virtio serial: /dev/disk/by-id/virtio-<name> in the guest
    path: Path
    fmt: str  # qcow2 or raw
    opts: str = ""


def check_image(image: str) -> Path:
    """The user's image as an absolute path; a one-line error when it is missing, unreadable or no qcow2."""
    path = Path(image).expanduser()
    convert = f"qemu-img convert -O qcow2 {image} {Path(image).stem}.qcow2"
    if not path.exists():
        raise ForkliftError(f"--image {image}: no such file",
                            hint="give the path of a Fedora, CentOS Stream or RHEL cloud image (.qcow2)")
    if not path.is_file():
        raise ForkliftError(f"--image {image}: not a file", hint="give the path of a cloud image file (.qcow2)")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ForkliftError(f"--image {image}: cannot read it: {exc.strerror or exc}",
                            hint="make it readable for this user (qemu only reads it: the VM writes to an overlay)"
                            ) from None
    if magic != QCOW2_MAGIC:
        raise ForkliftError(f"--image {image}: not a qcow2 image",
                            hint=f"cloud images are qcow2; convert a raw one first: {convert}")
    return path.resolve()


def check_tools(which: Callable[[str], str | None] = shutil.which) -> None:
    """Every tool the cloud path runs, or a one-line error naming the first one missing."""
    for tool in TOOLS:
        if which(tool) is None:
            raise ForkliftError(f"--image needs {tool}, which is not on PATH", hint=SETUP_HINT)


def direct_boot(environ: Mapping[str, str] | None = None) -> DirectBoot | None:
    """The test-only direct kernel boot from $FORKLIFT_CLOUD_KERNEL/_INITRD/_APPEND, or None (the image's
    own bootloader)."""
    env = os.environ if environ is None else environ
    kernel = env.get(ENV_KERNEL, "").strip()
    initrd = env.get(ENV_INITRD, "").strip()
    if not kernel:
        if initrd:
            raise ForkliftError(f"${ENV_INITRD} is set but ${ENV_KERNEL} is not",
                                hint=f"set both (test images without a bootloader), or unset ${ENV_INITRD}")
        return None
    for var, value in ((ENV_KERNEL, kernel), (ENV_INITRD, initrd)):
        if value and not Path(value).is_file():
            raise ForkliftError(f"${var}={value}: no such file",
                                hint=f"point it at a kernel/initrd, or unset ${var} to boot the image's bootloader")
    return DirectBoot(Path(kernel), Path(initrd) if initrd else None,
                      env.get(ENV_APPEND, "").strip() or DEFAULT_APPEND)


def new_instance_id() -> str:
    return f"forklift-smoke-{secrets.token_hex(6)}"


def seed_script(instance_id: str) -> str:
    """What the seed's runcmd runs (written by write_files): verdict of the seed, payload disk, the checks."""
    return f"""\
#!/bin/sh
# Forklift smoke seed (tooling/smoke/cloud.py), run by cloud-init's runcmd
tty=/dev/ttyS0
echo "FORKLIFT-BOOTED $(cut -d' ' -f1 /proc/uptime) via=cloud-init" > $tty
echo "FORKLIFT-CHECK {SEED_CHECK} PASS 0.0 runcmd of instance-id {instance_id} \
(datasource: $(cloud-id 2>/dev/null || echo unknown))" > $tty
mkdir -p /forklift
i=0
while [ ! -e /dev/disk/by-id/virtio-payload ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
if ! mount -o ro /dev/disk/by-id/virtio-payload /forklift; then
    echo "FORKLIFT-END failed=[mount-payload]" > $tty
    sync
    echo o > /proc/sysrq-trigger
    exit 1
fi
# the checks start units themselves (docker.socket, ...): their own unit, not cloud-final's job
systemd-run --unit=forklift-smoke --no-block --collect sh /forklift/cloud-run.sh
"""


def user_data(instance_id: str) -> str:
    """The #cloud-config of the seed (pure)."""
    script = "".join(f"      {ln}\n" if ln else "\n" for ln in seed_script(instance_id).splitlines())
    return (
        "#cloud-config\n"
        f"# Forklift smoke seed for {instance_id} (tooling/smoke/cloud.py): run the smoke checks\n"
        "# from the payload disk and print the verdict on the serial console (ttyS0).\n"
        "write_files:\n"
        f"  - path: {SEED_SCRIPT}\n"
        "    permissions: '0755'\n"
        "    content: |\n"
        f"{script}"
        "runcmd:\n"
        f"  - [sh, {SEED_SCRIPT}]\n"
    )


def meta_data(instance_id: str) -> str:
    return f"instance-id: {instance_id}\nlocal-hostname: forklift-smoke\n"


def seed_files(instance_id: str) -> dict[str, str]:
    """The NoCloud seed's files (pure)."""
    return {"user-data": user_data(instance_id), "meta-data": meta_data(instance_id)}


def overlay_argv(image: Path, overlay: Path) -> list[str]:
    """qemu-img's command for the throw-away overlay backed by the (absolute) user image."""
    return ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image.absolute()), str(overlay)]


def seed_argv(seed_dir: Path, out: Path) -> list[str]:
    return ["xorriso", "-as", "genisoimage", "-quiet", "-output", str(out), "-volid", SEED_LABEL, "-joliet",
            "-rock", str(seed_dir / "user-data"), str(seed_dir / "meta-data")]


def disks(overlay: Path, payload: Path, pool: Path, spare: Path, seed: Path) -> tuple[Disk, ...]:
    """The guest's disks in order: vda is the root (the overlay), then the RPM-native guest's disks, the seed."""
    return (
        Disk("root", overlay, "qcow2"),
        Disk("payload", payload, "raw", "readonly=on"),
        Disk("pool", pool, "raw", "cache=unsafe"),
        Disk("spare", spare, "raw", "cache=unsafe"),
        Disk(SEED_LABEL, seed, "raw", "readonly=on"),
    )


def qemu_argv(guest_disks: tuple[Disk, ...], *, kvm: bool, boot: DirectBoot | None = None,
              memory_mib: int = 2048) -> tuple[str, ...]:
    """The qemu command line (pure): serial console on stdio, user-mode network, no reboot."""
    argv = ["qemu-system-x86_64", "-accel", "kvm" if kvm else "tcg",
            # one vCPU under TCG: see vm.qemu_argv
            "-cpu", "max", "-m", str(memory_mib), "-smp", "2" if kvm else "1",
            "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none",
            # the distro's repos for dependencies (when the host has network); Forklift's packages come on a disk
            # (no option ROM: the guest boots from its disk, not the network)
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0,romfile="]
    if boot is not None:  # test-only: see the module's docstring
        argv += ["-kernel", str(boot.kernel), "-append", boot.append]
        if boot.initrd is not None:
            argv += ["-initrd", str(boot.initrd)]
    for i, d in enumerate(guest_disks):
        opts = f",{d.opts}" if d.opts else ""
        argv += ["-drive", f"file={d.path},format={d.fmt},if=none,id={d.name}{opts}",
                 # the root disk first (bootindex 0 is -kernel's when it is given)
                 "-device", f"virtio-blk-pci,drive={d.name},serial={d.name}" + (",bootindex=1" if i == 0 else "")]
    return tuple(argv)


def seed_problems(console: str, instance_id: str) -> list[str]:
    """What the console says about the seed: nothing when its runcmd ran for this instance-id."""
    lines = [ln for ln in console.splitlines() if f"FORKLIFT-CHECK {SEED_CHECK} " in ln]
    if any(instance_id in ln for ln in lines):
        return []
    if lines:
        return [f"the seed's runcmd ran for another instance-id than {instance_id}: {lines[0].strip()[:200]}"]
    return [f"cloud-init did not run the seed's runcmd (no {SEED_CHECK} line for {instance_id}): does the image "
            "have cloud-init with the NoCloud datasource, and a console on ttyS0?"]


def make_overlay(image: Path, overlay: Path, log: Path | None = None) -> Path:
    if overlay.exists():
        overlay.unlink()
    run(overlay_argv(image, overlay), log=log, hint="qemu-img comes with qemu-utils")
    return overlay


def make_seed(instance_id: str, work: Path, log: Path | None = None) -> Path:
    seed_dir = work / "seed"
    seed_dir.mkdir(parents=True, exist_ok=True)
    for name, text in seed_files(instance_id).items():
        (seed_dir / name).write_text(text)
    out = work / "seed.iso"
    run(seed_argv(seed_dir, out), log=log, hint="xorriso: apt-get install xorriso / dnf install xorriso")
    return out


def debian_test_image(cache_dir: Path, target_name: str = "fedora-45", *, log: Path | None = None
                      ) -> tuple[Path, DirectBoot]:
    """Test-only: the Debian cloud-init image (rpmimage.py, cloud=True) as a qcow2 and its direct boot
    (the host's Debian kernel, the smoke initramfs, AppArmor off as in the RPM-native guest)."""
    from tooling import model
    from tooling.smoke import rpmimage

    matrix = model.load_cached()
    target = matrix.select_targets([target_name])[0]
    img = rpmimage.build(matrix, target, cache_dir, log=log, extra=TEST_IMAGE_EXTRA, cloud=True)
    qcow2 = img.directory / "cloud.qcow2"
    if not qcow2.exists():
        tmp = qcow2.with_suffix(".tmp")
        run(["qemu-img", "convert", "-O", "qcow2", str(img.rootfs), str(tmp)], log=log)
        os.replace(tmp, qcow2)
    return qcow2, DirectBoot(img.kernel, img.initrd, f"{DEFAULT_APPEND} loglevel=3 lsm=lockdown,yama,integrity,bpf")
