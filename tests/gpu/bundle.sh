#!/bin/bash
# tests/gpu/bundle.sh [ARCHS] — build ivl and the GPU checks on a machine that has the build
# dependencies (tools/setup-debian.sh) into build-gpu-bundle/: bin/ (ivl, test-backend-ops,
# test-cuda-graph, test-cuda-top-k, test-cuda-fixes, test-cuda-fused, test-quant-prefill,
# test-greedy-cuda, gpu-peak), lib/ (the shared libraries
# they need beyond glibc, libstdc++ and CUDA's own) and archs (the compute capabilities
# built, default 90 = H100/H200).
# tests/gpu/run.sh uses the bundle on a GPU machine where it cannot build from source (no
# GLib or json-glib headers there). The GPU itself is not needed here.
set -eu -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARCHS=${1:-90}
BUNDLE=${IVL_GPU_BUNDLE:-$ROOT/build-gpu-bundle}
BUILD=${IVL_GPU_BUNDLE_BUILD:-$ROOT/build-bundle-tree} # kept out of the bundle: only bin/ and lib/ travel

if [ -d "$BUILD" ]; then
  meson configure "$BUILD" -Dgpu_archs="$ARCHS" >/dev/null
else
  meson setup "$BUILD" "$ROOT" -Dgpu_archs="$ARCHS" -Dwith_cuda=enabled -Dwith_gui=disabled \
    --buildtype=release >/dev/null
fi
meson compile -C "$BUILD"

rm -rf "$BUNDLE/bin" "$BUNDLE/lib"
mkdir -p "$BUNDLE/bin" "$BUNDLE/lib"
for exe in app/ivl tests/test-backend-ops tests/test-cuda-graph tests/test-cuda-top-k \
  tests/test-cuda-fixes tests/test-cuda-fused tests/test-quant-prefill tests/test-greedy-cuda \
  tests/gpu-peak; do
  [ -x "$BUILD/$exe" ] && cp "$BUILD/$exe" "$BUNDLE/bin/"
done
# glibc and libstdc++ are newer on the target (binaries built on older ones run there);
# cuBLAS and the driver must be the target's own.
ldd "$BUNDLE"/bin/* | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case $(basename "$lib") in
    libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | ld-linux* | libstdc++* | \
      libgcc_s* | libcublas* | libcuda.so* | libcudart*) ;;
    *) cp -L "$lib" "$BUNDLE/lib/" ;;
  esac
done
echo "$ARCHS" >"$BUNDLE/archs"
du -sh "$BUNDLE/bin" "$BUNDLE/lib"
echo "bundle ready: carry build-gpu-bundle (it is under /build*, ignored by git)"
