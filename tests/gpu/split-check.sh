#!/bin/bash
# tests/gpu/split-check.sh IVL MODEL GPUS [RUN...] — a model split over several devices
# against one device: `ivl run --json --logits-out` on GPU 0 alone, then with --gpus GPUS
# under split_model's placement and under --split auto; the generated ids must be equal and
# the prompt's logits within a normalised MSE of 1e-6 (the same kernels run on each device, so
# they are expected bit for bit equal). GPUS may name one device twice ("0,0": two backend
# instances on one GPU, each with its own memory and stream) so that the copy path between
# devices runs on a machine with a single GPU. RUN prefixes the commands (env for a bundle).
set -u -o pipefail
IVL=$1 MODEL=$2 GPUS=$3
shift 3
RUN=("$@")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

generate() { # NAME IVL-OPTIONS...
  local name=$1
  shift
  "${RUN[@]}" "$IVL" run -m "$MODEL" --backend cuda --context 1024 --max-new-tokens 24 --json \
    --logits-out "$TMP/$name.f32" "$@" "Describe the picture of a cat on a mat." \
    >"$TMP/$name.json" 2>"$TMP/$name.err" || { echo "$name: ivl run failed:"; cat "$TMP/$name.err"; return 1; }
  grep -h "^ivl: " "$TMP/$name.err"
}

generate single --gpus 0 || exit 1
for split in layers auto; do
  generate "$split" --gpus "$GPUS" --split "$split" || exit 1
done
status=0
for split in layers auto; do
  python3 - "$TMP/single" "$TMP/$split" "$GPUS" "$split" <<'PY' || status=1
import json, struct, sys
ref, got, gpus, split = sys.argv[1:]
def load(p):
    ids = json.load(open(p + ".json"))["generated_ids"]
    raw = open(p + ".f32", "rb").read()
    return ids, struct.unpack("%df" % (len(raw) // 4), raw)
ref_ids, ref_l = load(ref)
got_ids, got_l = load(got)
err = sum((a - b) ** 2 for a, b in zip(ref_l, got_l))
norm = sum(a * a for a in ref_l) or 1.0
ok = ref_ids == got_ids and len(ref_l) == len(got_l) and err / norm <= 1e-6
print("%s split over GPUs %s (%s): %d generated ids %s, prompt logits nmse %.2e"
      % ("ok" if ok else "FAIL", gpus, split, len(got_ids),
         "equal" if ref_ids == got_ids else "DIFFER", err / norm))
sys.exit(0 if ok else 1)
PY
done
exit $status
