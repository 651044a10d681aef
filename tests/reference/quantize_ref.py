"""Weight-only quantization as engine/quantize.h defines it, in numpy, for the goldens.

Written from the layout description, not from the C code: the engine's quantized model must
give the same outputs as the reference run on these dequantized weights.
  int8: per row, s = max|w| / 127 (f32), q = round(w / s) in [-127, 127];
  4bit: per group of 32 in a row, s = f16(max|w| / 7), q = round(w / s) in [-8, 7];
rounding half away from zero, the division in f32, s = 0 giving q = 0.
"""
import numpy as np
import torch

GROUP = 32


def _round_away(x):
    # exact for f32 inputs: widened to f64, +0.5 cannot round
    x = x.astype(np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _quant(w, s, lo, hi):
    with np.errstate(divide="ignore", invalid="ignore"):
        q = _round_away((w / s).astype(np.float32))
    q = np.where(s == 0, 0.0, q)
    return np.clip(q, lo, hi)


def int8(w):
    w = w.astype(np.float32)
    s = (np.abs(w).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    return (_quant(w, s, -127, 127).astype(np.float32) * s).astype(np.float32)


def q4(w):
    rows, cols = w.shape
    g = w.astype(np.float32).reshape(rows, cols // GROUP, GROUP)
    s = (np.abs(g).max(axis=2, keepdims=True) / np.float32(7)).astype(np.float32)
    s = s.astype(np.float16).astype(np.float32)
    return (_quant(g, s, -8, 7).astype(np.float32) * s).reshape(rows, cols).astype(np.float32)


def is_linear(name, tensor):
    """The Linear weight matrices (engine/model-tensors.c's is_linear): every 2-D weight but
    the token embedding table."""
    return tensor.dim() == 2 and "embed" not in name and name.endswith(".weight")


def apply(weights, precision):
    """The weights as the engine holds them in precision ("bf16", "int8", "4bit")."""
    if precision == "bf16":
        return weights
    fn = int8 if precision == "int8" else q4
    out = {}
    for name, t in weights.items():
        if is_linear(name, t) and (precision == "int8" or t.shape[1] % GROUP == 0):
            out[name] = torch.from_numpy(fn(t.numpy()))
        else:
            out[name] = t
    return out
