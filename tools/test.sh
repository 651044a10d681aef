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

# The CUDA backend without a GPU: a second build whose kernels and CUDA runtime are the CPU
# emulation (cuda-emu/), running only the CUDA suites. It needs the toolkit's headers (nvcc).
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  if [ -f build-emu/build.ninja ]; then
    meson setup --reconfigure build-emu >/dev/null
  else
    meson setup build-emu -Demulate_cuda=true -Dwith_gui=disabled >/dev/null
  fi
  meson compile -C build-emu test-emu-checks test-cuda-open test-cuda-graph test-cuda-top-k \
    test-backend-ops test-cuda-fixes test-greedy-cuda
  meson test -C build-emu --no-rebuild --suite emu --print-errorlogs
else
  echo "no CUDA toolkit: the emulated CUDA suites did not run"
fi
