#!/bin/bash
# tests/gpu/run.sh — the GPU check, in one go (under 8 minutes on an H100):
#   0. the CUDA emulation's own checks (cuda-emu/, on the CPU, a few seconds) where meson can
#      build them, so that a failure there is not mistaken for the GPU's;
#   1. find the GPU (nvidia-smi) and its compute capability;
#   2. build for exactly that capability (meson, -Dgpu_archs=<cc>) or, where this machine
#      cannot build (no meson, GLib or json-glib headers), use build-gpu-bundle/ made
#      elsewhere by tests/gpu/bundle.sh;
#   3. run the op tests (CUDA vs CPU on every InternVL3 shape), the graph check and the
#      sampling top-k check, under compute-sanitizer's memcheck too (racecheck for the
#      attention and top-k kernels), plus, when
#      building from source, the other tests of suite gpu;
#   4. measure the GPU's ceilings (tests/gpu/gpu-peak: copy bandwidth, bf16 GEMM);
#   5. `ivl bench --backend cuda` on a 1B-shaped and an 8B-shaped random model written on the
#      spot by `ivl make-tiny-model`, the 8B-shaped one also with --precision int8 and 4bit
#      (the loader quantizes its Linear weights); the 1B-shaped one also split over every GPU
#      found, or over two backend instances on GPU 0 when there is one (tests/gpu/split-check.sh:
#      the same tokens and logits as on one GPU, so the copy path between devices runs);
#   6. compare the measured times with the emulation's roofline projection committed in
#      tests/gpu/projection.json (tests/gpu/projection.py writes it), and
#      write report.json, report.md and logs.tar.gz (every step's output, and which suites ran
#      on the GPU itself and which on the CPU emulation) into
#      $IVL_GPU_REPORT_DIR (default: $OUT if set, else build-gpu/report), and print report.md.
# Exit status: 0 all passed (a tool that is missing, e.g. compute-sanitizer, is a skip), 1 something failed (the report says what), 77 no GPU here.
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${IVL_GPU_BUILD_DIR:-$ROOT/build-gpu}
BUNDLE=${IVL_GPU_BUNDLE:-$ROOT/build-gpu-bundle}
REPORT=${IVL_GPU_REPORT_DIR:-${OUT:-$BUILD/report}}
MODELS=${IVL_GPU_MODEL_DIR:-${TMPDIR:-/tmp}/ivl-gpu-models}
LAYERS_8B=${IVL_GPU_8B_LAYERS:-6} # of the 8B's 28: widths are the 8B's, depth is cut for time
BUDGET_S=${IVL_GPU_BUDGET_S:-450}
export PATH="$PATH:/usr/local/cuda/bin"

mkdir -p "$REPORT"
LOGS=$(mktemp -d)
trap 'rm -rf "$LOGS"' EXIT
STEPS="$LOGS/steps.tsv" # name, status, seconds, detail
: >"$STEPS"
FAILED=0

log() { printf '[gpu-check %3ds] %s\n' "$SECONDS" "$*"; }

# step NAME LIMIT_S CMD...: runs CMD with a time limit, output to $LOGS/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  if [ "$SECONDS" -ge "$BUDGET_S" ]; then
    record "$name" fail 0 "not run: the ${BUDGET_S} s budget is spent"
    return 1
  fi
  log "$name ..."
  local t0=$SECONDS rc
  # Through bash so that CMD may be an exported function.
  timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  local dt=$((SECONDS - t0)) detail
  detail=$(tail -n 1 "$LOGS/$name.log" | tr '\t' ' ' | cut -c1-200)
  if [ $rc -eq 0 ]; then
    record "$name" pass "$dt" "$detail"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    record "$name" fail "$dt" "timed out after ${limit} s"
  else
    record "$name" fail "$dt" "exit $rc: $detail"
  fi
  return $rc
}

record() {
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$STEPS"
  log "$1: $2 ($3 s) $4"
  [ "$2" = pass ] || [ "$2" = skip ] || FAILED=1
}

# -- 0. the emulation's self-checks (CPU) --
EMU_BUILD=${IVL_GPU_EMU_BUILD_DIR:-$ROOT/build-gpu-emu}
emu_self_checks() {
  command -v meson >/dev/null || { echo "meson is not installed"; return 1; }
  [ -f "$EMU_BUILD/build.ninja" ] ||
    meson setup "$EMU_BUILD" "$ROOT" -Demulate_cuda=true -Dwith_gui=disabled || return 1
  meson compile -C "$EMU_BUILD" test-emu-checks && "$EMU_BUILD/cuda-emu/test-emu-checks"
}
export -f emu_self_checks
export EMU_BUILD ROOT

# -- 1. the GPU --
if ! GPU=$(nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version \
  --format=csv,noheader -i 0 2>&1); then
  log "no NVIDIA GPU found (nvidia-smi: ${GPU:-not installed}): nothing to check"
  exit 77
fi
CC=$(echo "$GPU" | cut -d, -f2 | tr -d ' ')
# Every GPU for the split check; two backend instances on GPU 0 where it is the only one.
N_GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$N_GPUS" -gt 1 ]; then
  SPLIT_GPUS=$(seq -s, 0 $((N_GPUS - 1)))
else
  SPLIT_GPUS=0,0
fi
ARCH=${CC/./}
log "GPU: $GPU (building for sm_$ARCH)"
if command -v meson >/dev/null; then
  step emu-self-checks 120 emu_self_checks
else
  record emu-self-checks skip 0 "meson is not installed: the emulation's checks did not run"
fi

# -- 2. build --
MESON=$(command -v meson || true)
if [ -z "$MESON" ] && python3 -c 'import mesonbuild' 2>/dev/null; then
  MESON="python3 -m mesonbuild.mesonmain"
fi
build_from_source() {
  [ -n "$MESON" ] || { echo "meson is not installed"; return 1; }
  if [ -f "$BUILD/build.ninja" ]; then
    $MESON configure "$BUILD" -Dgpu_archs="$ARCH" || return 1
  else
    $MESON setup "$BUILD" "$ROOT" -Dgpu_archs="$ARCH" -Dwith_cuda=enabled \
      -Dwith_gui=disabled --buildtype=release || return 1
  fi
  $MESON compile -C "$BUILD"
}
export -f build_from_source
export MESON BUILD ROOT ARCH
MODE=source
if step build 360 build_from_source; then
  BIN_IVL=$BUILD/app/ivl
  BIN_OPS=$BUILD/tests/test-backend-ops
  BIN_GRAPH=$BUILD/tests/test-cuda-graph
  BIN_TOPK=$BUILD/tests/test-cuda-top-k
  BIN_PEAK=$BUILD/tests/gpu-peak
  BIN_FIXES=$BUILD/tests/test-cuda-fixes
  BIN_FUSED=$BUILD/tests/test-cuda-fused
elif [ -x "$BUNDLE/bin/ivl" ]; then
  # The failed source build is not this check's failure when a bundle stands in for it.
  sed -i '$d' "$STEPS"
  FAILED=0
  MODE=bundle
  record build pass 0 "no source build here ($(tail -n 1 "$LOGS/build.log" | cut -c1-120)); using build-gpu-bundle for sm_$(cat "$BUNDLE/archs" 2>/dev/null)"
  case ";$(cat "$BUNDLE/archs" 2>/dev/null);" in
    *";$ARCH;"*) ;;
    *) record bundle-archs fail 0 "the bundle was built for $(cat "$BUNDLE/archs"), not $ARCH" ;;
  esac
  BIN_IVL=$BUNDLE/bin/ivl
  BIN_OPS=$BUNDLE/bin/test-backend-ops
  BIN_GRAPH=$BUNDLE/bin/test-cuda-graph
  BIN_TOPK=$BUNDLE/bin/test-cuda-top-k
  BIN_PEAK=$BUNDLE/bin/gpu-peak
  BIN_FIXES=$BUNDLE/bin/test-cuda-fixes
  BIN_FUSED=$BUNDLE/bin/test-cuda-fused
else
  log "cannot build here and no build-gpu-bundle/ (build log in logs.tar.gz); make a bundle with"
  log "tests/gpu/bundle.sh on a machine with the build dependencies and bring it along"
  MODE=none
fi

# cuBLAS: the toolkit's, else the one pip's nvidia-cublas package carries.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas.so.13' && [ ! -e /usr/local/cuda/lib64/libcublas.so.13 ]; then
  PIPCUBLAS=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
  [ -n "$PIPCUBLAS" ] && export LD_LIBRARY_PATH="$PIPCUBLAS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# The bundle's libraries for our programs only: python3, tar and the sanitizer keep the
# system's own.
RUN=env
if [ "$MODE" = bundle ]; then
  RUN="env LD_LIBRARY_PATH=$BUNDLE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if [ "$MODE" != none ]; then
  # -- 3. tests --
  step ops-cuda-vs-cpu 240 $RUN "$BIN_OPS"
  step cuda-graph 60 $RUN "$BIN_GRAPH"
  step sampling-top-k 60 $RUN "$BIN_TOPK"
  if [ -x "$BIN_FIXES" ]; then
    step cuda-fixes 60 $RUN "$BIN_FIXES"
  else
    record cuda-fixes skip 0 "an older bundle without test-cuda-fixes"
  fi
  if [ -x "$BIN_FUSED" ]; then
    step cuda-fused 60 $RUN "$BIN_FUSED"
  else
    record cuda-fused skip 0 "a bundle without test-cuda-fused"
  fi
  # The sanitizer slows the kernels, not the CPU reference: the whole op test fits; racecheck
  # (shared memory) on one case of each attention kernel and head size.
  if command -v compute-sanitizer >/dev/null; then
    step memcheck-ops 240 $RUN compute-sanitizer --tool memcheck --error-exitcode 1 "$BIN_OPS"
    step memcheck-graph 120 $RUN compute-sanitizer --tool memcheck --error-exitcode 1 "$BIN_GRAPH"
    step racecheck-top-k 120 $RUN compute-sanitizer --tool racecheck --error-exitcode 1 \
      "$BIN_TOPK" "short row"
    step racecheck-attention 240 $RUN compute-sanitizer --tool racecheck --error-exitcode 1 \
      "$BIN_OPS" "prefill 100,prefill 70,decode at 299,at 5 of 256"
  else
    record compute-sanitizer skip 0 "not installed: no memcheck or racecheck"
  fi
  if [ "$MODE" = bundle ]; then
    step greedy-cuda 300 $RUN IVL_SOURCE_ROOT="$ROOT" "$BUNDLE/bin/test-greedy-cuda"
    [ -x "$BUNDLE/bin/test-quant-prefill" ] &&
      step quant-prefill 200 $RUN IVL_SOURCE_ROOT="$ROOT" "$BUNDLE/bin/test-quant-prefill"
  fi
  if [ "$MODE" = source ]; then
    # The rest of suite gpu (the ops suite ran above, binary by binary): greedy-cuda,
    # quant-prefill.
    step meson-tests-gpu 240 $MESON test -C "$BUILD" --suite gpu --no-suite ops \
      --print-errorlogs --timeout-multiplier 4
  fi

  # -- 4. ceilings --
  step gpu-peak 120 $RUN "$BIN_PEAK"

  # -- 5. benchmarks on random models of real widths --
  VISION="--vision-hidden 1024 --vision-layers 24 --vision-heads 16 --vision-ffn 4096"
  mkdir -p "$MODELS"
  rm -rf "$MODELS/1b" "$MODELS/8b"
  VISION="$VISION --tokenizer $ROOT/tests/data/tokenizer/qwen2.5"
  # shellcheck disable=SC2086
  step make-1b 120 $RUN "$BIN_IVL" make-tiny-model "$MODELS/1b" $VISION --llm-hidden 896 \
    --llm-layers 24 --llm-heads 14 --llm-kv-heads 2 --llm-ffn 4864 &&
    step bench-1b 150 $RUN "$BIN_IVL" bench -m "$MODELS/1b" --backend cuda --json &&
    step bench-1b-no-graph 150 $RUN IVL_CUDA_GRAPHS=0 "$BIN_IVL" bench -m "$MODELS/1b" \
      --backend cuda --json
  # shellcheck disable=SC2086
  [ -d "$MODELS/1b" ] &&
    step split-1b 150 "$ROOT/tests/gpu/split-check.sh" "$BIN_IVL" "$MODELS/1b" "$SPLIT_GPUS" $RUN
  # shellcheck disable=SC2086
  # Shards: the safetensors writer keeps a file in one GByteArray, which stops at 4 GiB.
  if step make-8b 200 $RUN "$BIN_IVL" make-tiny-model "$MODELS/8b" $VISION --shards 4 \
    --llm-hidden 3584 --llm-layers "$LAYERS_8B" --llm-heads 28 --llm-kv-heads 4 --llm-ffn 18944
  then
    step bench-8b 150 $RUN "$BIN_IVL" bench -m "$MODELS/8b" --backend cuda --json
    # The loader quantizes the Linear weights; decode reads a half (int8) or about a quarter
    # (4-bit) of the bytes. Run even when the bf16 bench failed: these are other kernels.
    step bench-8b-int8 120 $RUN "$BIN_IVL" bench -m "$MODELS/8b" --backend cuda \
      --precision int8 --json
    step bench-8b-4bit 120 $RUN "$BIN_IVL" bench -m "$MODELS/8b" --backend cuda \
      --precision 4bit --json
  fi
  rm -rf "$MODELS/1b" "$MODELS/8b"
fi

# -- 6. report --
if [ "$MODE" != none ]; then
  record suites-on-hardware pass 0 "on $(echo "$GPU" | cut -d, -f1): op tests, graph, top-k, \
fixes, greedy end to end$([ "$MODE" = source ] && echo " (meson suite gpu)"), a split over \
GPUs $SPLIT_GPUS; on the CPU emulation only: emu-self-checks, the split over 3 and 8 devices"
fi
python3 "$ROOT/tests/gpu/report.py" --steps "$STEPS" --logs "$LOGS" --dir "$REPORT" \
  --gpu "$GPU" --mode "$MODE" --layers-8b "$LAYERS_8B" --seconds "$SECONDS" \
  --projection "$ROOT/tests/gpu/projection.json" || FAILED=1
tar czf "$REPORT/logs.tar.gz" -C "$LOGS" . || FAILED=1
cat "$REPORT/report.md" 2>/dev/null
log "report: $REPORT/report.md, report.json, logs.tar.gz"
[ "$MODE" != none ] || FAILED=1
exit $FAILED
