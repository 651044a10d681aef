# Sourced by tools/int-dot-accuracy.sh and tools/bf16-dot-accuracy.sh with $build and $program
# (their program in tests/) set: sets $ivl and $acc, checks both are built, and writes the tiny
# goldens' two language models (hidden 256, 2 layers, vocabulary 1024; Qwen2 and InternLM2) into
# $tmp/qwen2 and $tmp/internlm2, $tmp removed on exit.
ivl="$build/app/ivl"
acc="$build/tests/$program"
if [ ! -x "$ivl" ] || [ ! -x "$acc" ]; then
  echo "build first: meson compile -C $build app/ivl tests/$program" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tiny="--seed 1 --llm-hidden 256 --llm-layers 2 --llm-heads 4 --llm-kv-heads 2 --llm-ffn 512
      --vocab 1024"
# shellcheck disable=SC2086 # the option lists split on purpose
"$ivl" make-tiny-model $tiny "$tmp/qwen2" >/dev/null
# shellcheck disable=SC2086
"$ivl" make-tiny-model $tiny --llm-layout internlm2 "$tmp/internlm2" >/dev/null
