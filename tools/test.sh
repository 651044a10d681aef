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

# The two builds below are skipped when the arguments pick some tests.
[ $# -eq 0 ] || exit 0

# The CUDA backend without a GPU: a second build whose kernels and CUDA runtime are the CPU
# emulation (cuda-emu/), running only the CUDA suites. It needs the toolkit's headers (nvcc).
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  if [ -f build-emu/build.ninja ]; then
    meson setup --reconfigure build-emu >/dev/null
  else
    meson setup build-emu -Demulate_cuda=true -Dwith_gui=disabled >/dev/null
  fi
  meson compile -C build-emu test-emu-checks test-cuda-open test-cuda-graph test-cuda-top-k \
    test-backend-ops test-cuda-fixes test-greedy-cuda test-batch test-quant-prefill test-cuda-split test-cuda-fused app/ivl
  meson test -C build-emu --no-rebuild --suite emu --print-errorlogs
else
  echo "no CUDA toolkit: the emulated CUDA suites did not run"
fi

# The hostile-input suite again on an ASan + UBSan build of the ivl tool alone (issue 11).
if [ -f build-asan/build.ninja ]; then
  meson setup --reconfigure build-asan >/dev/null
else
  meson setup build-asan -Db_sanitize=address,undefined -Dwith_gui=disabled \
    -Dwith_cuda=disabled >/dev/null
fi
meson compile -C build-asan app/ivl
meson test -C build-asan --no-rebuild --suite hostile --print-errorlogs
