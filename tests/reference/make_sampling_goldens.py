#!/usr/bin/python3
"""Writes tests/data/sampling-goldens.json: what the InternVL quick start's Python computes for
the tile grid (dynamic_preprocess's candidate order and choice) and for video frame sampling
(load_video's get_index), run in this interpreter with numpy.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/make_sampling_goldens.py
The candidate order depends on CPython's set iteration (tuple hashes, table growth), which
is what the C code reproduces; the interpreter's version is recorded.
"""
import json
import os
import platform

import numpy as np

# The quick start's own tie-break, shared with the image goldens.
from make_media_goldens import find_closest_aspect_ratio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def candidates(min_num, max_num):
    # dynamic_preprocess's target_ratios, verbatim.
    target_ratios = set(
        (i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1) if
        i * j <= max_num and i * j >= min_num)
    return sorted(target_ratios, key=lambda x: x[0] * x[1])




def get_index(bound, fps, max_frame, first_idx=0, num_segments=32):
    # load_video's get_index, verbatim.
    if bound:
        start, end = bound[0], bound[1]
    else:
        start, end = -100000, 100000
    start_idx = max(first_idx, round(start * fps))
    end_idx = min(round(end * fps), max_frame)
    seg_size = float(end_idx - start_idx) / num_segments
    frame_indices = np.array([
        int(start_idx + (seg_size / 2) + np.round(seg_size * idx))
        for idx in range(num_segments)
    ])
    return frame_indices


def main():
    pairs = [(1, 1), (1, 6), (1, 12), (1, 24), (1, 40), (2, 12), (3, 9), (4, 4), (5, 30), (1, 64)]
    out = {
        "generator": "tests/reference/make_sampling_goldens.py",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "candidates": [{"min": a, "max": b, "grids": [list(g) for g in candidates(a, b)]}
                       for a, b in pairs],
        "grids": [],
        "indices": [],
    }
    # Exact aspect ties (2:1 = 4:2, 1:1 = 2:2 = 3:3, 3:2 = 6:4) on both sides of the area
    # rule, extreme strips, and the spec's examples.
    sizes = [(448, 448), (1000, 1000), (800, 600), (1920, 1080), (600, 400), (500, 2000),
             (3000, 1000), (896, 448), (897, 448), (1792, 896), (1793, 896), (1344, 1344),
             (1345, 1344), (672, 448), (1344, 896), (2688, 1792), (1, 1), (1, 2000), (2000, 1),
             (449, 448), (13, 997), (997, 13), (1000, 747), (889, 500), (4000, 3000)]
    for w, h in sizes:
        for lo, hi in [(1, 12), (1, 6), (1, 1), (2, 12), (1, 40)]:
            g = find_closest_aspect_ratio(w / h, candidates(lo, hi), w, h, 448)
            out["grids"].append({"size": [w, h], "min": lo, "max": hi, "grid": list(g)})
    # red-panda.mp4 as decord reports it (SOURCES.md) and small clips.
    videos = [(895000 / 29833, 895), (30.0, 3), (32.0, 4), (10.0, 49), (25.0, 40), (12.0, 30)]
    bounds = [None, (0.0, 1.0), (3.3, 17.5), (10.0, 12.0), (29.0, 40.0), (0.5, 0.5)]
    for fps, count in videos:
        for bound in bounds:
            for segments in (1, 8, 32):
                idx = get_index(bound, fps, count - 1, first_idx=0, num_segments=segments)
                # The clip lies past the end: decord would fail on these indices (ivl refuses).
                if min(idx) < 0 or max(idx) > count - 1:
                    continue
                out["indices"].append({"fps": fps, "frame_count": count,
                                       "bound": list(bound) if bound else None,
                                       "segments": segments, "indices": idx.tolist()})
    with open(os.path.join(ROOT, "data", "sampling-goldens.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
