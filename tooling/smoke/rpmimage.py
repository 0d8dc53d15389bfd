"""The RPM-native guest image of the vm provisioner.

Fedora/RHEL images cannot be fetched from these machines, so the guest's userland is
Debian's (mmdebstrap, like tests/builds/realmock's buildroot), with what makes it behave
like an RPM system for Forklift's packages:

- **systemd is PID 1** (the initramfs hands over to /lib/systemd/systemd), booting
  ``forklift-smoke.target``: sysinit, udev, journald and ``forklift-smoke.service``,
  which mounts the payload disk and runs ``guest/rpm-native.sh`` from it;
- **rpm and dnf** are Debian's (rpm 4.18, dnf 4.14), with ``%_dbpath /var/lib/rpm``
  (Debian's rpm otherwise keeps a per-user database);
- the **rpmdb holds the target base**: the stub packages of specs/target-base.toml for
  the target (built by tooling/installcheck; they provide systemd, lvm2,
  device-mapper-persistent-data, containerd, runc, iptables, container-selinux, python3,
  bash's /bin/sh, ... while Debian's packages hold the files), without the SELinux policy
  packages (the SELinux guest adds them);
- ``forklift-smoke-guest``, an RPM that does what Fedora's systemd package does with rpm
  file triggers (daemon-reload for unit files, systemd-sysusers for sysusers.d, udev
  reload for rules) and ships presets: Fedora's ``disable *`` and an image preset that
  enables docker.socket and moby-dm-storage-setup.service, so that ``%systemd_post``
  has presets to apply and the smoke run can tell that it applied them.

Debian's docker.io and tini packages are downloaded (not installed) into ``debs/``: the
stand-in engine RPMs carry their binaries (tooling/smoke/standin.py).

``cloud=True`` makes the **cloud-init test image** of tooling/smoke/cloud.py instead: the same
userland plus ``extra`` (cloud-init), booting the normal ``multi-user.target`` with cloud-init's
services (no forklift-smoke.target): the smoke run is whatever the NoCloud seed says.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.installcheck import base as base_mod
from tooling.installcheck import dnf as dnf_mod
from tooling.installcheck import stubs
from tooling.model import Matrix, Target
from tooling.run import run
from tooling.smoke import image as image_mod

GUEST_DIR = Path(__file__).with_name("guest")
FORMAT = 6  # bump when the recipe below changes

PACKAGES = (
    "mount", "udev", "kmod", "systemd", "systemd-sysv", "lvm2", "thin-provisioning-tools", "xfsprogs",
    "containerd", "runc", "iptables", "busybox-static", "python3", "procps", "libdevmapper1.02.1",
    "libsystemd0", "libseccomp2", "iproute2", "rpm", "dnf", "passwd", "pigz", "xz-utils",
)
DEBS = ("docker.io", "tini")  # downloaded for the stand-in engine, not installed
# the target base in the guest's rpmdb leaves these out (no SELinux policy here)
BASE_EXCLUDE = ("selinux-policy", "selinux-policy-targeted")

UNIT = """\
[Unit]
Description=Forklift smoke checks (RPM-native guest)
After=basic.target systemd-udevd.service
Wants=systemd-udevd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/forklift-smoke-run
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity
"""
TARGET = """\
[Unit]
Description=Forklift smoke run
Requires=basic.target forklift-smoke.service
After=basic.target forklift-smoke.service
AllowIsolate=yes
"""
GUEST_SPEC = """\
Name:           forklift-smoke-guest
Version:        1
Release:        1
Summary:        Forklift smoke guest: Fedora systemd's rpm file triggers and presets
License:        MIT
BuildArch:      noarch

%description
What Fedora's systemd package does for other packages through rpm file triggers
(daemon-reload when unit files change, systemd-sysusers for sysusers.d files, udev
reload for rules), for the Debian-userland smoke guest whose systemd is a stub in
the rpmdb; and the presets: Fedora's "disable *" plus an image preset.

%install
mkdir -p %{buildroot}/usr/lib/systemd/system-preset
echo 'disable *' > %{buildroot}/usr/lib/systemd/system-preset/99-default-disable.preset
printf 'enable docker.socket\\nenable moby-dm-storage-setup.service\\n' \\
    > %{buildroot}/usr/lib/systemd/system-preset/80-forklift-smoke.preset

%transfiletriggerin -P 900900 -- /usr/lib/systemd/system /etc/systemd/system
if test -d /run/systemd/system; then
    /usr/bin/systemctl daemon-reload || :
    /usr/bin/systemctl reload-or-restart --marked || :
fi

%transfiletriggerpostun -P 1000100 -- /usr/lib/systemd/system /etc/systemd/system
if test -d /run/systemd/system; then
    /usr/bin/systemctl daemon-reload || :
fi

%transfiletriggerin -P 100700 -- /usr/lib/sysusers.d
/usr/bin/systemd-sysusers || :

%transfiletriggerin -P 1000700 -- /usr/lib/udev/rules.d
/usr/bin/udevadm control --reload || :

%files
/usr/lib/systemd/system-preset/99-default-disable.preset
/usr/lib/systemd/system-preset/80-forklift-smoke.preset
"""
# the packaged docker.service runs dockerd with its defaults: the docker0 bridge and iptables rules
# (Debian's iptables is the nft variant); the kernel loads these on demand
NET_MODULES = ("bridge", "br_netfilter", "veth", "nf_tables", "nft_compat", "nft_chain_nat", "nf_nat",
               "nf_conntrack", "xt_addrtype", "xt_conntrack", "xt_MASQUERADE", "xt_nat", "xt_tcpudp",
               "xt_comment", "ipt_REJECT")
# the SELinux guest (selinux=True): Debian's reference policy, enforcing, under the name "targeted" so the
# -selinux package's own %post (which acts only when SELINUXTYPE=targeted) installs Forklift's module
SELINUX_EXTRA = ("selinux-policy-default", "policycoreutils", "policycoreutils-python-utils", "selinux-utils",
                 "auditd")
SELINUX_CIL = GUEST_DIR / "forklift_smoke_guest.cil"  # two refpolicy rules the guest's dmsetup needs (no container module)
SELINUX_DROPIN = """\
[Unit]
Wants=auditd.service
After=auditd.service

[Service]
# the smoke run as an administrator's shell: the checks start units and run the storage tool by hand
SELinuxContext=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023
"""
# the cloud-init test image reads its NoCloud seed from an ISO 9660 disk
CLOUD_MODULES = ("isofs",)
# cloud-init's configuration in the test image: only the NoCloud seed (no probing of cloud metadata services)
CLOUD_CFG = """\
# Forklift's cloud-init test image (tooling/smoke/rpmimage.py): the seed is a NoCloud disk
datasource_list: [NoCloud, None]
# what this image lacks (a cloud image has them): a partition to grow, locale data
resize_rootfs: false
locale: C.UTF-8
"""
MASK = ("systemd-timesyncd.service", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
        "fstrim.timer", "logrotate.timer", "man-db.timer", "dpkg-db-backup.timer",
        "systemd-networkd-wait-online.service", "systemd-firstboot.service", "getty.target",
        "serial-getty@ttyS0.service", "systemd-random-seed.service", "lvm2-lvmpolld.socket")


@dataclass(frozen=True)
class RpmImageSpec:
    target: str
    dist: str
    base: tuple[str, ...]  # stub spec texts of the target base, sorted
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = PACKAGES
    kernel: str = ""
    extra: tuple[str, ...] = field(default=())  # more Debian packages (SELinux, cloud-init guests)
    cloud: bool = False  # the cloud-init test image (multi-user.target, cloud-init's units; cloud.py)
    selinux: bool = False  # enforcing, Debian's policy named "targeted", pre-labelled (see SELINUX_EXTRA)

    def key(self) -> str:
        h = hashlib.sha256()
        fields = asdict(self)
        if not self.cloud:
            del fields["cloud"]  # the keys of the images made before this field existed stay valid
        if not self.selinux:
            del fields["selinux"]
        h.update(json.dumps({"format": FORMAT, **fields}, sort_keys=True).encode())
        h.update(GUEST_SPEC.encode() + UNIT.encode() + TARGET.encode() + " ".join(MASK).encode())
        if self.cloud:
            h.update(CLOUD_CFG.encode() + " ".join(CLOUD_MODULES).encode())
        if self.selinux:
            h.update(SELINUX_DROPIN.encode() + SELINUX_CIL.read_bytes())
        for name in ("initrd-init.sh", "rpm-run.sh"):
            h.update((GUEST_DIR / name).read_bytes())
        vmlinuz = Path(f"/boot/vmlinuz-{self.kernel}")
        if vmlinuz.exists():
            st = vmlinuz.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class RpmImage:
    directory: Path
    kernel: Path
    initrd: Path
    rootfs: Path
    debs: dict[str, Path]
    build_seconds: float

    def as_image(self) -> image_mod.Image:
        return image_mod.Image(self.directory, self.kernel, self.initrd, self.rootfs, self.build_seconds)


def base_specs(matrix: Matrix, target: Target, *, selinux: bool = False) -> tuple[str, ...]:
    """The stub spec texts of the target base for the guest's rpmdb (the SELinux policy only for the
    SELinux guest)."""
    base = base_mod.load(matrix)
    return tuple(sorted(stubs.base_stub_spec(p, target.dist) for p in base.for_target(target, role="distro")
                        if selinux or p.name not in BASE_EXCLUDE))


def build(matrix: Matrix, target: Target, cache_dir: Path, *, log: Path | None = None,
          extra: tuple[str, ...] = (), cloud: bool = False, selinux: bool = False) -> RpmImage:
    """The RPM-native image for ``target``: from the cache, or built now (mmdebstrap ~60 s).
    ``cloud``: the cloud-init test image (see the module's docstring); ``selinux``: the enforcing guest."""
    spec = RpmImageSpec(target.name, target.dist, base_specs(matrix, target, selinux=selinux),
                        kernel=image_mod.host_kernel(), extra=extra + (SELINUX_EXTRA if selinux else ()),
                        cloud=cloud, selinux=selinux)
    cache_dir = cache_dir.resolve()
    kind = "cloud-" if cloud else "selinux-" if selinux else ""
    final = cache_dir / f"rpm-{kind}{spec.suite}-{target.name}-{spec.key()}"
    if (final / "done").exists():
        return _image(final, 0.0)
    for tool in ("mmdebstrap", "mkfs.ext4", "busybox", "depmod", "modprobe", "cpio", "rpm", "rpmbuild"):
        if shutil.which(tool) is None:
            raise ForkliftError(f"the RPM-native smoke image needs {tool}", hint="bash ci/setup.sh --test installs it")
    started = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    debroot = _debian_root(spec, cache_dir, log)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        root = work / "root"
        root.mkdir()
        run(["tar", "-C", str(root), "-xf", str(debroot / "root.tar")], log=log)
        shutil.copytree(debroot / "debs", work / "debs")
        image_mod._install_modules(spec.kernel, image_mod.ROOT_MODULES + NET_MODULES
                                   + (CLOUD_MODULES if spec.cloud else ()), root)
        run(["depmod", "-b", str(root), spec.kernel], log=log)
        _configure(root, target, cloud=spec.cloud)
        _rpmdb(root, spec, work, cache_dir / "stubs", log)
        if spec.selinux:
            _selinux(root, log)  # last: it labels every file
        size_mib = image_mod._du_mib(root) + 768
        run(["mkfs.ext4", "-q", "-F", "-L", "forkliftroot", "-E", "root_owner=0:0", "-d", str(root),
             str(work / "rootfs.ext4"), f"{size_mib}M"], log=log)
        shutil.rmtree(root)
        image_mod._build_initrd(spec.kernel, work / "initrd.cpio")
        shutil.copy(f"/boot/vmlinuz-{spec.kernel}", work / "vmlinuz")
        (work / "spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
        (work / "done").write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _image(final, time.monotonic() - started)


def debroot_dir(cache_dir: Path, suite: str = "bookworm", mirror: str = "http://deb.debian.org/debian",
                packages: tuple[str, ...] = PACKAGES, extra: tuple[str, ...] = ()) -> Path:
    """Where _debian_root caches the userland tarball (root.tar) for these inputs (pure)."""
    key = hashlib.sha256(json.dumps([suite, mirror, packages, extra, DEBS]).encode())
    return cache_dir / f"debroot-{suite}-{key.hexdigest()[:12]}"


def debian_userland(cache_dir: Path, extra: tuple[str, ...] = (), *, log: Path | None = None) -> Path:
    """The cached Debian userland (root.tar, debs/) of the guest images with ``extra`` packages: built now
    when missing (mmdebstrap, root, Debian's archive)."""
    cache_dir = cache_dir.resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    return _debian_root(RpmImageSpec(target="", dist="", base=(), extra=extra), cache_dir, log)


def _selinux(root: Path, log: Path | None) -> None:
    """Debian's policy as "targeted", enforcing, the guest-only rules, the smoke unit's context, then every
    file labelled here (setfiles; mkfs.ext4 -d keeps the xattrs): no relabelling boot."""
    for d in ("etc/selinux", "var/lib/selinux"):
        shutil.move(root / d / "default", root / d / "targeted")
    (root / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n")
    dropin = root / "etc/systemd/system/forklift-smoke.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "selinux.conf").write_text(SELINUX_DROPIN)
    cil = root / "tmp" / SELINUX_CIL.name
    shutil.copy(SELINUX_CIL, cil)
    run(["semodule", "-p", str(root), "-s", "targeted", "-X", "400", "-i", str(cil)], log=log, timeout=900,
        hint="semodule comes with policycoreutils (bash ci/setup.sh --test)")
    cil.unlink()
    policy = sorted((root / "etc/selinux/targeted/policy").glob("policy.*"))[-1]
    run(["setfiles", "-r", str(root), "-c", str(policy), str(root / "etc/selinux/targeted/contexts/files/file_contexts"),
         str(root)], log=log, timeout=600, hint="setfiles comes with policycoreutils (bash ci/setup.sh --test)")


def _debian_root(spec: RpmImageSpec, cache_dir: Path, log: Path | None) -> Path:
    """mmdebstrap's tarball of the Debian userland and the .debs of the stand-in payload, cached by
    suite, mirror and package list: the slow, network-bound part of the image."""
    final = debroot_dir(cache_dir, spec.suite, spec.mirror, spec.packages, spec.extra)
    if (final / "done").exists():
        return final
    work = Path(tempfile.mkdtemp(prefix=".debroot-", dir=cache_dir))
    try:
        (work / "debs").mkdir()
        run(
            ["mmdebstrap", "--variant=essential", "--mode=root", "--format=tar",
             "--include=" + ",".join(spec.packages + spec.extra),
             "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*",
             # the host's apt with the chroot's configuration ($APT_CONFIG): the chroot has no apt
             f"--customize-hook=cd {work / 'debs'} && apt-get download -q " + " ".join(DEBS),
             spec.suite, str(work / "root.tar"), spec.mirror],
            log=log, timeout=900, hint="mmdebstrap needs Debian's archive (deb.debian.org) reachable",
        )
        (work / "done").write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def _image(d: Path, seconds: float) -> RpmImage:
    debs = {}
    for name in DEBS:
        found = sorted((d / "debs").glob(f"{name}_*.deb"))
        if not found:
            raise ForkliftError(f"{d}: no {name} .deb in the image cache", hint=f"remove {d} and run again")
        debs[name] = found[-1]
    return RpmImage(d, d / "vmlinuz", d / "initrd.cpio", d / "rootfs.ext4", debs, seconds)


def _configure(root: Path, target: Target, *, cloud: bool = False) -> None:
    (root / "etc/hostname").write_text("forklift-smoke\n")
    for d in ("forklift", "var/lib/docker", "etc/rpm", "etc/dnf/vars", "usr/local/sbin", "var/lib/rpm"):
        (root / d).mkdir(parents=True, exist_ok=True)
    # Debian's rpm keeps its database in ~/.rpmdb; a system rpm keeps it in /var/lib/rpm
    (root / "etc/rpm/macros").write_text("%_dbpath /var/lib/rpm\n")
    (root / "etc/dnf/dnf.conf").write_text(
        "[main]\ngpgcheck=0\ninstall_weak_deps=True\nreposdir=/etc/yum.repos.d\nkeepcache=False\n"
        "metadata_expire=0\nskip_if_unavailable=False\n")
    (root / "etc/dnf/vars/releasever").write_text(f"{target.version}\n")
    shutil.copy(GUEST_DIR / "rpm-run.sh", root / "usr/local/sbin/forklift-smoke-run")
    os.chmod(root / "usr/local/sbin/forklift-smoke-run", 0o755)
    sbin_init = root / "sbin/forklift-init"
    if sbin_init.exists() or sbin_init.is_symlink():
        sbin_init.unlink()
    sbin_init.symlink_to("/lib/systemd/systemd")  # what initrd-init.sh hands over to: systemd as PID 1
    units = root / "etc/systemd/system"
    default = units / "default.target"
    if default.exists() or default.is_symlink():
        default.unlink()
    if cloud:  # a cloud image: the normal boot, cloud-init's units (enabled by the package) run the seed
        default.symlink_to("/lib/systemd/system/multi-user.target")
        (root / "etc/cloud/cloud.cfg.d").mkdir(parents=True, exist_ok=True)
        (root / "etc/cloud/cloud.cfg.d/99-forklift-test.cfg").write_text(CLOUD_CFG)
    else:
        (units / "forklift-smoke.service").write_text(UNIT)
        (units / "forklift-smoke.target").write_text(TARGET)
        default.symlink_to("forklift-smoke.target")
    for unit in MASK:
        link = units / unit
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to("/dev/null")
    (root / "etc/fstab").write_text("# the root file system is mounted by the initramfs\n")


def _elf_spec(root: Path) -> str:
    """forklift-smoke-guest-elf: the ELF provides (sonames, symbol versions) of the guest's Debian
    libraries, as rpm's elfdeps reads them, so that RPMs built with automatic requirements (a real
    engine linked against libdevmapper, libsystemd, glibc) resolve against what the guest really has.
    A binary needing more (e.g. a newer glibc symbol version) stays unresolvable, as it would not run."""
    libs = sorted(str(p) for p in (root / "usr/lib/x86_64-linux-gnu").glob("*.so*")
                  if p.is_file() and not p.is_symlink())
    # exit 1 when one of them is no ELF file (linker scripts named .so): its output is still right
    res = run(["/usr/lib/rpm/elfdeps", "--provides"], input="\n".join(libs) + "\n", check=False,
              hint="elfdeps comes with rpm")
    provides = sorted({ln.strip() for ln in res.stdout.splitlines() if ln.strip()})
    return "\n".join([
        "Name:           forklift-smoke-guest-elf", "Version:        1", "Release:        1",
        "Summary:        Forklift smoke guest: the ELF provides of its Debian libraries",
        "License:        MIT", "BuildArch:      noarch",
        *[f"Provides:       {p}" for p in provides],
        "", "%description", "The sonames and symbol versions Debian's libraries in this guest provide.",
        "", "%files", ""])


def _rpmdb(root: Path, spec: RpmImageSpec, work: Path, stub_cache: Path, log: Path | None) -> None:
    """The target base and forklift-smoke-guest into the guest's /var/lib/rpm (host rpm, --root)."""
    rpms: list[Path] = []
    for text in (*spec.base, GUEST_SPEC, _elf_spec(root)):
        rpms += dnf_mod.build_stub(text, stub_cache, work / "stubs-tmp")
    run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"], log=log)
    run(["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm", "-i", "--nodeps", "--noscripts", "--notriggers",
         *map(str, rpms)], log=log)
