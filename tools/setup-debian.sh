#!/bin/sh
# Installs every Debian 12 package that ivl needs to build, run and test.
# Run as root (or through sudo). Safe to run again: apt-get skips what is installed.
set -eu

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES="
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libglib2.0-dev libglib2.0-bin libjson-glib-dev libsoup-3.0-dev libsecret-1-dev
  libgtk-4-dev libgtk-4-media-gstreamer libadwaita-1-dev libgdk-pixbuf-2.0-dev
  libmd4c-dev libgtksourceview-5-dev libxml2-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libpcre2-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-libav gstreamer1.0-tools
  gettext desktop-file-utils appstream appstream-util
  xvfb xauth dbus-x11 at-spi2-core adwaita-icon-theme fonts-dejavu-core fonts-noto-cjk
  python3-numpy python3-torch python3-torchvision python3-pil python3-regex
  libsentencepiece-dev sentencepiece python3-sentencepiece python3-protobuf python3-jinja2
"

# Node.js and npm for the OpenAI SDK test of `ivl serve` (tests/net/sdk); a machine that has
# them from elsewhere (NodeSource) keeps its own.
if ! command -v npm >/dev/null 2>&1; then PACKAGES="$PACKAGES nodejs npm"; fi

export DEBIAN_FRONTEND=noninteractive
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
