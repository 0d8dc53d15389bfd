"""The Debian test image for the vm provisioner, built with mmdebstrap.

Produces, under a cache directory keyed by every input:

    vmlinuz        the host's Debian kernel (it has the dm-thin modules)
    initrd.cpio    busybox + the modules to mount the root disk; hands over to
                   /sbin/forklift-init on the root disk
    rootfs.ext4    Debian bookworm (essential + lvm2, thin-provisioning-tools,
                   xfsprogs, udev, containerd, runc, docker.io as the known-good
                   engine, python3 for the storage tool), made with mkfs.ext4 -d

The pure part (``ImageSpec`` and its key) is separate from ``build_image``,
which runs mmdebstrap/depmod/mkfs. Nothing is half-written: each artefact is
built under a temporary directory that is renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run

GUEST_DIR = Path(__file__).with_name("guest")
FORMAT = 3  # bump when the build recipe below changes

PACKAGES = (
    "mount", "udev", "kmod", "lvm2", "thin-provisioning-tools", "xfsprogs", "containerd", "runc",
    "docker.io", "tini", "busybox-static", "python3", "procps", "libdevmapper1.02.1", "libsystemd0",
    "libseccomp2", "iproute2",
)
INITRD_MODULES = ("virtio_pci", "virtio_blk", "ext4")
ROOT_MODULES = ("dm_thin_pool", "dm_mod", "xfs", "loop", "overlay", "virtio_pci", "virtio_blk", "ext4",
                "virtio_net", "br_netfilter", "veth", "nf_nat")


@dataclass(frozen=True)
class ImageSpec:
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = PACKAGES
    kernel: str = ""  # kernel release, e.g. 6.1.0-56-amd64

    def key(self) -> str:
        """Content hash of every input: the recipe, the package list, the kernel and the guest init."""
        h = hashlib.sha256()
        h.update(json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True).encode())
        h.update((GUEST_DIR / "init.sh").read_bytes())
        h.update((GUEST_DIR / "initrd-init.sh").read_bytes())
        vmlinuz = Path(f"/boot/vmlinuz-{self.kernel}")
        if vmlinuz.exists():
            st = vmlinuz.stat()
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    directory: Path
    kernel: Path
    initrd: Path
    rootfs: Path
    build_seconds: float  # 0 when it came from the cache


def host_kernel() -> str:
    """The newest Debian kernel installed under /boot with its modules."""
    found = sorted(
        p.name.removeprefix("vmlinuz-")
        for p in Path("/boot").glob("vmlinuz-*")
        if Path("/lib/modules", p.name.removeprefix("vmlinuz-"), "modules.dep").exists()
    )
    if not found:
        raise ForkliftError(
            "no kernel with modules under /boot and /lib/modules",
            hint="install linux-image-amd64 (apt-get install linux-image-amd64)",
        )
    return found[-1]


def module_closure(kernel: str, names: tuple[str, ...]) -> list[Path]:
    """Module files for ``names`` and their dependencies, dependencies first (via modprobe)."""
    out: list[Path] = []
    for name in names:
        res = run(["modprobe", "--set-version", kernel, "--show-depends", "--ignore-install", name], check=False)
        if not res.ok:
            raise ForkliftError(f"kernel {kernel} has no module {name}: {res.stderr.strip()}")
        for line in res.stdout.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod" and Path(parts[1]) not in out:
                out.append(Path(parts[1]))
    return out


def build_image(cache_dir: Path, spec: ImageSpec | None = None, *, log: Path | None = None) -> Image:
    """The image for ``spec``, from the cache or built now (mmdebstrap ~20-60 s)."""
    import time

    spec = spec or ImageSpec(kernel=host_kernel())
    if not spec.kernel:
        spec = ImageSpec(spec.suite, spec.mirror, spec.packages, host_kernel())
    final = cache_dir / f"debian-{spec.suite}-{spec.key()}"
    image = Image(final, final / "vmlinuz", final / "initrd.cpio", final / "rootfs.ext4", 0.0)
    if (final / "done").exists():
        return image
    for tool in ("mmdebstrap", "mkfs.ext4", "busybox", "depmod", "modprobe", "cpio"):
        if shutil.which(tool) is None:
            raise ForkliftError(f"the vm smoke image needs {tool}", hint="bash ci/setup.sh --test installs it")
    started = time.monotonic()
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        root = work / "root"
        run(
            ["mmdebstrap", "--variant=essential", "--mode=root", "--include=" + ",".join(spec.packages),
             "--dpkgopt=path-exclude=/usr/share/{doc,man,locale}/*", spec.suite, str(root), spec.mirror],
            log=log, timeout=900,
            hint="mmdebstrap needs Debian's archive (deb.debian.org) reachable",
        )
        _install_modules(spec.kernel, ROOT_MODULES, root)
        run(["depmod", "-b", str(root), spec.kernel], log=log)
        shutil.copy(GUEST_DIR / "init.sh", root / "sbin/forklift-init")
        os.chmod(root / "sbin/forklift-init", 0o755)
        for d in ("forklift", "var/lib/docker"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "etc/hostname").write_text("forklift-smoke\n")
        size_mib = _du_mib(root) + 512
        run(["mkfs.ext4", "-q", "-F", "-L", "forkliftroot", "-E", "root_owner=0:0", "-d", str(root),
             str(work / "rootfs.ext4"), f"{size_mib}M"], log=log)
        shutil.rmtree(root)
        _build_initrd(spec.kernel, work / "initrd.cpio")
        shutil.copy(f"/boot/vmlinuz-{spec.kernel}", work / "vmlinuz")
        (work / "spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
        (work / "done").write_text("ok\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Image(final, final / "vmlinuz", final / "initrd.cpio", final / "rootfs.ext4", time.monotonic() - started)


def _install_modules(kernel: str, names: tuple[str, ...], root: Path) -> None:
    for mod in module_closure(kernel, names):
        dest = root / mod.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mod, dest)
    for extra in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        src = Path("/lib/modules", kernel, extra)
        if src.exists():
            shutil.copy2(src, root / "lib/modules" / kernel / extra)


def _du_mib(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.lstat(p).st_size
    return total // (1 << 20) + 1


def _build_initrd(kernel: str, out: Path) -> None:
    """busybox, the root-disk modules in load order and the hand-over init, as a newc cpio."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for sub in ("bin", "dev", "proc", "sys", "newroot", "modules"):
            (d / sub).mkdir()
        shutil.copy(shutil.which("busybox") or "/bin/busybox", d / "bin/busybox")
        (d / "bin/sh").symlink_to("busybox")
        order = []
        for i, mod in enumerate(module_closure(kernel, INITRD_MODULES)):
            name = f"{i:02d}-{mod.name}"
            shutil.copy2(mod, d / "modules" / name)
            order.append(name)
        shutil.copy(GUEST_DIR / "initrd-init.sh", d / "init")
        os.chmod(d / "init", 0o755)
        names = sorted(str(p.relative_to(d)) for p in d.rglob("*"))
        with open(out, "wb") as fh:
            subprocess.run(
                ["cpio", "--quiet", "-o", "-H", "newc", "--owner=0:0"],
                input="\n".join(names).encode(), cwd=d, stdout=fh, check=True,
            )
