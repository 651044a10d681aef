#!/bin/sh
# What the CPU's integer dot products (IVL_CPU_INT_DOT, engine/cpu/cpu-int-dot.c) change in the
# logits, as a markdown table: int8 and 4-bit weights on the integer path and on the float
# path, against bf16 weights and against each other, over STEPS teacher-forced greedy steps
# (tests/bench/int-dot-accuracy.c) of
#   - the tiny goldens' two language models (tests/reference/goldens/*-int8.json, *-4bit.json:
#     hidden 256, 2 layers, vocabulary 1024; Qwen2 and InternLM2),
#   - a random model of InternVL3-1B's language shape (Qwen2.5-0.5B: hidden 896, 24 layers,
#     14 heads, 2 KV heads, MLP 4864, vocabulary 151674; ~1 GB written to a temporary folder).
# Usage: tools/int-dot-accuracy.sh [BUILD_DIR] [STEPS] [THREADS]   (defaults: build 200 2)
set -eu
build=${1:-build}
steps=${2:-200}
threads=${3:-2}
# shellcheck source=tools/accuracy-common.sh
program=int-dot-accuracy
. "$(dirname "$0")/accuracy-common.sh"
"$ivl" make-tiny-model --seed 1 --llm-hidden 896 --llm-layers 24 --llm-heads 14 \
  --llm-kv-heads 2 --llm-ffn 4864 "$tmp/1b" >/dev/null

echo "| model | run | max abs Δlogit | mean abs Δlogit | mean abs logit | top-1 agreement |"
echo "|---|---|---|---|---|---|"
for m in qwen2 internlm2 1b; do
  case $m in
  qwen2) name="tiny Qwen2 (golden)" ;;
  internlm2) name="tiny InternLM2 (golden)" ;;
  *) name="1B-shaped random" ;;
  esac
  "$acc" --steps "$steps" --threads "$threads" "$tmp/$m" "$name"
done
