#!/usr/bin/env python3
"""The roofline projection of InternVL3-1B and -8B on an H100 SXM, from the CUDA emulation.

Usage: projection.py IVL_EMU_BINARY OUT.json [1b|8b ...]

`ivl bench --backend cuda` under the emulation (-Demulate_cuda=true) prices every launch it
makes (app/bench-projection.c). Emulating all 24 or 28 layers would take hours, so each model
is written twice by `ivl make-tiny-model` with the real widths, vocabulary and vision tower:
with one language and one vision layer (A) and with two of each (B). Every figure (per phase
and per kernel) is then the real model's as F(L) = F(A) + (L - 1) * (F(B) - F(A)), with L the
real number of language layers (vision: of vision layers): exact for what every layer repeats,
and for what runs once (embedding, lm_head, projector, copies). The 8B's B keeps one vision
layer (the tower is the 1B's InternViT-300M, whose emulation is the slowest part): its vision
figures are left out, the 1B's stand for them but for the wider projector. The decode context
is the prompt's ($IVL_PROJECTION_PROMPT, default 64), 1 tile for vision. Writes OUT.json and
prints a table (stdlib only).
"""
import json
import os
import subprocess
import sys
import tempfile

SHAPES = {
    # name: (language layers, make-tiny-model widths, vision extrapolated)
    "1b": (24, ["--llm-hidden", "896", "--llm-heads", "14", "--llm-kv-heads", "2",
                "--llm-ffn", "4864"], True),
    "8b": (28, ["--llm-hidden", "3584", "--llm-heads", "28", "--llm-kv-heads", "4",
                "--llm-ffn", "18944"], False),
}
VISION = ["--vision-hidden", "1024", "--vision-heads", "16", "--vision-ffn", "4096"]
VISION_LAYERS = 24
PROMPT, DECODE = int(os.environ.get("IVL_PROJECTION_PROMPT", "64")), 2
PHASES = {"vision_per_tile": "vision", "ttft_language": "llm", "prefill_per_token": "llm",
          "decode_per_token": "llm"}


def bench(ivl, root, tmp, name, layers, vision_layers, widths):
    """`ivl bench` on the model, written first unless $IVL_PROJECTION_MODELS keeps it from an
    earlier run (to compare two builds on the same weights)."""
    model = os.path.join(os.environ.get("IVL_PROJECTION_MODELS", tmp),
                         f"{name}-{layers}-{vision_layers}")
    if not os.path.isdir(model):
        subprocess.run([ivl, "make-tiny-model", model + ".part", "--tokenizer",
                        os.path.join(root, "tests/data/tokenizer/qwen2.5"), "--vision-layers",
                        str(vision_layers), "--llm-layers", str(layers)] + VISION + widths,
                       check=True, stdout=subprocess.DEVNULL)
        os.rename(model + ".part", model)
    out = subprocess.run([ivl, "bench", "-m", model, "--backend", "cuda", "--json", "--tiles", "1",
                          "--prompt-tokens", str(PROMPT), "--decode-tokens", str(DECODE)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def scale(a, b, n):
    return a + (n - 1) * (b - a)


def extrapolate(a, b, layers, vision):
    """The projection of the real model from the 1-layer (a) and 2-layer (b) benches."""
    pa, pb = a["projection"], b["projection"]
    out = {"weight_bytes": scale(a["decode_weight_bytes"], b["decode_weight_bytes"], layers)}
    for phase, tower in PHASES.items():
        if tower == "vision" and not vision:
            continue
        n = VISION_LAYERS if tower == "vision" else layers
        fa, fb = pa[phase], pb[phase]
        ka = {k["name"]: k for k in fa["kernels"]}
        kb = {k["name"]: k for k in fb["kernels"]}
        zero = {"launches": 0, "bytes": 0, "flops": 0, "ms": 0}
        kernels = []
        for name in sorted(set(ka) | set(kb)):
            x, y = ka.get(name, zero), kb.get(name, zero)
            kernels.append({"name": name, **{f: scale(x[f], y[f], n)
                                             for f in ("launches", "bytes", "flops", "ms")}})
        kernels.sort(key=lambda k: -k["ms"])
        out[phase] = {f: scale(fa[f], fb[f], n) for f in ("ms", "launches", "bytes", "flops")}
        out[phase]["kernels"] = kernels
    # F(L) = fixed + L * per_layer, for tests/gpu/report.py's models of other depths.
    out["ms_by_layers"] = {phase: {"fixed": 2 * pa[phase]["ms"] - pb[phase]["ms"],
                                   "per_layer": pb[phase]["ms"] - pa[phase]["ms"]}
                           for phase in PHASES if phase in out}
    d = out["decode_per_token"]
    out["decode_fraction_of_bandwidth"] = out["weight_bytes"] / (pa["hbm_gb_per_s"] * 1e9) / (
        d["ms"] / 1e3)
    out["decode_launches_per_layer"] = (pb["decode_per_token"]["launches"] -
                                        pa["decode_per_token"]["launches"])
    out["roofline"] = {k: pa[k] for k in ("device", "hbm_gb_per_s", "tensor_tflops",
                                          "cuda_core_tflops", "host_link_gb_per_s", "launch_us")}
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    ivl, path = sys.argv[1], sys.argv[2]
    shapes = sys.argv[3:] or list(SHAPES)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    result = {"commit": commit, "prompt_tokens": PROMPT, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in shapes:
            layers, widths, vision = SHAPES[name]
            a = bench(ivl, root, tmp, name, 1, 1, widths)
            b = bench(ivl, root, tmp, name, 2, 2 if vision else 1, widths)
            result["models"][name] = extrapolate(a, b, layers, vision)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    for name, p in result["models"].items():
        d, f = p["decode_per_token"], p["prefill_per_token"]
        v = p.get("vision_per_tile")
        vision = f"; vision {v['ms']:.2f} ms/tile ({v['launches']:.0f} launches)" if v else ""
        print(f"{name}: decode {d['ms']:.3f} ms/token at context {PROMPT} "
              f"({p['decode_fraction_of_bandwidth']:.0%} of the bandwidth ceiling), "
              f"{d['launches']:.0f} launches ({p['decode_launches_per_layer']:.0f} per layer); "
              f"prefill {f['ms']:.4f} ms/token{vision}")
        for k in d["kernels"][:8]:
            print(f"    {k['ms']:8.4f} ms {k['launches']:6.1f}x  {k['name']}")


if __name__ == "__main__":
    main()
