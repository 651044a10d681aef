#!/bin/sh
# Smoke run of `ivl bench` on a tiny model: it runs and reports every figure as JSON,
# --compare divides each figure by a saved run's, --parallel reports each stream count, and the
# vision and prefill fractions are of the peak the weights' products use (compute_peak).
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
"$IVL" bench -m "$dir/model" --backend cpu $small --parallel 1,2,4 --json > "$dir/parallel.json"
"$IVL" bench -m "$dir/model" --backend cpu $small --precision int8 --json > "$dir/int8.json"
if "$IVL" bench -m "$dir/model" --parallel 1,0 2> "$dir/err-parallel.txt"; then
    echo "ivl bench --parallel accepted 0 streams" >&2; exit 1
fi
grep -q "stream counts between 1 and" "$dir/err-parallel.txt"
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
p = json.load(open(d + "/parallel.json")).get("parallel")
if [r.get("streams") for r in p or []] != [1, 2, 4]:
    sys.exit("ivl bench --parallel 1,2,4: runs %r" % p)
for r in p:
    for k in ["decode_tokens_per_s", "per_stream_tokens_per_s", "decode_gb_per_s",
              "decode_fraction_of_bandwidth"]:
        if not isinstance(r.get(k), (int, float)) or r[k] <= 0:
            sys.exit("ivl bench --parallel: %s of %d streams is %r" % (k, r["streams"], r.get(k)))
    if abs(r["decode_tokens_per_s"] - r["streams"] * r["per_stream_tokens_per_s"]) > \
            0.01 * r["decode_tokens_per_s"] + 0.02:
        sys.exit("ivl bench --parallel: the aggregate is not streams x per stream: %r" % r)
# The vision and prefill fractions are of the peak compute_peak names: the bf16 or int8 dot
# products' where the weights' products take them (measured > 0 then), else the FMA peak.
peaks = {"f32_fma": "machine_peak_gflops", "bf16_dot": "machine_bf16_dot_peak_gflops",
         "int8_dot": "machine_int8_dot_peak_gops"}
for name, want in (("bench.json", ("bf16_dot", "f32_fma")), ("int8.json", ("int8_dot", "f32_fma"))):
    r = json.load(open(d + "/" + name))
    cp = r.get("compute_peak")
    if cp not in want:
        sys.exit("ivl bench %s: compute_peak %r, expected one of %s" % (name, cp, want))
    if cp == "f32_fma" and r[peaks[want[0]]] > 0:
        sys.exit("ivl bench %s: %s measured but the fractions are of the FMA peak" % (name, want[0]))
    frac = r["vision_gflops"] / r[peaks[cp]]
    if abs(r["vision_fraction_of_peak"] - frac) > 0.002 + 0.01 * frac:
        sys.exit("ivl bench %s: vision fraction %r is not of the %s peak (%r)" %
                 (name, r["vision_fraction_of_peak"], cp, frac))
print("ivl bench smoke run: 4 passed, 0 failed")
PY
