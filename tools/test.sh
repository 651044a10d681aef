#!/bin/sh
# Sets up a Debian 12 machine, builds ivl and runs every test suite.
set -eu
cd "$(dirname "$0")/.."

./tools/setup-debian.sh

# The OpenAI Node SDK of the serve tests, as tests/net/sdk/package-lock.json pins it; installed
# again only when the lock file changes, so a machine that has it runs offline.
sdk=tests/net/sdk
if [ ! -f $sdk/node_modules/.package-lock.json ] ||
   [ $sdk/package-lock.json -nt $sdk/node_modules/.package-lock.json ]; then
  (cd $sdk && npm ci --no-audit --no-fund)
fi

if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build
fi
meson compile -C build

# A display for the GUI suite; the other suites do not need one.
xvfb-run -a -s "-screen 0 1280x1024x24" meson test -C build --print-errorlogs "$@"
