#!/usr/bin/env bash
# Installs the native prerequisites FacialExpression needs on Linux. Idempotent: each step is a
# no-op when its prerequisite is already present, so it is safe to run on every CI build.
#
# 1. libstdc++ with GLIBCXX_3.4.32 (GCC 13), needed by TorchSharp 0.107's libtorch. Debian 12 ships
#    3.4.30; we add the Debian 13 ("trixie") suite from the mirror already configured in this
#    machine's apt sources, pin it low (priority 100) so nothing else is upgraded, and install only
#    libstdc++6 from it. Ubuntu 24.04+, Debian 13+, Windows and macOS need nothing.
# 2. libgtk-3-0, which OpenCvSharp4's official Linux runtime (face detection) links against.
set -euo pipefail

log() { printf '[prerequisites] %s\n' "$*"; }

if [ "$(uname -s)" != "Linux" ]; then
  log "not Linux: nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "error: run as root or install sudo"; exit 1; fi
fi

find_libstdcxx() {
  local p
  for p in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib/aarch64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 /usr/lib/libstdc++.so.6; do
    [ -e "$p" ] && { echo "$p"; return 0; }
  done
  ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 /{print $NF; exit}'
}

has_glibcxx_3_4_32() {
  local lib; lib=$(find_libstdcxx)
  [ -n "$lib" ] && grep -aq 'GLIBCXX_3\.4\.32' "$lib"
}

apt_updated=0
apt_update() { [ "$apt_updated" -eq 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }; }

# The Debian mirror this machine already uses (deb822 sources first, then one-line sources).
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/ && $i !~ /security/) {print $i; exit}}' /etc/apt/sources.list | head -n1)
  fi
  echo "$uri"
}

if has_glibcxx_3_4_32; then
  log "libstdc++ already provides GLIBCXX_3.4.32"
else
  if ! command -v apt-get >/dev/null 2>&1 || [ ! -f /etc/debian_version ]; then
    log "error: libstdc++ lacks GLIBCXX_3.4.32 and this is not a Debian-based system."
    log "Install libstdc++ from GCC 13 or newer with your distribution's package manager."
    exit 1
  fi
  mirror=$(debian_mirror)
  if [ -z "$mirror" ]; then
    log "error: no Debian mirror found in /etc/apt/sources.list(.d); cannot add the trixie suite."
    exit 1
  fi
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  log "adding Debian 13 (trixie) from $mirror, pinned at priority 100"
  $SUDO tee /etc/apt/sources.list.d/facialexpression-trixie.sources >/dev/null <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring
SRC
  $SUDO tee /etc/apt/preferences.d/facialexpression-trixie >/dev/null <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t trixie libstdc++6 >/dev/null
  if has_glibcxx_3_4_32; then log "installed libstdc++6 from trixie"; else
    log "error: libstdc++6 from trixie installed but GLIBCXX_3.4.32 is still missing"; exit 1; fi
fi

# OpenCvSharp4's official Linux runtime needs GTK 3 at load time.
if ldconfig -p 2>/dev/null | grep -q 'libgtk-3\.so\.0'; then
  log "libgtk-3-0 already installed"
elif command -v apt-get >/dev/null 2>&1; then
  apt_update
  log "installing libgtk-3-0 (needed by OpenCvSharp4's Linux runtime)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libgtk-3-0 >/dev/null
else
  log "warning: libgtk-3-0 missing and apt-get unavailable; face detection will not load"
fi
log "done"
