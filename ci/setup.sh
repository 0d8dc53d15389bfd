#!/usr/bin/env bash
# Forklift set-up: install the system packages (apt on Debian/Ubuntu, dnf on
# Fedora/RHEL) and the Python packages into .venv at the repo root.
# Idempotent: a second run installs nothing new.
#   ci/setup.sh          the tools for building
#   ci/setup.sh --test   plus the tools the test suite drives (qemu, mmdebstrap, ...)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

if command -v apt-get >/dev/null 2>&1; then
    pkgs=(rpm rpmlint python3-rpm createrepo-c python3-createrepo-c dnf python3-dnf
          checkpolicy semodule-utils selinux-policy-dev selinux-policy-default policycoreutils
          setools python3-setools python3-cryptography bzip2 gnupg gpgv git
          python3-venv python3-dev libkrb5-dev gcc make cpio zstd xz-utils dnf-plugins-core
          go-md2man cmake pkg-config clang libclang-dev libseccomp-dev libdevmapper-dev
          libsystemd-dev libbtrfs-dev libudev-dev)
    # xorriso: the cloud-init NoCloud seed of `invoke smoke --image` (tooling/smoke/cloud.py); qemu-utils: qemu-img
    [ $want_test -eq 1 ] && pkgs+=(qemu-system-x86 qemu-utils linux-image-amd64 mmdebstrap busybox-static chromium
          e2fsprogs xfsprogs lvm2 thin-provisioning-tools xorriso)
    missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "ci/setup.sh: installing ${missing[*]}"
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
    fi
    # Debian's dnf-plugins-core turns on the `local` plugin, which copies every package dnf
    # installs into a host-wide repository and adds it to every later dnf run (stale stubs and
    # buildroots leak between runs). Fedora ships that plugin as a separate package, off.
    if [ -f /etc/dnf/plugins/local.conf ] && sed -n '/^\[main\]/,/^\[/p' /etc/dnf/plugins/local.conf | grep -q '^enabled *= *\(true\|1\)'; then
        $SUDO sed -i '/^\[main\]/,/^\[/ s/^enabled *=.*/enabled = false/' /etc/dnf/plugins/local.conf
    fi
elif command -v dnf >/dev/null 2>&1; then
    pkgs=(rpm-build rpmlint python3-rpm createrepo_c python3-createrepo_c python3-dnf
          checkpolicy policycoreutils selinux-policy-devel selinux-policy-targeted setools-console
          python3-setools python3-cryptography bzip2 gnupg2 git
          python3-devel krb5-devel gcc make cpio zstd xz mock dnf-plugins-core)
    [ $want_test -eq 1 ] && pkgs+=(qemu-system-x86 qemu-img kernel-core mmdebstrap busybox e2fsprogs
          xfsprogs lvm2 device-mapper-persistent-data xorriso)
    missing=()
    for p in "${pkgs[@]}"; do rpm -q "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -gt 0 ] && $SUDO dnf install -y "${missing[@]}"
else
    echo "ci/setup.sh: neither apt-get nor dnf found; install the packages listed in this script by hand" >&2
    exit 1
fi

# The venv uses the system python3 with system site packages: the rpm,
# createrepo_c and dnf bindings come from the distro, not from PyPI.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import rpm, createrepo_c' 2>/dev/null; then
    rm -rf .venv
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.forklift-deps
if [ ! -f "$stamp" ] || ! cmp -s pyproject.toml "$stamp"; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev,hostbuild]'
    cp pyproject.toml "$stamp"
fi

# The venv's own dependencies come from the venv. With system site packages on
# the path pip counts a distro copy (Debian's python3-requests, python3-urllib3,
# ...) as installed and skips it; the venv then mixes the distro's requests with
# pip's urllib3 2.x and every command prints RequestsDependencyWarning. So
# requests and what it imports are installed into the venv itself
# (--ignore-installed), where they shadow the distro's, whenever a check finds
# one of them outside the venv or importing requests warns.
own_deps=(requests urllib3 charset-normalizer idna certifi)
venv_owns_deps() {
    .venv/bin/python -W error - "${own_deps[@]}" <<'PY' 2>/dev/null
import importlib, sys, sysconfig
purelib = sysconfig.get_paths()["purelib"]
mods = [importlib.import_module(n.replace("-", "_")) for n in sys.argv[1:]]
sys.exit(0 if all(m.__file__.startswith(purelib) for m in mods) else 1)
PY
}
if ! venv_owns_deps; then
    echo "ci/setup.sh: installing ${own_deps[*]} into .venv (the distro's copies must not mix with pip's)"
    .venv/bin/python -m pip install -q --ignore-installed 'requests>=2.28,<3' urllib3 charset-normalizer idna certifi
    venv_owns_deps || { echo "ci/setup.sh: .venv still imports ${own_deps[*]} from outside the venv" >&2; exit 1; }
fi
