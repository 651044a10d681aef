#!/bin/sh
# Smoke run of `ivl bench` on a tiny model: it runs and reports every figure as JSON, and
# --compare divides each figure by a saved run's.
# (Speeds are measured, never asserted.)
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$IVL_MAKE_TINY_MODEL" "$dir/model" >/dev/null
"$IVL" bench -m "$dir/model" --backend cpu --json > "$dir/bench.json"
/usr/bin/python3 - "$dir/bench.json" "$dir/saved.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
keys = ["prefill_tokens_per_s", "decode_tokens_per_s", "ttft_ms", "vision_ms_per_tile",
        "peak_rss_mib", "machine_bandwidth_gb_per_s", "machine_peak_gflops",
        "decode_fraction_of_bandwidth", "vision_fraction_of_peak"]
missing = [k for k in keys if not isinstance(b.get(k), (int, float)) or b[k] <= 0]
if missing:
    sys.exit("ivl bench: missing or non-positive figures: %s" % missing)
# The saved run of the --compare checks: this one, less one figure, whose ratio is unknown.
del b["load_s"]
json.dump(b, open(sys.argv[2], "w"))
PY
small="--prompt-tokens 16 --decode-tokens 4 --tiles 1"
"$IVL" bench -m "$dir/model" --backend cpu $small --json --compare "$dir/saved.json" \
    > "$dir/compare.json"
"$IVL" bench -m "$dir/model" --backend cpu $small --compare "$dir/saved.json" > "$dir/compare.txt"
printf '[1, 2]' > "$dir/array.json"
if "$IVL" bench -m "$dir/model" --compare "$dir/array.json" 2> "$dir/err.txt"; then
    echo "ivl bench --compare accepted a JSON array" >&2; exit 1
fi
if "$IVL" bench -m "$dir/model" --compare "$dir/absent.json" 2>> "$dir/err.txt"; then
    echo "ivl bench --compare accepted a missing file" >&2; exit 1
fi
/usr/bin/python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/compare.json"))
saved = json.load(open(d + "/saved.json"))
ratios = c.get("compare")
if not isinstance(ratios, dict) or c.get("compare_file") != d + "/saved.json":
    sys.exit("ivl bench --compare --json: no compare object naming the saved file: %s" % c)
if ratios.get("load_s", 0) is not None:
    sys.exit("ivl bench --compare: a figure absent from the saved run must be null")
for k, r in ratios.items():
    if k == "load_s":
        continue
    if not isinstance(r, (int, float)) or r <= 0:
        sys.exit("ivl bench --compare: ratio of %s is %r" % (k, r))
    if c[k] < 1 or saved[k] < 1:
        continue  # printed with 2 or 3 decimals: too coarse to check the ratio against
    want = c[k] / saved[k]
    if abs(r - want) > 0.02 * want:
        sys.exit("ivl bench --compare: ratio of %s is %r, the figures give %r" % (k, r, want))
for k in ["prefill_tokens_per_s", "decode_tokens_per_s", "ttft_ms", "vision_ms_per_tile"]:
    if k not in ratios:
        sys.exit("ivl bench --compare: no ratio for %s" % k)
text = open(d + "/compare.txt").read()
if "saved.json" not in text or "decode (tokens/s)" not in text:
    sys.exit("ivl bench --compare: the text output lists no ratios:\n" + text)
err = open(d + "/err.txt").read()
if "not the JSON object" not in err or "absent.json" not in err:
    sys.exit("ivl bench --compare: unclear errors for bad files:\n" + err)
print("ivl bench smoke run: 2 passed, 0 failed")
PY
