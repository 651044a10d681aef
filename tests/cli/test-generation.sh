#!/bin/sh
# Every chat() case end to end through the CLI on a tiny random model: text only, one image,
# several images combined and separate, video, batch, multi-turn chat; --json, --logits-out,
# sampling options, and the errors of a bad model directory or bad options.
# Needs $IVL (the built ivl) and $IVL_SOURCE_ROOT (meson sets both).
set -eu
root=${IVL_SOURCE_ROOT:?}
ivl=${IVL:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
img="$root/data/demo/red-panda.jpg"
video="$root/tests/data/engine/video_0.mov"
m="$tmp/model"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

IVL="$ivl" "$root/tests/make-tiny-model" "$m" --seed=11 >/dev/null
run() { "$ivl" run -m "$m" --max-new-tokens 3 "$@" 2>"$tmp/err"; }
# <IMG_CONTEXT> ids in a --json line (151667), counted one per line.
image_tokens() { tr ',[' '\n\n' | grep -c '^151667$' || true; }

echo "# text only, --json"
out=$(run --json "Hello, who are you?")
echo "$out" | grep -q '"prompt_ids" *: *\[151644,' || fail "prompt ids: $out"
echo "$out" | grep -q '"generated_ids"' || fail "generated ids: $out"
echo "$out" | grep -q '"prefill_ms"' || fail "timings: $out"
[ "$(echo "$out" | image_tokens)" -eq 0 ] || fail "image tokens in a text prompt"

echo "# one image: 256 image tokens per tile (1000x747 at max-num 6: 3x2 grid + thumbnail)"
n=$(run --json --image "$img" --max-num 6 "Describe the image." | image_tokens)
[ "$n" -eq 1792 ] || fail "one image: $n image tokens"

echo "# two images, combined and separate"
n=$(run --json --image "$img" --image "$img" --max-num 1 "Compare." | image_tokens)
[ "$n" -eq 512 ] || fail "combined: $n"
n=$(run --json --image "$img" --image "$img" --max-num 1 --separate "Compare." | image_tokens)
[ "$n" -eq 512 ] || fail "separate: $n"

echo "# video: one tile per frame"
n=$(run --json --video "$video" --segments 2 "What happens?" | image_tokens)
[ "$n" -eq 512 ] || fail "video: $n"

echo "# streaming, sampling options, --logits-out"
run --temperature 0.7 --top-k 5 --top-p 0.9 --seed 3 --repetition-penalty 1.1 \
  --logits-out "$tmp/logits.f32" "Hi" >/dev/null || fail "sampling: $(cat "$tmp/err")"
[ "$(wc -c <"$tmp/logits.f32")" -eq $((151674 * 4)) ] || fail "logits size"

echo "# --precision: the Linear weights quantized at load, said on stderr"
for p in int8 4bit; do
  run --json --precision "$p" --image "$img" --max-num 1 "Describe." >/dev/null ||
    fail "--precision $p: $(cat "$tmp/err")"
  grep -q "backend, $p weights" "$tmp/err" || fail "--precision $p not reported: $(cat "$tmp/err")"
done
run --precision fp8 "Hi" >/dev/null && fail "--precision fp8 accepted"
grep -q "unknown precision 'fp8'" "$tmp/err" || fail "bad precision: $(cat "$tmp/err")"

echo "# greedy is deterministic"
a=$(run --json "Same question")
b=$(run --json "Same question")
[ "$(echo "$a" | sed 's/"timings".*//')" = "$(echo "$b" | sed 's/"timings".*//')" ] ||
  fail "greedy runs differ"

echo "# batch"
printf '{"image": "%s", "question": "What is it?"}\n{"question": "Hi"}\n' "$img" >"$tmp/in.jsonl"
"$ivl" batch -m "$m" --jsonl "$tmp/in.jsonl" --max-new-tokens 2 --max-num 1 >"$tmp/out.jsonl" \
  2>"$tmp/err" || fail "batch: $(cat "$tmp/err")"
[ "$(grep -c '"answer"' "$tmp/out.jsonl")" -eq 2 ] || fail "batch output: $(cat "$tmp/out.jsonl")"

echo "# batch --parallel: answers in input order, the same at any parallelism, a bad line alone"
q_long="Tell me a long story about pandas and bamboo, please."
printf '%s\n' "{\"image\": \"$img\", \"question\": \"What is it?\"}" '{"question": "Hi"}' \
  'not json' "{\"question\": \"$q_long\"}" '' '{"image": "/nonexistent.jpg", "question": "x"}' \
  "{\"image\": \"$img\", \"question\": \"Describe it.\"}" >"$tmp/par.jsonl"
for p in 1 3 0; do
  "$ivl" batch -m "$m" --jsonl "$tmp/par.jsonl" --max-new-tokens 6 --max-num 1 --parallel $p \
    >"$tmp/par$p.jsonl" 2>"$tmp/err" && fail "batch --parallel $p: the bad lines not reported"
  [ "$(grep -c '"answer"' "$tmp/par$p.jsonl")" -eq 4 ] && [ "$(grep -c '"error"' \
    "$tmp/par$p.jsonl")" -eq 2 ] || fail "batch --parallel $p: $(cat "$tmp/par$p.jsonl")"
  grep -q 'par.jsonl:3: not valid JSON' "$tmp/err" || fail "bad line: $(cat "$tmp/err")"
done
cmp -s "$tmp/par1.jsonl" "$tmp/par3.jsonl" && cmp -s "$tmp/par1.jsonl" "$tmp/par0.jsonl" ||
  fail "batch --parallel answers differ: $(cat "$tmp/par1.jsonl" "$tmp/par3.jsonl")"
sed -n 4p "$tmp/par3.jsonl" | grep -q "\"question\":\"$q_long\"" || fail "input order"
# ... and each is what `ivl run` answers alone
alone=$("$ivl" run -m "$m" --max-new-tokens 6 --image "$img" --max-num 1 "Describe it." 2>/dev/null)
[ "$(sed -n 6p "$tmp/par3.jsonl")" = "$(printf '{"image":"%s","question":"Describe it.","answer":"%s"}' \
  "$img" "$(echo "$alone" | sed 's/^ *//')")" ] ||
  fail "batch --parallel 3 vs run: $(sed -n 6p "$tmp/par3.jsonl") vs $alone"
"$ivl" batch --server http://127.0.0.1:9 --jsonl "$tmp/par.jsonl" --parallel 2 >/dev/null \
  2>"$tmp/err" && fail "--server with --parallel 2 accepted"
grep -q 'parallel above 1 needs a local model' "$tmp/err" || fail "--server --parallel: $(cat "$tmp/err")"

echo "# chat: image, follow-up, reset, quit"
printf '/image %s\nWhat is it?\nAnd then?\n/reset\nHi\n/quit\n' "$img" |
  "$ivl" chat -m "$m" --max-new-tokens 2 --max-num 1 >"$tmp/chat.out" 2>"$tmp/err" ||
  fail "chat: $(cat "$tmp/err")"
grep -q 'conversation reset' "$tmp/err" || fail "chat /reset: $(cat "$tmp/err")"
echo "# chat: /image is encoded while the question is typed, so the ask spends no vision time"
printf '/image %s\nWhat is it?\n/image %s\n/reset\n/quit\n' "$img" "$img" |
  G_MESSAGES_DEBUG=all "$ivl" chat -m "$m" --max-new-tokens 2 --max-num 1 >"$tmp/chat.out" \
  2>&1 || fail "chat ahead: $(cat "$tmp/chat.out")"
grep -aq '1 of 1 tiles encoded ahead, 0 ms of vision in the ask' "$tmp/chat.out" ||
  fail "chat /image not encoded ahead: $(cat "$tmp/chat.out")"

echo "# a 9B-style model: InternLM2 layout, SentencePiece tokenizer (BOS <s>=1, <|im_start|>=3,"
echo "# <IMG_CONTEXT>=3002 beyond the 3000 pieces), run, batch and chat end to end"
m9="$tmp/model-9b"
IVL="$ivl" "$root/tests/make-tiny-model" "$m9" --llm-layout internlm2 --vocab 3009 \
  --seed=12 >/dev/null
"$ivl" info -m "$m9" >"$tmp/info9" 2>"$tmp/err" || fail "info 9B: $(cat "$tmp/err")"
grep -q 'internlm3-spm' "$tmp/info9" || fail "info 9B tokenizer: $(cat "$tmp/info9")"
out=$("$ivl" run -m "$m9" --max-new-tokens 3 --json --image "$img" --max-num 1 "Describe." \
  2>"$tmp/err") || fail "run 9B: $(cat "$tmp/err")"
echo "$out" | grep -q '"prompt_ids" *: *\[1,3,' || fail "9B prompt ids: $out"
n=$(echo "$out" | tr ',[' '\n\n' | grep -c '^3002$' || true)
[ "$n" -eq 256 ] || fail "9B image: $n image tokens"
"$ivl" run -m "$m9" --max-new-tokens 4 "Hi" >/dev/null 2>"$tmp/err" || fail "run 9B text"
"$ivl" batch -m "$m9" --jsonl "$tmp/in.jsonl" --max-new-tokens 2 --max-num 1 \
  >"$tmp/out9.jsonl" 2>"$tmp/err" || fail "batch 9B: $(cat "$tmp/err")"
[ "$(grep -c '"answer"' "$tmp/out9.jsonl")" -eq 2 ] || fail "batch 9B: $(cat "$tmp/out9.jsonl")"
printf '/image %s\nWhat is it?\nAnd then?\n/quit\n' "$img" |
  "$ivl" chat -m "$m9" --max-new-tokens 2 --max-num 1 >/dev/null 2>"$tmp/err" ||
  fail "chat 9B: $(cat "$tmp/err")"

echo "# the -hf twin of the first model (same weights renamed, tokenizer.json, its template):"
echo "# given chat()'s system message it sees the same ids and gives the same logits"
mh="$tmp/model-hf"
IVL="$ivl" "$root/tests/make-tiny-model" "$mh" --seed=11 --layout hf >/dev/null
"$ivl" info -m "$mh" >"$tmp/infohf" 2>"$tmp/err" || fail "info hf: $(cat "$tmp/err")"
grep -q 'InternVLForConditionalGeneration' "$tmp/infohf" || fail "info hf layout: $(cat "$tmp/infohf")"
sys=$("$ivl" prompt -m "$m" "x" | sed -n 2p | sed 's/<|im_end|>$//')
for args in "Hi" "--image $img --max-num 2 Describe."; do
  # shellcheck disable=SC2086
  run --logits-out "$tmp/orig.f32" $args >/dev/null || fail "original: $(cat "$tmp/err")"
  # shellcheck disable=SC2086
  "$ivl" run -m "$mh" --max-new-tokens 3 --system "$sys" --logits-out "$tmp/hf.f32" $args \
    >/dev/null 2>"$tmp/err" || fail "hf run: $(cat "$tmp/err")"
  cmp -s "$tmp/orig.f32" "$tmp/hf.f32" || fail "hf logits differ for: $args"
done
out=$("$ivl" run -m "$mh" --max-new-tokens 3 --json "Hi" 2>"$tmp/err") || fail "hf: $(cat "$tmp/err")"
echo "$out" | grep -q '"prompt_ids" *: *\[151644,872,' || fail "hf prompt has a system turn: $out"
printf 'What is it?\n/quit\n' | "$ivl" chat -m "$mh" --max-new-tokens 2 >/dev/null 2>"$tmp/err" ||
  fail "chat hf: $(cat "$tmp/err")"

echo "# the 9B-hf twin: InternLM2 weights in Llama names, the SentencePiece model as"
echo "# LlamaConverter's tokenizer.json (no tokenizer.model): same ids, logits and answer"
m9h="$tmp/model-9b-hf"
IVL="$ivl" "$root/tests/make-tiny-model" "$m9h" --llm-layout internlm2 --vocab 3009 \
  --seed=12 --layout hf >/dev/null
{ [ -f "$m9h/tokenizer.json" ] && [ ! -e "$m9h/tokenizer.model" ]; } || fail "9B-hf tokenizer files"
# The same vocabulary and merges as the Python conversion of the same SentencePiece model.
/usr/bin/python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["model"] !=
  json.load(open(sys.argv[2]))["model"])' "$m9h/tokenizer.json" \
  "$root/tests/data/tokenizer/internlm3-tiny-hf/tokenizer.json" ||
  fail "9B-hf tokenizer.json differs from make_llama_tokenizer_json.py's"
"$ivl" info -m "$m9h" >"$tmp/info9h" 2>"$tmp/err" || fail "info 9B-hf: $(cat "$tmp/err")"
grep -q 'llama-bpe' "$tmp/info9h" || fail "info 9B-hf tokenizer: $(cat "$tmp/info9h")"
sys9=$("$ivl" prompt -m "$m9" "x" | sed -n 2p | sed 's/<|im_end|>$//')
for args in "Hi" "--image $img --max-num 2 Describe."; do
  # shellcheck disable=SC2086
  "$ivl" run -m "$m9" --max-new-tokens 3 --json --logits-out "$tmp/orig9.f32" $args \
    >"$tmp/orig9.json" 2>"$tmp/err" || fail "9B: $(cat "$tmp/err")"
  # shellcheck disable=SC2086
  "$ivl" run -m "$m9h" --max-new-tokens 3 --json --system "$sys9" \
    --logits-out "$tmp/hf9.f32" $args >"$tmp/hf9.json" 2>"$tmp/err" || fail "9B-hf: $(cat "$tmp/err")"
  cmp -s "$tmp/orig9.f32" "$tmp/hf9.f32" || fail "9B-hf logits differ for: $args"
  grep -o '"prompt_ids" *: *\[[0-9,]*\]' "$tmp/orig9.json" >"$tmp/ids9"
  grep -o '"prompt_ids" *: *\[[0-9,]*\]' "$tmp/hf9.json" | cmp -s - "$tmp/ids9" ||
    fail "9B-hf prompt ids differ for: $args"
  grep -o '"text" *: *"[^"]*"' "$tmp/orig9.json" >"$tmp/ans9"
  grep -o '"text" *: *"[^"]*"' "$tmp/hf9.json" | cmp -s - "$tmp/ans9" ||
    fail "9B-hf text differs for: $args"
done
printf 'What is it?\n/quit\n' | "$ivl" chat -m "$m9h" --max-new-tokens 2 >/dev/null 2>"$tmp/err" ||
  fail "chat 9B-hf: $(cat "$tmp/err")"

echo "# errors"
if "$ivl" run -m "$tmp/nothing" "Hi" 2>"$tmp/err"; then fail "missing model accepted"; fi
grep -q 'ivl run:' "$tmp/err" || fail "missing model message: $(cat "$tmp/err")"
if run --image "$tmp/none.jpg" "Hi"; then fail "missing image accepted"; fi
if run --top-p 2 "Hi"; then fail "top-p 2 accepted"; fi
set +e
"$ivl" run -m "$m" >/dev/null 2>&1
[ $? -eq 2 ] || fail "no question: expected usage status 2"
echo "ok"
