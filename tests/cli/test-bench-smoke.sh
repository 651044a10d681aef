#!/bin/sh
# Smoke run of `ivl bench` on a tiny model: it runs and reports every figure as JSON.
# (Speeds are measured, never asserted.)
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$IVL_MAKE_TINY_MODEL" "$dir/model" >/dev/null
"$IVL" bench -m "$dir/model" --backend cpu --json > "$dir/bench.json"
/usr/bin/python3 - "$dir/bench.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
keys = ["prefill_tokens_per_s", "decode_tokens_per_s", "ttft_ms", "vision_ms_per_tile",
        "peak_rss_mib", "machine_bandwidth_gb_per_s", "machine_peak_gflops",
        "decode_fraction_of_bandwidth", "vision_fraction_of_peak"]
missing = [k for k in keys if not isinstance(b.get(k), (int, float)) or b[k] <= 0]
if missing:
    sys.exit("ivl bench: missing or non-positive figures: %s" % missing)
print("ivl bench smoke run: 1 passed, 0 failed")
PY
