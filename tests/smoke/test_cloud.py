"""``--via vm --image FILE.qcow2`` (tooling/smoke/cloud.py): a cloud image driven through a
cloud-init NoCloud seed.

Fast tests of the pure parts (the seed is valid cloud-config, the qemu argv never writes the
user's image, bad inputs give one-line errors), and one VM test for real: the Debian cloud-init
test image (rpmimage.py, ``cloud=True``: the RPM-native guest's userland with cloud-init,
booting multi-user.target) as a qcow2, booted through ``--image`` with the test-only direct
kernel boot ($FORKLIFT_CLOUD_KERNEL), the stand-in RPMs of test_rpm_guest.py on the payload
disk. One boot, several minutes under TCG.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import require_tool
from tooling import REPO_ROOT, model
from tooling.errors import ForkliftError
from tooling.smoke import check_arguments, cloud, rpmimage, smoke
from tooling.smoke.report import SmokeReport

INSTANCE = "forklift-smoke-0123456789ab"


def _qcow2(path: Path) -> Path:
    path.write_bytes(cloud.QCOW2_MAGIC + b"\0\0\0\3" + b"\0" * 504)
    return path


# --- the seed -----------------------------------------------------------------------------------

def test_seed_is_cloud_config() -> None:
    files = cloud.seed_files(INSTANCE)
    assert set(files) == {"user-data", "meta-data"}
    ud = files["user-data"]
    assert ud.startswith("#cloud-config\n")
    doc = yaml.safe_load(ud)
    assert doc["runcmd"] == [["sh", cloud.SEED_SCRIPT]]
    (wf,) = doc["write_files"]
    assert wf["path"] == cloud.SEED_SCRIPT and wf["permissions"] == "0755"
    script = wf["content"]
    assert script == cloud.seed_script(INSTANCE)  # the YAML block holds the script unchanged
    # the seed's own verdict line names this run's instance-id; the checks run outside cloud-final
    assert f"FORKLIFT-CHECK {cloud.SEED_CHECK} PASS 0.0 runcmd of instance-id {INSTANCE}" in script
    assert "systemd-run --unit=forklift-smoke --no-block" in script
    assert "/dev/disk/by-id/virtio-payload" in script
    assert yaml.safe_load(files["meta-data"]) == {"instance-id": INSTANCE, "local-hostname": "forklift-smoke"}


def test_seed_script_is_valid_sh(tmp_path: Path) -> None:
    (tmp_path / "seed.sh").write_text(cloud.seed_script(INSTANCE))
    subprocess.run(["sh", "-n", str(tmp_path / "seed.sh")], check=True)
    subprocess.run(["sh", "-n", str(cloud.CLOUD_RUN_SCRIPT)], check=True)


def _cloud_init(tmp_path: Path) -> tuple[list[str], Path]:
    """A real cloud-init and the directory it sees as tmp_path: the host's, or Debian's from the userland
    tarball of the cloud-init test image (rpmimage.py's cache, when built) run in a chroot (root only)."""
    if shutil.which("cloud-init"):
        return ["cloud-init"], tmp_path
    if os.geteuid() != 0 or shutil.which("chroot") is None or shutil.which("mmdebstrap") is None:
        pytest.skip("needs cloud-init on PATH (apt-get install cloud-init), or root and mmdebstrap for the cloud-init "
                    "test image's Debian userland; the VM test also validates the seed in the guest")
    # the userland the VM test's image is made of (cached; built here when missing, ~60 s)
    tar = rpmimage.debian_userland(REPO_ROOT / ".cache" / "smoke", extra=cloud.TEST_IMAGE_EXTRA) / "root.tar"
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", str(tar), "./usr", "./etc", "./bin", "./lib", "./lib64",
                    "./sbin", "./tmp"], check=True)
    return ["chroot", str(root), "cloud-init"], root / "tmp"


def test_seed_validated_by_cloud_init(tmp_path: Path) -> None:
    """Debian's real cloud-init (``cloud-init schema``) says the user-data is valid cloud-config."""
    cmd, where = _cloud_init(tmp_path)
    (where / "user-data").write_text(cloud.user_data(INSTANCE))
    seen = "/tmp/user-data" if cmd[0] == "chroot" else str(where / "user-data")
    res = subprocess.run([*cmd, "schema", "--config-file", seen], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Valid cloud-config" in res.stdout
    (where / "bad").write_text("#cloud-config\nruncmd: 3\nwrite_files: [{permissions: 755}]\n")
    bad = subprocess.run([*cmd, "schema", "--config-file", seen.replace("user-data", "bad")], capture_output=True,
                         text=True)
    assert bad.returncode != 0  # the validator does reject what is not cloud-config


def test_seed_iso(tmp_path: Path) -> None:
    require_tool("xorriso", "blkid")
    iso = cloud.make_seed(INSTANCE, tmp_path)
    out = subprocess.run(["blkid", "-o", "export", str(iso)], capture_output=True, text=True, check=True).stdout
    assert "LABEL=cidata" in out and "TYPE=iso9660" in out
    listing = subprocess.run(["xorriso", "-indev", str(iso), "-ls", "/"], capture_output=True, text=True).stdout
    assert "'user-data'" in listing and "'meta-data'" in listing


def test_seed_problems() -> None:
    line = f"FORKLIFT-CHECK cloud-init-seed PASS 0.0 runcmd of instance-id {INSTANCE} (datasource: nocloud)"
    assert cloud.seed_problems(f"noise\r\n{line}\r\n", INSTANCE) == []
    assert "another instance-id" in cloud.seed_problems(line.replace(INSTANCE, "forklift-smoke-old"), INSTANCE)[0]
    (msg,) = cloud.seed_problems("Linux version ...\nlogin:", INSTANCE)
    assert "cloud-init did not run the seed's runcmd" in msg and INSTANCE in msg


# --- disks and qemu -------------------------------------------------------------------------------

def test_overlay_never_writes_the_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    image = _qcow2(tmp_path / "Fedora-Cloud.qcow2")
    argv = cloud.overlay_argv(Path("Fedora-Cloud.qcow2"), tmp_path / "work" / "root.qcow2")
    assert argv[:8] == ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"]
    assert argv[8] == str(image) and Path(argv[8]).is_absolute()  # relative to the overlay otherwise
    disks = cloud.disks(tmp_path / "work/root.qcow2", Path("p.ext4"), Path("pool.img"), Path("spare.img"),
                        Path("seed.iso"))
    for boot in (None, cloud.DirectBoot(Path("/k"), Path("/i"), "console=ttyS0")):
        for kvm in (False, True):
            argv_q = cloud.qemu_argv(disks, kvm=kvm, boot=boot)
            assert not any(str(image) in a or "Fedora-Cloud" in a for a in argv_q)  # only the overlay
            drives = [a for a in argv_q if a.startswith("file=")]
            assert drives[0] == f"file={tmp_path}/work/root.qcow2,format=qcow2,if=none,id=root"
            assert [d.split("id=")[1].split(",")[0] for d in drives] == ["root", "payload", "pool", "spare", "cidata"]
            assert "readonly=on" in drives[1] and "readonly=on" in drives[4]
            assert "snapshot=on" not in drives[0]
            assert "-accel" in argv_q and argv_q[argv_q.index("-accel") + 1] == ("kvm" if kvm else "tcg")
            assert ("-kernel" in argv_q) == (boot is not None)  # default: the image's own bootloader
            assert "user,id=net0" in argv_q and "-no-reboot" in argv_q
            assert "virtio-blk-pci,drive=root,serial=root,bootindex=1" in argv_q


def test_overlay_leaves_the_image_alone(tmp_path: Path) -> None:
    require_tool("qemu-img", "qemu-io")
    image = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    before = image.read_bytes()
    ov = cloud.make_overlay(image, tmp_path / "ov.qcow2")
    subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 1M", str(ov)], check=True, capture_output=True)
    assert image.read_bytes() == before
    info = subprocess.run(["qemu-img", "info", str(ov)], capture_output=True, text=True, check=True).stdout
    assert f"backing file: {image}" in info


def test_direct_boot_is_opt_in(tmp_path: Path) -> None:
    assert cloud.direct_boot({}) is None
    k, i = tmp_path / "vmlinuz", tmp_path / "initrd"
    k.write_bytes(b"k")
    i.write_bytes(b"i")
    got = cloud.direct_boot({cloud.ENV_KERNEL: str(k), cloud.ENV_INITRD: str(i)})
    assert got == cloud.DirectBoot(k, i, cloud.DEFAULT_APPEND)
    assert cloud.direct_boot({cloud.ENV_KERNEL: str(k), cloud.ENV_APPEND: "root=/dev/vda1"}).append == "root=/dev/vda1"
    with pytest.raises(ForkliftError, match=r"\$FORKLIFT_CLOUD_KERNEL=.*/nope: no such file"):
        cloud.direct_boot({cloud.ENV_KERNEL: str(tmp_path / "nope")})
    with pytest.raises(ForkliftError, match="FORKLIFT_CLOUD_INITRD is set but"):
        cloud.direct_boot({cloud.ENV_INITRD: str(i)})


# --- one-line errors --------------------------------------------------------------------------------

def _one_line(err: ForkliftError) -> None:
    assert "\n" not in err.message and err.hint and "Traceback" not in str(err)


def test_bad_images(tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "missing.qcow2"): "missing.qcow2: no such file",
        str(tmp_path): "not a file",
    }
    raw = tmp_path / "disk.img"
    raw.write_bytes(b"\0" * 4096)
    cases[str(raw)] = "disk.img: not a qcow2 image"
    for image, msg in cases.items():
        with pytest.raises(ForkliftError, match=re.escape(msg)) as exc:
            cloud.check_image(image)
        _one_line(exc.value)
    with pytest.raises(ForkliftError) as exc:
        cloud.check_image(str(raw))
    assert "qemu-img convert -O qcow2" in (exc.value.hint or "")
    assert cloud.check_image(str(_qcow2(tmp_path / "ok.qcow2"))) == tmp_path / "ok.qcow2"


def test_unreadable_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = _qcow2(tmp_path / "locked.qcow2")
    img.chmod(0)
    if os.geteuid() == 0:  # root reads every file: refuse the open as the kernel would for a user

        def refuse(path: object, *args: object, **kwargs: object) -> object:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(cloud, "open", refuse, raising=False)
    with pytest.raises(ForkliftError, match=r"locked\.qcow2: cannot read it: Permission denied") as exc:
        cloud.check_image(str(img))
    _one_line(exc.value)


def test_missing_tool() -> None:
    with pytest.raises(ForkliftError, match="--image needs xorriso, which is not on PATH") as exc:
        cloud.check_tools(which=lambda t: None if t == "xorriso" else f"/usr/bin/{t}")
    _one_line(exc.value)
    cloud.check_tools(which=lambda t: f"/usr/bin/{t}")


def test_arguments_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (cloud.ENV_KERNEL, cloud.ENV_INITRD, cloud.ENV_APPEND):
        monkeypatch.delenv(var, raising=False)
    matrix = model.load()
    with pytest.raises(ForkliftError, match="no such file"):
        check_arguments(matrix, "fedora-45", via="vm", engine="standin", build_dir=tmp_path,
                        image=str(tmp_path / "none.qcow2"))
    img = _qcow2(tmp_path / "ok.qcow2")
    with pytest.raises(ForkliftError, match="a cloud image installs RPMs, not --engine debian"):
        check_arguments(matrix, "fedora-45", via="vm", engine="debian", build_dir=tmp_path, image=str(img))
    check_arguments(matrix, "fedora-45", via="vm", engine="rpm", build_dir=tmp_path, image=str(img))
    monkeypatch.setenv(cloud.ENV_KERNEL, str(tmp_path / "no-vmlinuz"))
    with pytest.raises(ForkliftError, match=r"FORKLIFT_CLOUD_KERNEL=.*no-vmlinuz: no such file"):
        check_arguments(matrix, "fedora-45", via="vm", engine="rpm", build_dir=tmp_path, image=str(img))
    # --selinux: the RPM-native guest only (vm, rpm or standin, no cloud image)
    for kw in ({"via": "vm", "engine": "debian"}, {"via": "container", "engine": "rpm"},
               {"via": "vm", "engine": "rpm", "image": str(img)}):
        with pytest.raises(ForkliftError, match="--selinux: only with --via vm, --engine rpm or standin") as exc:
            check_arguments(matrix, "fedora-45", build_dir=tmp_path, selinux=True, **kw)
        _one_line(exc.value)
    check_arguments(matrix, "fedora-45", via="vm", engine="standin", build_dir=tmp_path, selinux=True)


# --- for real -------------------------------------------------------------------------------------

# the steps of test_rpm_guest.py's one boot but data-write/-kept, removal and reinstall (a shorter boot)
STEPS = ("gpg-refuses-unsigned", "rpm-install", "rpm-scriptlets", "rpm-presets", "spare-checks", "socket-activation",
         "storage-service", "engine-checks", "rpm-verify-installed", "upgrade", "engine-restarted",
         "engine-checks-final")
MUST_PASS = ("cloud-init-seed", "cloud-config-schema", "cloud-init-status", "gpg-refuses-unsigned", "rpm-install",
             "rpm-scriptlets", "rpm-presets", "socket-activation", "storage-service", "rpm-verify-installed",
             "upgrade", "engine-restarted", "versions", "storage-config-error", "storage-setup", "storage-idempotent",
             "engine-start", "image-load", "container-run", "container-cp", "engine-stop", "thin-check")


@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.timeout(2400)
def test_debian_cloud_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("qemu-system-x86_64", "qemu-img", "xorriso", "mmdebstrap", "mkfs.ext4", "busybox", "cpio",
                 "rpmbuild", "createrepo_c", "dpkg-deb", "apt-get")
    if os.geteuid() != 0:
        pytest.skip("building the test image (mmdebstrap --mode=root) needs root")
    if not list(Path("/boot").glob("vmlinuz-*")):
        pytest.skip("needs a Debian kernel under /boot (apt-get install linux-image-amd64)")
    image, boot = cloud.debian_test_image(REPO_ROOT / ".cache" / "smoke")
    # test-only: the image has no bootloader; the smoke kernel and initramfs boot its root file system
    monkeypatch.setenv(cloud.ENV_KERNEL, str(boot.kernel))
    monkeypatch.setenv(cloud.ENV_INITRD, str(boot.initrd))
    monkeypatch.setenv(cloud.ENV_APPEND, boot.append)
    before = image.stat().st_mtime_ns, image.stat().st_size
    (tmp_path / "repos" / "fedora-45").mkdir(parents=True)
    rep = smoke(model.load(), "fedora-45", via="vm", image=str(image), build_dir=tmp_path, engine="standin",
                steps=STEPS, timeout=2000)
    res = _results(rep, tmp_path / "smoke" / "fedora-45")
    for name in MUST_PASS:
        assert res.get(name, "missing").startswith("PASS"), f"{name}: {res.get(name)}"
    assert "(datasource: nocloud)" in res["cloud-init-seed"]  # cloud-init's NoCloud datasource ran the seed
    # dnf installed N-1 from the payload disk's published tree (the stable channel), then upgraded to N from test
    assert "dnf install from stable (forklift.repo: gpgcheck=1 repo_gpgcheck=1" in res["rpm-install"]
    assert "-1.fc45" in res["upgrade"] and "is not signed" in res["gpg-refuses-unsigned"]
    assert "cloud image" in rep.engine and "seed forklift-smoke-" in rep.engine
    assert (image.stat().st_mtime_ns, image.stat().st_size) == before  # the image was only read


def _results(rep: SmokeReport, out: Path) -> dict[str, str]:
    summary = (out / "summary.txt").read_text()
    print(summary)
    assert not rep.problems, summary
    return {r.name: f"{r.status} {r.detail}" for r in rep.results}
