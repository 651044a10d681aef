#!/bin/sh
# `ivl bench --backend cuda` under the CUDA emulation prints a roofline projection: every
# phase has a positive time, the kernels are ranked by it and add up to it, and each launch
# costs at least the fixed launch cost. (The figures themselves are not asserted.)
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# Head dims of 64, as the CUDA attention has.
"$IVL_MAKE_TINY_MODEL" "$dir/model" --vision-heads 1 --llm-hidden 128 --llm-heads 2 \
    --llm-kv-heads 1 --llm-ffn 256 >/dev/null
"$IVL" bench -m "$dir/model" --backend cuda --prompt-tokens 8 --decode-tokens 2 --tiles 1 \
    --json > "$dir/bench.json"
"$IVL" bench -m "$dir/model" --backend cuda --prompt-tokens 8 --decode-tokens 2 --tiles 1 \
    > "$dir/bench.txt"
/usr/bin/python3 - "$dir/bench.json" "$dir/bench.txt" <<'PY'
import json, sys
p = json.load(open(sys.argv[1])).get("projection")
if not isinstance(p, dict):
    sys.exit("ivl bench: no projection under the CUDA emulation")
launch_ms = p["launch_us"] / 1e3
for phase in ["vision_per_tile", "ttft_language", "prefill_per_token", "decode_per_token"]:
    f = p[phase]
    ks = f["kernels"]
    if f["ms"] <= 0 or f["launches"] <= 0 or f["bytes"] <= 0 or not ks:
        sys.exit("%s: empty projection %s" % (phase, f))
    if [k["ms"] for k in ks] != sorted((k["ms"] for k in ks), reverse=True):
        sys.exit("%s: kernels not ranked by projected time" % phase)
    if abs(sum(k["ms"] for k in ks) - f["ms"]) > 1e-5 + 1e-3 * f["ms"]:
        sys.exit("%s: kernels do not add up to the phase" % phase)
    for k in ks:
        if k["ms"] < k["launches"] * launch_ms * 0.999:
            sys.exit("%s: %s costs less than its launches" % (phase, k["name"]))
if not any(k["name"].startswith("cublasGemmEx") and k["flops"] > 0
           for k in p["vision_per_tile"]["kernels"]):
    sys.exit("vision: no cuBLAS GEMM with its FLOPs")
if not 0 < p["decode_fraction_of_bandwidth"] <= 1:
    sys.exit("decode fraction of the bandwidth ceiling %r" % p["decode_fraction_of_bandwidth"])
if "ms per token" not in open(sys.argv[2]).read():
    sys.exit("ivl bench: no projection in the text output")
print("ivl bench projection: 1 passed, 0 failed")
PY
