# Shared by the stand-in chroot configs (tests/builds/realmock/setup.sh writes them):
# the buildroot is forklift-buildroot from the local repo, installed by the host's
# dnf4 (Debian's) into a chroot entered with plain chroot(2).
config_opts['chroot_setup_cmd'] = 'install forklift-buildroot'
config_opts['package_manager'] = 'dnf4'
config_opts['isolation'] = 'simple'
config_opts['use_bootstrap'] = False
config_opts['use_bootstrap_image'] = False
config_opts['extra_chroot_dirs'] = ['/run/lock']
config_opts['dnf.conf'] = """
[main]
keepcache=1
system_cachedir=/var/cache/dnf
debuglevel=2
reposdir=/dev/null
logfile=/var/log/yum.log
retries=20
obsoletes=1
gpgcheck=0
assumeyes=1
syslog_ident=mock
syslog_device=
install_weak_deps=0
metadata_expire=0
best=1
protected_packages=
user_agent={{ user_agent }}

[forklift-buildroot]
name=Forklift buildroot stand-in (Debian 12 userland)
baseurl=file://@STATE@/repo
gpgcheck=0
skip_if_unavailable=False
metadata_expire=0
"""
