#!/bin/sh
# The image's root file system for one architecture, from Debian packages only:
#   scripts/image-rootfs.sh ARCH DIR      (ARCH: amd64 or arm64; DIR must not exist)
# Used by `npm run image` (scripts/image.mjs) and by the Dockerfile, so both images hold the same
# files. Packages are extracted, not installed (mmdebstrap's extract variant): no maintainer
# script runs, so no emulator is needed for a foreign architecture, and nothing but what the
# agent runs ends up in the image (no apt, no perl; dpkg's own files are pruned below).
set -eu
arch=$1
dir=$2
suite=${DEBIAN_SUITE:-bookworm}
# readelf decides which libraries stay: without it every library would look unneeded.
command -v readelf >/dev/null || { echo "image-rootfs.sh: needs readelf (Debian package binutils)" >&2; exit 1; }
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# What the modules run (nft, ip, wg, wireguard-go, conntrack), the nftables event listener the
# drift checks wait on (iptables' xtables-monitor under coreutils' stdbuf, src/sys/nft-events.ts),
# the CNI plugins the init container copies onto hosts, Node.js's shared libraries, and sh/cp/mv
# for that init container.
packages=libc6,libstdc++6,libgcc-s1,dash,coreutils,nftables,iptables,iproute2,wireguard-tools,wireguard-go,conntrack,containernetworking-plugins

mmdebstrap --quiet --mode=chrootless --variant=extract --architectures="$arch" \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
  --dpkgopt='path-exclude=/usr/share/zsh/*' \
  "$suite" "$dir" "deb $mirror $suite main" "deb $security $suite-security main"

# The four CNI plugins the mesh's conflist uses (the other twelve would add ~40 MB).
for p in "$dir"/usr/lib/cni/*; do
  case "${p##*/}" in bridge|host-local|portmap|loopback) ;; *) rm -f "$p" ;; esac
done
# Package manager state and caches: nothing in the image installs packages.
rm -rf "$dir"/var/lib/apt "$dir"/var/cache/apt "$dir"/var/lib/dpkg "$dir"/var/log/* "$dir"/etc/apt \
  "$dir"/etc/dpkg "$dir"/usr/share/dpkg "$dir"/usr/share/debconf "$dir"/usr/share/perl5 \
  "$dir"/usr/bin/dpkg* "$dir"/usr/bin/debconf* "$dir"/usr/sbin/dpkg* "$dir"/usr/lib/dpkg \
  "$dir"/usr/lib/x86_64-linux-gnu/gconv "$dir"/usr/lib/aarch64-linux-gnu/gconv \
  "$dir"/usr/bin/tar "$dir"/usr/sbin/rmt* "$dir"/usr/share/common-licenses "$dir"/usr/include \
  "$dir"/usr/sbin/iptables* "$dir"/usr/sbin/ip6tables* "$dir"/usr/sbin/arptables* \
  "$dir"/usr/sbin/ebtables* "$dir"/usr/lib/*/xtables
# iproute2's other tools (ss, tc, devlink, bridge, rdma …) and coreutils beyond what the
# launcher and the init container call; then every shared library nothing left needs.
for f in "$dir"/usr/bin/* "$dir"/usr/sbin/*; do
  case "${f##*/}" in
    ip|nft|wg|wireguard-go|conntrack|xtables-monitor|xtables-nft-multi|stdbuf|sh|dash|cat|cp|dirname|env|ln|ls|mkdir|mv|readlink|rm|sleep|true|false|id) ;;
    *) rm -f "$f" ;;
  esac
done
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
libdir=$(ls -d "$dir"/usr/lib/*-linux-gnu)
# Node.js (added in its own layer) needs these; glibc's name-service modules are loaded by name.
keep="libstdc++.so.6 libgcc_s.so.1 libm.so.6 libdl.so.2 libpthread.so.0 libc.so.6 libnss_files.so.2 libnss_dns.so.2 libresolv.so.2"
todo="$(for f in "$dir"/usr/bin/* "$dir"/usr/sbin/* "$dir"/usr/lib/cni/*; do [ -L "$f" ] || needed "$f"; done) $keep"
seen=" "
while [ -n "$(echo $todo)" ]; do
  next=""
  for l in $todo; do
    case "$seen" in *" $l "*) continue ;; esac
    seen="$seen$l "
    [ -e "$libdir/$l" ] && next="$next $(needed "$(readlink -f "$libdir/$l")")"
  done
  todo=$next
done
for f in "$libdir"/*.so*; do
  case "${f##*/}" in ld-linux-*) continue ;; esac
  # A library stays when its name, or the name of a link to it, is needed.
  n=${f##*/}
  case "$seen" in *" $n "*) continue ;; esac
  if [ -L "$f" ]; then rm -f "$f"; continue; fi
  used=""
  for l in "$libdir"/*.so*; do [ -L "$l" ] && [ "$(readlink -f "$l")" = "$(readlink -f "$f")" ] && case "$seen" in *" ${l##*/} "*) used=1 ;; esac; done
  [ -n "$used" ] || rm -f "$f"
done
find "$dir"/usr/lib -xtype l -delete
find "$libdir" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
# Device nodes come from the container runtime.
rm -rf "$dir"/dev/*
# Extracted packages ran no maintainer scripts: the few files those would have made.
mkdir -p "$dir"/etc "$dir"/tmp "$dir"/run "$dir"/var/lib/nodeway
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$dir"/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir"/etc/group
printf 'hosts: files dns\n' > "$dir"/etc/nsswitch.conf
[ -e "$dir"/bin/sh ] || ln -s dash "$dir"/usr/bin/sh
# base-files' link: wireguard-go puts its UAPI socket in /var/run/wireguard (the DaemonSet mounts
# the host's /run/wireguard, where `wg show` on the host looks).
[ -e "$dir"/var/run ] || ln -s /run "$dir"/var/run
chmod 1777 "$dir"/tmp
