#!/usr/bin/env bash
# Installs everything routerd's demo and test suite need on a fresh Debian 12 machine (as root).
# Idempotent: a second run only checks. Set ROUTERD_SKIP_SETUP=1 to skip entirely.
set -euo pipefail
[ "${ROUTERD_SKIP_SETUP:-0}" = 1 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (it installs Debian packages and creates network namespaces)" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
stamp=/var/lib/routerd-setup.v1
packages=(
  # BGP peers for interop tests and the demo
  bird2 frr gobgpd exabgp
  # namespaces, NAT, probes
  iproute2 iputils-ping nftables conntrack netcat-openbsd jq procps
  # DHCPv4 server for the interface tests and the NAT router of the gate's qemu flavour
  dnsmasq-base
  # image builder and guests
  kmod mtools dosfstools e2fsprogs syslinux syslinux-common systemd-boot-efi binutils
  ovmf qemu-efi-aarch64 cpio
  # cross builds
  musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
)
backports=(qemu-system-x86 qemu-system-arm qemu-utils)
missing=()
for p in "${packages[@]}" "${backports[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ! -f "$stamp" ]; then
  echo "setup: installing ${missing[*]:-(checking)}"
  # QEMU comes from bookworm-backports in one step: the stable package would remove the newer qemu-img.
  if [ ! -f /etc/apt/sources.list.d/routerd-backports.sources ]; then
    cat > /etc/apt/sources.list.d/routerd-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${backports[@]}" >/dev/null
  touch "$stamp"
fi
# Rust targets for the static init (x86_64) and the aarch64 image.
if command -v rustup >/dev/null; then
  for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    rustup target list --installed | grep -qx "$t" || rustup target add "$t" || {
      echo "setup: rustup target add $t failed; image builds for that target will fail" >&2; }
  done
  # The fuzz run (tests/fuzz/run.sh) builds with the nightly toolchain.
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
fi
echo "setup: ok"
