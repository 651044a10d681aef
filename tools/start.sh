#!/bin/sh
# Sets up a Debian 12 machine, builds ivl and starts it: the chat window where a display
# exists, else the command-line demo.
set -eu
cd "$(dirname "$0")/.."

./tools/setup-debian.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/app/ivl-chat ]; then
  exec build/app/ivl-chat "$@"
fi
exec build/app/ivl demo "$@"
