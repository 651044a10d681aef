#!/bin/sh
# Batched generation on a model split over two emulated GPUs (issues 15 and 17): `ivl batch
# --parallel 3` over --gpus 0,1 answers exactly as over one GPU and as one line at a time.
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Head dims of 64, as the CUDA attention has; five layers, so the split has two units.
"$IVL_MAKE_TINY_MODEL" "$dir/model" --seed 7 --llm-hidden 128 --llm-heads 2 --llm-kv-heads 1 \
    --llm-layers 5 >/dev/null
printf '%s\n' '{"question": "hello there"}' '{"question": "what is two plus two"}' \
    '{"question": "tell me a story"}' > "$dir/q.jsonl"
run() {
  IVL_EMU_DEVICES=2 "$IVL" batch -m "$dir/model" --backend cuda --max-new-tokens 8 \
      --jsonl "$dir/q.jsonl" "$@" 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
}
run --gpus 0 --parallel 1 > "$dir/alone"
run --gpus 0 --parallel 3 > "$dir/one-gpu"
run --gpus 0,1 --parallel 3 > "$dir/split"
grep -q "over 2 GPUs" "$dir/err" || { echo "the split run did not use 2 GPUs" >&2; exit 1; }
[ "$(wc -l < "$dir/alone")" -eq 3 ] || { echo "not three answers" >&2; exit 1; }
cmp "$dir/alone" "$dir/one-gpu" || { echo "batch on one GPU differs from one at a time" >&2; exit 1; }
cmp "$dir/alone" "$dir/split" || { echo "batch over 2 GPUs differs from one GPU" >&2; exit 1; }
echo "batch over a split model: 1 passed"
