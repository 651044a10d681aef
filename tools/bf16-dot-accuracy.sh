#!/bin/sh
# What the CPU's bf16 dot products (IVL_CPU_BF16_DOT, engine/cpu/cpu-gemm-bf16dot.c: activations
# rounded to bf16 in the products of bf16 weights) change against the f32 products, as markdown
# rows (tests/bench/bf16-dot-accuracy.c): decode logits after a bf16-dot prefill, prefill logits
# chunk by chunk, and one vision tile's hidden states, on
#   - the tiny goldens' two models (hidden 256, 2 layers, vocabulary 1024; Qwen2 and InternLM2;
#     a 2-layer InternViT of hidden 64),
#   - MODEL_1B: a model of InternVL3-1B's shape (InternViT-300M, Qwen2.5-0.5B; random weights),
#     such as /work/models/q1b (see ../shared/bench/README.md), read only.
# Needs a CPU with AVX512_BF16 (else both runs are the f32 path and every Δ is 0).
# Usage: tools/bf16-dot-accuracy.sh [BUILD_DIR] [STEPS] [THREADS] [MODEL_1B]
set -eu
build=${1:-build}
steps=${2:-256}
threads=${3:-2}
model_1b=${4:-}
# shellcheck source=tools/accuracy-common.sh
program=bf16-dot-accuracy
. "$(dirname "$0")/accuracy-common.sh"

echo "| model | run | max abs Δlogit | mean abs Δlogit | mean abs logit | top-1 agreement |"
echo "|---|---|---|---|---|---|"
"$acc" --steps "$steps" --threads "$threads" "$tmp/qwen2" "tiny Qwen2 (golden)"
"$acc" --steps "$steps" --threads "$threads" "$tmp/internlm2" "tiny InternLM2 (golden)"
if [ -n "$model_1b" ]; then
  "$acc" --steps "$steps" --threads "$threads" "$model_1b" "1B-shaped random"
fi
echo
echo "| model | max abs Δh | max abs h | ratio | mean abs Δh | mean abs h | ratio |"
echo "|---|---|---|---|---|---|---|"
"$acc" --vision --threads "$threads" "$tmp/qwen2" "tiny (golden), 2 layers, hidden 64"
if [ -n "$model_1b" ]; then
  "$acc" --vision --threads "$threads" "$model_1b" "InternViT-300M-shaped random"
fi
