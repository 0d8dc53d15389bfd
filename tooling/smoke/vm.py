"""The vm provisioner: qemu (KVM when a guest really runs on it, TCG otherwise; see accel.py) booting
the Debian test image, with a payload disk (checks, storage tool, engine under
test) and two blank disks: one for the engine's thin pool, one for the
refusal/wipe/teardown checks. The verdict is read from the serial console.

With ``--image PATH.qcow2`` (engines rpm and standin) the guest is that cloud image instead,
driven through a cloud-init NoCloud seed (cloud.py) with the RPM-native guest's disks.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tooling import REPO_ROOT
from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.run import run
from tooling.smoke import accel as accel_mod
from tooling.smoke import cloud as cloud_mod
from tooling.smoke import image as image_mod
from tooling.smoke import packages, signed
from tooling.smoke.provision import (
    CHECKS_SCRIPT,
    GUEST_DIR,
    RPM_NATIVE_ENGINES,
    VM_CHECKS,
    Outcome,
    SmokeRequest,
    env_file,
)
from tooling.smoke.verdict import BOOT_MARK, finished

CACHE_DIR = REPO_ROOT / ".cache" / "smoke"
STORAGE_TOOL_TREE = REPO_ROOT / "storage-setup"
POOL_DISK_BYTES = 3 << 30
SPARE_DISK_BYTES = 1 << 30
ENGINE_VERSION = "24.0.9"
# No console output for this long ends the run as stalled (the guest's checks print a
# heartbeat every 20 s); $FORKLIFT_VM_STALL_SECONDS overrides it.
STALL_SECONDS = 90.0
# engines tested in the RPM-native guest (dnf, scriptlets, systemd): the repo's RPMs, or stand-ins built here
RPM_NATIVE_SCRIPT = GUEST_DIR / "rpm-native.sh"
# checks.sh checks the RPM-native guest runs before the pool exists (the spare-disk storage checks run in the
# Debian guest and the storage boot: here they would only repeat them), once the engine is up, and at the end
RPM_SPARE_CHECKS = ("versions", "storage-config-error")
RPM_ENGINE_CHECKS = ("storage-setup", "storage-idempotent", "engine-start", "image-load", "container-run",
                     "container-cp", "selinux-enforcing", "selinux-engine-domain", "selinux-labels")
RPM_FINAL_CHECKS = ("engine-stop", "thin-check", "selinux-no-avc")


@dataclass(frozen=True)
class QemuPlan:
    argv: tuple[str, ...]
    accel: str


def qemu_argv(
    img: image_mod.Image, payload: Path, pool: Path, spare: Path, *, kvm: bool, memory_mib: int = 2048,
    append: str = "",
) -> QemuPlan:
    """The qemu command line (pure): serial console, no reboot, root disk as a throw-away snapshot."""
    accel = "kvm" if kvm else "tcg"
    # Under TCG each vCPU is a host thread; on a 2-core host a second vCPU gets starved and the guest
    # kernel soft-locks (seen with runc at container start). One vCPU has no peer to spin on.
    cpus = 2 if kvm else 1
    argv = ["qemu-system-x86_64"]
    argv += ["-accel", "kvm"] if kvm else ["-accel", "tcg"]
    argv += [
        "-cpu", "max", "-m", str(memory_mib), "-smp", str(cpus),
        "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-monitor", "none",
        "-kernel", str(img.kernel), "-initrd", str(img.initrd),
        "-append", " ".join(["console=ttyS0 quiet loglevel=3 panic=-1 rw", append]).strip(),
        "-net", "none",
    ]
    disks = (
        ("root", img.rootfs, "snapshot=on"),  # throw-away writes: no stale /var/lib/docker between runs
        ("payload", payload, "readonly=on"),
        ("pool", pool, "cache=unsafe"),
        ("spare", spare, "cache=unsafe"),
    )
    for name, path, opts in disks:  # vda, vdb, vdc, vdd in this order; /dev/disk/by-id/virtio-<name>
        argv += ["-drive", f"file={path},format=raw,if=none,id={name},{opts}",
                 "-device", f"virtio-blk-pci,drive={name},serial={name}"]
    return QemuPlan(tuple(argv), accel)


class VmProvisioner:
    name = "vm"

    def __init__(self, cache_dir: Path = CACHE_DIR) -> None:
        self.cache_dir = cache_dir

    def run(self, request: SmokeRequest) -> Outcome:
        if request.engine in RPM_NATIVE_ENGINES:
            return self._run_rpm_native(request)
        if request.image:
            raise ForkliftError(f"--image {request.image}: a cloud image installs RPMs, not --engine {request.engine}",
                                hint="use --engine rpm or standin with --image, or omit --image")
        for tool in ("qemu-system-x86_64", "mkfs.ext4"):
            if shutil.which(tool) is None:
                raise ForkliftError(f"the vm provisioner needs {tool}", hint="bash ci/setup.sh --test installs it")
        if request.engine == "rpm" and request.repo.get(packages.ENGINE) is None:
            raise ForkliftError(
                f"no {packages.ENGINE} RPM in {request.repo.directory}",
                hint=f"build it first (invoke build --target {request.target.name}); "
                "the known-good Debian engine validates the harness alone",
            )
        work = request.out_dir / "vm"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        img = image_mod.build_image(self.cache_dir, log=work / "image.log")
        if img.build_seconds:
            timings["image-build"] = img.build_seconds
        else:
            timings["image-cached"] = time.monotonic() - t0
        t1 = time.monotonic()
        payload, engine = self._payload(request, work)
        pool, spare = work / "pool.img", work / "spare.img"
        _blank_disks(pool, spare)
        timings["payload"] = time.monotonic() - t1
        choice = accel_mod.choose(img.kernel)
        timings_key, console, problems = self._boot(img, payload, pool, spare, choice, request.timeout, work)
        timings[timings_key[0]] = timings_key[1]
        if (booted := _guest_boot(console)) is not None:
            timings["guest-boot"] = booted
        if not finished(console) and not problems:
            problems.append(f"no FORKLIFT-END line on the console; see {work / 'console.log'}")
        stalls = [ln.strip() for ln in console.splitlines() if "soft lockup" in ln or "rcu_sched self-detected" in ln]
        if stalls and problems:
            problems.append(f"the guest kernel stalled ({stalls[0][:160]}): the host was too busy for the VM; "
                            "run the smoke test again on an idle host")
        for disk in (pool, spare, payload):
            disk.unlink(missing_ok=True)
        return Outcome(console=console, engine=engine, timings=timings, problems=problems)

    def _run_rpm_native(self, request: SmokeRequest) -> Outcome:
        """The RPM-native guest (rpmimage.py): dnf installs the repo under test, systemd runs it."""
        from tooling import model
        from tooling.smoke import rpmimage, standin

        # --image: a cloud image (cloud.py) instead of the RPM-native Debian-userland guest
        cloud_image = cloud_mod.check_image(request.image) if request.image else None
        direct = cloud_mod.direct_boot() if cloud_image else None
        if cloud_image is not None:
            cloud_mod.check_tools()
        for tool in ("qemu-system-x86_64", "mkfs.ext4", "createrepo_c"):
            if shutil.which(tool) is None:
                raise ForkliftError(f"the vm provisioner needs {tool}", hint="bash ci/setup.sh --test installs it")
        matrix = model.load_cached()
        if request.engine == "rpm" and request.repo.get(packages.ENGINE) is None:
            raise ForkliftError(
                f"no {packages.ENGINE} RPM in {request.repo.directory}",
                hint=f"build it first (invoke build --target {request.target.name}); "
                "--engine standin tests stand-in RPMs built here from the real specs",
            )
        work = request.out_dir / "vm"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        timings: dict[str, float] = {}
        built: list[rpmimage.RpmImage] = []

        def rpm_image() -> rpmimage.RpmImage:
            """The RPM-native image: the guest, and the Debian .debs of the stand-in engine (a cloud image
            needs it only for those)."""
            if not built:
                t0 = time.monotonic()
                built.append(rpmimage.build(matrix, request.target, self.cache_dir, log=work / "image.log",
                                            selinux=request.selinux))
                timings["image-build" if built[0].build_seconds else "image-cached"] = (
                    built[0].build_seconds or time.monotonic() - t0)
            return built[0]

        if cloud_image is None:
            rpm_image()
        t1 = time.monotonic()
        extra: list[Path] = []
        tree: signed.SignedTree | None = None
        if request.engine == "standin":
            repos = self.cache_dir / "repos"
            current = standin.build_repo(matrix, request.target, rpm_image().debs, repos, broken=request.broken,
                                         log=work / "repo-build.log", with_selinux=request.selinux)
            repo_dir, prev_dir = current.directory, None
            if not request.broken:  # a broken variant is installed as is: no upgrade
                prev_dir = standin.build_repo(matrix, request.target, rpm_image().debs, repos, release_offset=-1,
                                              log=work / "repo-build.log", with_selinux=request.selinux).directory
            names = list(standin.PACKAGES)
            engine = (f"stand-in RPMs built here from the real specs ({repo_dir.name}"
                      + (f", N-1 {prev_dir.name})" if prev_dir else ")"))
            timings["repo-build"] = time.monotonic() - t1
            if prev_dir is not None:  # installed as users do: from the signed, published tree
                t_sign = time.monotonic()
                tree = signed.signed_tree(request.target, prev_dir, repo_dir, work / "signed",
                                          signed.throwaway_key(self.cache_dir))
                engine += f"; signed with throw-away key {tree.key_id} and published (N-1 stable, N test)"
                timings["sign-publish"] = time.monotonic() - t_sign
        else:
            repo_dir, prev_dir = request.repo.directory, request.previous_repo
            if prev_dir is not None and not any(prev_dir.glob("*.rpm")):
                raise ForkliftError(f"--previous-repo {prev_dir}: no RPMs there",
                                    hint="give the repo of the previous release (build/repos/<target> of that build)")
            names = list(standin.PACKAGES)
            engine = ", ".join(r.path.name for r in request.repo.rpms if r.name in names)
            # what the repo lacks (a partial build) comes from the stand-in repo, and the report says so
            missing = [n for n in names if request.repo.get(n) is None]
            if missing:
                fill = standin.build_repo(matrix, request.target, rpm_image().debs, self.cache_dir / "repos",
                                          log=work / "repo-build.log")
                extra = [p for p in fill.rpms if any(p.name.startswith(f"{n}-{d}") for n in missing
                                                     for d in "0123456789")]
                engine += "; from the stand-in repo: " + ", ".join(p.name for p in extra)
        t2 = time.monotonic()
        payload = self._rpm_payload(request, work, repo_dir, prev_dir, names, extra, tree, cloud=cloud_image is not None)
        pool, spare = work / "pool.img", work / "spare.img"
        _blank_disks(pool, spare)
        timings["payload"] = time.monotonic() - t2
        if cloud_image is not None:
            return self._boot_cloud(request, work, cloud_image, direct, payload, pool, spare, engine, timings)
        img = rpm_image()
        choice = accel_mod.choose(img.kernel)
        # Fedora/RHEL have no AppArmor; Debian's kernel enables it, and then dockerd wants apparmor_parser. With
        # AppArmor off the kernel starts SELinux without a policy (permissive; selinux=0 does not stop it):
        # boot with only these LSMs
        # the SELinux guest: Debian's kernel has no selinux= parameter; SELinux is on when it is in lsm=
        lsm = ("lsm=lockdown,yama,integrity,selinux,bpf enforcing=1 audit=1" if request.selinux
               else "lsm=lockdown,yama,integrity,bpf")
        timings_key, console, problems = self._boot(img.as_image(), payload, pool, spare, choice, request.timeout, work,
                                                    append=lsm)
        timings[timings_key[0]] = timings_key[1]
        if (booted := _guest_boot(console)) is not None:
            timings["guest-boot"] = booted
        if not finished(console) and not problems:
            problems.append(f"no FORKLIFT-END line on the console; see {work / 'console.log'}")
        for disk in (pool, spare, payload):
            disk.unlink(missing_ok=True)
        return Outcome(console=console, engine=engine, timings=timings, problems=problems)

    def _boot_cloud(self, request: SmokeRequest, work: Path, image: Path, direct: cloud_mod.DirectBoot | None,
                    payload: Path, pool: Path, spare: Path, engine: str, timings: dict[str, float]) -> Outcome:
        """Boot the cloud image (an overlay of it) with the payload, pool, spare and NoCloud seed disks."""
        t0 = time.monotonic()
        instance_id = cloud_mod.new_instance_id()
        overlay = cloud_mod.make_overlay(image, work / "root-overlay.qcow2", log=work / "payload.log")
        seed = cloud_mod.make_seed(instance_id, work, log=work / "payload.log")
        disks = cloud_mod.disks(overlay, payload, pool, spare, seed)
        timings["overlay-seed"] = time.monotonic() - t0
        # the accelerator probe boots a kernel: the test-only direct one, else the host's Debian kernel
        probe = direct.kernel if direct else _host_vmlinuz()
        choice = accel_mod.choose(probe) if probe else accel_mod.Choice(
            accel_mod.override() or "tcg", "no kernel to probe KVM with (set $FORKLIFT_QEMU_ACCEL=kvm to use it)")

        def fresh() -> None:  # a retry starts from the user's image again, on blank disks
            _blank_disks(pool, spare)
            cloud_mod.make_overlay(image, overlay, log=work / "payload.log")

        timings_key, console, problems = self._boot_argv(
            lambda kvm: cloud_mod.qemu_argv(disks, kvm=kvm, boot=direct), fresh, choice, request.timeout, work)
        timings[timings_key[0]] = timings_key[1]
        if (booted := _guest_boot(console)) is not None:  # a cloud image: when the seed's runcmd started
            timings["guest-boot"] = booted
        problems += cloud_mod.seed_problems(console, instance_id)
        if not finished(console) and not any("FORKLIFT-END" in p for p in problems):
            problems.append(f"no FORKLIFT-END line on the console; see {work / 'console.log'}")
        for disk in (pool, spare, payload, overlay):
            disk.unlink(missing_ok=True)
        how = "the disk's bootloader" if direct is None else f"test-only direct boot of {direct.kernel}"
        return Outcome(console=console, engine=f"{engine}; cloud image {image} ({how}, seed {instance_id})",
                       timings=timings, problems=problems)

    def _rpm_payload(self, request: SmokeRequest, work: Path, repo: Path, prev: Path | None,
                     names: list[str], extra: list[Path], tree: signed.SignedTree | None, *,
                     cloud: bool = False) -> Path:
        """The payload disk of the RPM-native guest: the repos (or the signed, published tree),
        rpm-native.sh, checks.sh, env; for a cloud image also cloud-run.sh (cloud.py)."""
        d = work / "payload"
        d.mkdir(parents=True)
        guest_repo, guest_prev = "/forklift/repo", "/forklift/repo-prev" if prev is not None else ""
        signed_settings: dict[str, str] = {}
        if tree is not None:
            shutil.copytree(tree.published, d / "published", symlinks=True)
            shutil.copytree(tree.refused, d / "refused")
            channels = f"{signed.GUEST_ROOT}/{request.target.distro}/{request.target.version}/{request.target.arch}"
            guest_repo, guest_prev = f"{channels}/test", f"{channels}/stable"
            signed_settings = {
                "FORKLIFT_REPO_FILE": f"{signed.GUEST_ROOT}/{tree.repo_file.relative_to(tree.published)}",
                "FORKLIFT_REFUSED_REPO_FILE": f"{signed.GUEST_REFUSED}/{tree.refused_repo_file.name}",
                "FORKLIFT_SIGNING_KEY": tree.key_id,
            }
        else:
            binary_only = shutil.ignore_patterns("*.src.rpm", "*-debuginfo-*", "*-debugsource-*")
            shutil.copytree(repo, d / "repo", ignore=binary_only)
            if prev is not None:
                shutil.copytree(prev, d / "repo-prev", ignore=binary_only)
            for rpm in extra:
                shutil.copy2(rpm, d / "repo" / rpm.name)
            for repo_copy in [d / "repo", *([d / "repo-prev"] if prev is not None else [])]:
                if extra or not (repo_copy / "repodata").is_dir():
                    run(["createrepo_c", "--quiet", "--no-database", str(repo_copy)], log=work / "payload.log")
        shutil.copy(CHECKS_SCRIPT, d / "checks.sh")
        shutil.copy(RPM_NATIVE_SCRIPT, d / "rpm-native.sh")
        if cloud:
            shutil.copy(cloud_mod.CLOUD_RUN_SCRIPT, d / "cloud-run.sh")
            signed_settings["FORKLIFT_DNF_DISTRO_REPOS"] = "1"  # the image's own repos resolve the dependencies
        settings = {
            **signed_settings,
            "FORKLIFT_RPM_CHECKS": " ".join(request.steps),
            "FORKLIFT_REPO": guest_repo,
            "FORKLIFT_REPO_PREV": guest_prev,
            "FORKLIFT_PACKAGES": " ".join(names),
            "FORKLIFT_SPARE_CHECKS": " ".join(RPM_SPARE_CHECKS),
            "FORKLIFT_ENGINE_CHECKS": " ".join(RPM_ENGINE_CHECKS),
            "FORKLIFT_FINAL_CHECKS": " ".join(RPM_FINAL_CHECKS),
            "FORKLIFT_POOL_DEV": "/dev/disk/by-id/virtio-pool",
            "FORKLIFT_SPARE_DEV": "/dev/disk/by-id/virtio-spare",
            "FORKLIFT_LOG": "/tmp/forklift-smoke",
            "FORKLIFT_IMAGE_BUSYBOX": "/bin/busybox",
            "FORKLIFT_HEARTBEAT": "20",
        }
        if request.engine == "rpm":
            eng = request.repo.get(packages.ENGINE)
            if eng is not None:
                settings["FORKLIFT_EXPECT_VERSION"] = eng.version
        (d / "env").write_text(env_file(settings))
        img = work / "payload.ext4"
        run(["mkfs.ext4", "-q", "-F", "-L", "payload", "-E", "root_owner=0:0", "-d", str(d), str(img),
             f"{_size_mib(d) + 64}M"], log=work / "payload.log")
        shutil.rmtree(d)
        return img

    def _boot(
        self, img: image_mod.Image, payload: Path, pool: Path, spare: Path, choice: accel_mod.Choice,
        timeout: float, work: Path, append: str = "",
    ) -> tuple[tuple[str, float], str, list[str]]:
        """Boot the smoke image once under the chosen accelerator; a KVM run that stalls is retried once under TCG."""
        return self._boot_argv(lambda kvm: qemu_argv(img, payload, pool, spare, kvm=kvm, append=append).argv,
                               lambda: _blank_disks(pool, spare), choice, timeout, work)

    def _boot_argv(
        self, argv_for: Callable[[bool], tuple[str, ...]], fresh: Callable[[], None], choice: accel_mod.Choice,
        timeout: float, work: Path,
    ) -> tuple[tuple[str, float], str, list[str]]:
        """Boot ``argv_for(kvm)`` once under the chosen accelerator; a KVM run that stalls is retried once under
        TCG after ``fresh()`` (blank disks)."""
        stall = _stall_seconds()
        console_log = work / "console.log"
        problems: list[str] = []
        attempts = [choice.accel] + (["tcg"] if choice.accel == "kvm" and accel_mod.override() is None else [])
        console, label, seconds = "", choice.accel, 0.0
        for i, accel in enumerate(attempts):
            res = accel_mod.run_console(list(argv_for(accel == "kvm")), timeout=timeout, stall=stall)
            console = res.output
            label, seconds = accel, res.seconds
            atomic_write_text(console_log, console)
            last = _last_line(console)
            if res.stalled:
                msg = (f"the VM stalled under {accel}: no console output for {stall:.0f} s "
                       f"(last line: {last!r}); see {console_log}")
                if i + 1 < len(attempts):
                    atomic_write_text(work / "console-kvm.log", console)
                    print(f"{msg}; retrying once under tcg", flush=True)
                    fresh()  # a fresh pool: the stalled run may have written to it
                    continue
                problems.append(msg)
            elif res.timed_out:
                problems.append(f"the VM did not finish within {timeout:.0f} s ({accel}; {choice.reason}); "
                                f"see {console_log}")
            elif res.returncode:
                problems.append(f"qemu exited {res.returncode}: {console.strip()[-300:]}")
            break
        return (f"boot-to-verdict ({label})", seconds), console, problems

    def _payload(self, request: SmokeRequest, work: Path) -> tuple[Path, str]:
        """The payload disk: checks.sh, env, the storage tool and the engine under test."""
        d = work / "payload"
        (d / "bin").mkdir(parents=True)
        (d / "compat").mkdir()
        (d / "compat/libdevmapper.so.1.02").symlink_to("/lib/x86_64-linux-gnu/libdevmapper.so.1.02.1")
        shutil.copy(CHECKS_SCRIPT, d / "checks.sh")
        settings = {
            "FORKLIFT_CHECKS": " ".join(VM_CHECKS),
            "FORKLIFT_POOL_DEV": "/dev/disk/by-id/virtio-pool",
            "FORKLIFT_SPARE_DEV": "/dev/disk/by-id/virtio-spare",
            "FORKLIFT_LOG": "/tmp/forklift-smoke",
            "FORKLIFT_IMAGE_BUSYBOX": "/bin/busybox",
            "FORKLIFT_HEARTBEAT": "20",
        }
        tool_rpm = request.repo.get(packages.STORAGE_SETUP)
        root = d / "root"
        if tool_rpm:
            packages.extract(tool_rpm, root, work / "rpm")
            tool_from = f"{tool_rpm.path.name}"
        else:
            shutil.copytree(STORAGE_TOOL_TREE, d / "bin", dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            os.chmod(d / "bin/moby-dm-storage-setup", 0o755)
            tool_from = "tree"
        engine = self._engine(request, root, work, settings)
        settings["FORKLIFT_SOURCES"] = f"engine={engine}; storage-setup={tool_from}"
        (d / "env").write_text(env_file(settings))
        img = work / "payload.ext4"
        run(["mkfs.ext4", "-q", "-F", "-L", "payload", "-E", "root_owner=0:0", "-d", str(d), str(img),
             f"{_size_mib(d) + 64}M"], log=work / "payload.log")
        shutil.rmtree(d)
        return img, f"{engine} (storage-setup: {tool_from})"

    def _engine(self, request: SmokeRequest, root: Path, work: Path, settings: dict[str, str]) -> str:
        if request.engine == "debian":
            return "debian docker.io (known-good)"
        if request.engine != "rpm":
            src = Path(request.engine)
            dockerd = src / "usr/bin/dockerd" if (src / "usr/bin/dockerd").exists() else src / "dockerd"
            if not dockerd.exists():
                raise ForkliftError(f"engine directory {src} holds no dockerd (usr/bin/dockerd or dockerd)")
            (root / "usr/bin").mkdir(parents=True, exist_ok=True)
            shutil.copy(dockerd, root / "usr/bin/dockerd")
            settings["FORKLIFT_EXPECT_VERSION"] = ENGINE_VERSION
            return f"{dockerd}"
        rpm = request.repo.get(packages.ENGINE)
        assert rpm is not None  # checked in run()
        packages.extract(rpm, root, work / "rpm")
        cli = request.repo.get("docker-cli")
        if cli:
            packages.extract(cli, root, work / "rpm")
        settings["FORKLIFT_EXPECT_VERSION"] = rpm.version
        return f"{rpm.path.name}" + (f" + {cli.path.name}" if cli else "")


def _guest_boot(console: str) -> float | None:
    """The guest's uptime on its first BOOT_MARK line (the guest's run script started), if any."""
    for ln in console.splitlines():
        if BOOT_MARK in ln:
            return float(ln.split(BOOT_MARK, 1)[1].split()[0])
    return None


def _blank_disks(pool: Path, spare: Path) -> None:
    for disk, size in ((pool, POOL_DISK_BYTES), (spare, SPARE_DISK_BYTES)):
        with open(disk, "wb") as fh:
            fh.truncate(size)


def _host_vmlinuz() -> Path | None:
    try:
        return Path(f"/boot/vmlinuz-{image_mod.host_kernel()}")
    except ForkliftError:
        return None


def _stall_seconds() -> float:
    raw = os.environ.get("FORKLIFT_VM_STALL_SECONDS")
    if not raw:
        return STALL_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ForkliftError(f"$FORKLIFT_VM_STALL_SECONDS={raw!r}: not a positive number of seconds")
    return value


def _last_line(console: str) -> str:
    lines = [ln.strip() for ln in console.replace("\r", "\n").splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""


def _size_mib(path: Path) -> int:
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total // (1 << 20) + 1
