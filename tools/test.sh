#!/bin/sh
# Sets up a Debian 12 machine, builds ivl and runs every test suite.
set -eu
cd "$(dirname "$0")/.."

./tools/setup-debian.sh

if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build
fi
meson compile -C build

# A display for the GUI suite; the other suites do not need one.
xvfb-run -a -s "-screen 0 1280x1024x24" meson test -C build --print-errorlogs "$@"
