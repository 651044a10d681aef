#!/usr/bin/env python3
"""Writes report.json and report.md of tests/gpu/run.sh from its steps and logs (stdlib only)."""
import argparse
import json
import os


def last_json(path):
    """The last line of a log that parses as a JSON object, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def read_steps(path):
    steps = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, status, seconds, detail = (line.rstrip("\n").split("\t") + ["", "", ""])[:4]
            steps.append({"step": name, "status": status, "seconds": int(seconds or 0),
                          "detail": detail})
    return steps


def fmt(v, unit=""):
    if v is None:
        return "-"
    return f"{v:,.1f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def bench_rows(name, b, peak):
    if not b:
        return [f"| {name} | (no result) | | | | | | |"]
    bw = peak.get("copy_gb_per_s") if peak else None
    # decode_gb_per_s is the bench's own: the weight bytes it streams per token as the backend
    # holds them (quantized for int8/4bit), plus the KV cache, times tokens per second.
    dec = b.get("decode_gb_per_s")
    frac = f"{dec / bw:.0%}" if bw and dec else "-"
    wbytes = b.get("decode_weight_bytes")
    wgb = f"{wbytes / 1e9:.2f}" if isinstance(wbytes, (int, float)) else "-"
    return [f"| {name} | {b.get('precision', 'bf16')} | {wgb} | "
            f"{fmt(b.get('decode_tokens_per_s'))} | {fmt(dec)} ({frac} of copy) | "
            f"{fmt(b.get('prefill_tokens_per_s'))} | {fmt(b.get('vision_ms_per_tile'))} | "
            f"{fmt(b.get('ttft_ms'))} |"]


def projection_rows(path, bench, layers_8b, report):
    """Measured times beside the emulation's projection for the same depth (tests/gpu/
    projection.py), as measured / projected: 1 would be the datasheet roofline itself."""
    try:
        with open(path, encoding="utf-8") as f:
            proj = json.load(f)
    except (OSError, TypeError, ValueError):
        return ["", "(no projection to compare with)"]
    md = ["", f"## Measured / projected (tests/gpu/projection.json, commit {proj.get('commit')}, "
          f"projected at a {proj.get('prompt_tokens')}-token context)", "",
          "| model | decode ms/token | prefill ms/token | vision ms/tile |",
          "| --- | ---: | ---: | ---: |"]
    report["measured_over_projected"] = {}
    for name, key, layers in (("1b", "1b", 24), ("8b", "8b", layers_8b)):
        b, p = bench.get(key), proj.get("models", {}).get(name)
        if not b or not p:
            continue
        at = {ph: v["fixed"] + layers * v["per_layer"] for ph, v in p["ms_by_layers"].items()}
        vision = p.get("vision_per_tile") or proj["models"].get("1b", {}).get("vision_per_tile")
        at["vision_per_tile"] = vision["ms"] if vision else 0
        measured = {"decode_per_token": 1e3 / b["decode_tokens_per_s"]
                    if b.get("decode_tokens_per_s") else None,
                    "prefill_per_token": 1e3 / b["prefill_tokens_per_s"]
                    if b.get("prefill_tokens_per_s") else None,
                    "vision_per_tile": b.get("vision_ms_per_tile")}
        cells, ratios = [], {}
        for ph in ("decode_per_token", "prefill_per_token", "vision_per_tile"):
            m = measured[ph]
            r = m / at[ph] if m and at[ph] > 0 else None
            ratios[ph] = r
            cells.append(f"{m:.3f} / {at[ph]:.3f} ({r:.2f}x)" if r else "-")
        report["measured_over_projected"][f"{name}_{layers}_layers"] = ratios
        md.append(f"| {name}-shaped, {layers} layers | " + " | ".join(cells) + " |")
    return md


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", required=True)
    ap.add_argument("--logs", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--gpu", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--layers-8b", type=int, required=True)
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--projection", help="tests/gpu/projection.json: the emulation's roofline")
    a = ap.parse_args()

    steps = read_steps(a.steps)
    peak = last_json(os.path.join(a.logs, "gpu-peak.log"))
    bench = {"1b": last_json(os.path.join(a.logs, "bench-1b.log")),
             "1b_no_graph": last_json(os.path.join(a.logs, "bench-1b-no-graph.log")),
             "8b": last_json(os.path.join(a.logs, "bench-8b.log")),
             "8b_int8": last_json(os.path.join(a.logs, "bench-8b-int8.log")),
             "8b_4bit": last_json(os.path.join(a.logs, "bench-8b-4bit.log"))}
    report = {
        "gpu": a.gpu.strip(),
        "build": a.mode,
        "seconds": a.seconds,
        "passed": bool(steps) and all(s["status"] in ("pass", "skip") for s in steps) and a.mode != "none",
        "steps": steps,
        "gpu_peak": peak,
        "bench": {"1b_shaped": bench["1b"],
                  "1b_shaped_no_cuda_graph": bench["1b_no_graph"],
                  f"8b_shaped_{a.layers_8b}_layers": bench["8b"],
                  f"8b_shaped_{a.layers_8b}_layers_int8": bench["8b_int8"],
                  f"8b_shaped_{a.layers_8b}_layers_4bit": bench["8b_4bit"]},
    }
    proj_md = projection_rows(a.projection, bench, a.layers_8b, report)
    with open(os.path.join(a.dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")

    md = [f"# ivl GPU check: {'PASSED' if report['passed'] else 'FAILED'}", "",
          f"GPU: {report['gpu']}; build: {a.mode}; {a.seconds} s in all.", "",
          "| step | status | s | detail |", "| --- | --- | ---: | --- |"]
    md += [f"| {s['step']} | {s['status']} | {s['seconds']} | {s['detail'].replace('|', '/')} |"
           for s in steps]
    md += ["", "## Ceilings measured in this run", ""]
    if peak:
        md += ["| copy GB/s (read+write) | decode GEMV GB/s | bf16 GEMM TFLOP/s | "
               "vision attention (13x1025, 16x64) |", "| ---: | ---: | ---: | ---: |",
               f"| {fmt(peak.get('copy_gb_per_s'))} | {fmt(peak.get('gemv_gb_per_s'))} "
               f"({peak.get('gemv_fraction_of_copy', 0):.0%}) | "
               f"{fmt(peak.get('gemm_bf16_tflops'))} | {fmt(peak.get('vision_attention_ms'))} ms, "
               f"{fmt(peak.get('vision_attention_tflops'))} TFLOP/s |"]
    else:
        md += ["(gpu-peak gave no result)"]
    md += ["", "## ivl bench --backend cuda (random weights)", "",
           "| model | weights | decode weight GB/token | decode tok/s | decode GB/s | "
           "prefill tok/s | vision ms/tile | first token ms |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    md += bench_rows("1B-shaped (all 24 layers)", bench["1b"], peak)
    md += bench_rows("1B-shaped, IVL_CUDA_GRAPHS=0", bench["1b_no_graph"], peak)
    md += bench_rows(f"8B-shaped ({a.layers_8b} of 28 layers)", bench["8b"], peak)
    md += bench_rows(f"8B-shaped ({a.layers_8b} of 28 layers), int8", bench["8b_int8"], peak)
    md += bench_rows(f"8B-shaped ({a.layers_8b} of 28 layers), 4-bit", bench["8b_4bit"], peak)
    md += proj_md
    with open(os.path.join(a.dir, "report.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
