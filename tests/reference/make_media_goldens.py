#!/usr/bin/python3
"""Writes the media goldens: what the InternVL quick start's preprocessing gives for each
test image, computed with Pillow and torchvision exactly as the quick start does.

Run with Debian's interpreter: /usr/bin/python3 tests/reference/make_media_goldens.py
It (re)creates the generated images in tests/data/media/ and tests/data/media-goldens.json.
"""
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image
from torchvision.transforms.functional import InterpolationMode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIA = os.path.join(ROOT, "data", "media")
EXAMPLES = os.path.join(ROOT, "data", "examples")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- the quick start's functions, as its model card gives them ---------------------------

def build_transform(input_size):
    return T.Compose([
        T.Lambda(lambda img: img.convert("RGB") if img.mode != "RGB" else img),
        T.Resize((input_size, input_size), interpolation=InterpolationMode.BICUBIC),
        T.ToTensor(),
        T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
    ])


def find_closest_aspect_ratio(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff = float("inf")
    best_ratio = (1, 1)
    area = width * height
    for ratio in target_ratios:
        target_aspect_ratio = ratio[0] / ratio[1]
        ratio_diff = abs(aspect_ratio - target_aspect_ratio)
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def dynamic_preprocess(image, min_num=1, max_num=12, image_size=448, use_thumbnail=False):
    orig_width, orig_height = image.size
    aspect_ratio = orig_width / orig_height
    target_ratios = set(
        (i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1) if
        i * j <= max_num and i * j >= min_num)
    target_ratios = sorted(target_ratios, key=lambda x: x[0] * x[1])
    target_aspect_ratio = find_closest_aspect_ratio(
        aspect_ratio, target_ratios, orig_width, orig_height, image_size)
    target_width = image_size * target_aspect_ratio[0]
    target_height = image_size * target_aspect_ratio[1]
    blocks = target_aspect_ratio[0] * target_aspect_ratio[1]
    resized_img = image.resize((target_width, target_height))
    processed_images = []
    for i in range(blocks):
        box = (
            (i % (target_width // image_size)) * image_size,
            (i // (target_width // image_size)) * image_size,
            ((i % (target_width // image_size)) + 1) * image_size,
            ((i // (target_width // image_size)) + 1) * image_size
        )
        processed_images.append(resized_img.crop(box))
    if use_thumbnail and len(processed_images) != 1:
        processed_images.append(image.resize((image_size, image_size)))
    return processed_images, target_aspect_ratio


# --- generated test images ----------------------------------------------------------------

def noise(w, h, seed, channels=3):
    rng = np.random.default_rng(seed)
    # Smooth structure plus noise, so resampling has edges and gradients to get wrong.
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / 7.0 + seed) * 60 + np.cos(y / 5.0) * 60 + 128)[..., None]
    img = np.clip(base + rng.integers(-40, 40, size=(h, w, channels)), 0, 255).astype(np.uint8)
    if w * h >= 100000:
        # Large images repeat 4x4 blocks of noise so the committed PNGs stay small.
        img = img[::4, ::4].repeat(4, axis=0).repeat(4, axis=1)[:h, :w]
    return img


class RawPng:
    """A PNG written byte by byte, for sample formats Pillow cannot save (16-bit RGB,
    16-bit gray + alpha); saved as its bytes, opened by Pillow like any file."""

    def __init__(self, array, color_type):
        self.array, self.color_type = array, color_type

    def save(self, path):
        h, w = self.array.shape[:2]
        raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in self.array)

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data +
                    struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" +
                    chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, self.color_type, 0, 0, 0)) +
                    chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def generated_images():
    """(file name, PIL image to save, save kwargs)."""
    out = []
    for (w, h) in [(1, 1), (1, 2000), (2000, 1), (449, 448), (448, 448), (997, 13), (13, 997),
                   (251, 503), (896, 448), (1344, 448), (672, 448), (600, 200), (301, 601)]:
        out.append((f"rgb-{w}x{h}.png", Image.fromarray(noise(w, h, w * 7 + h)), {}))
    out.append(("rgba-300x200.png", Image.fromarray(noise(300, 200, 5, 4), "RGBA"), {}))
    out.append(("gray-333x222.png", Image.fromarray(noise(333, 222, 6, 1)[..., 0], "L"), {}))
    # 16-bit samples: gray spans 0..1000 (Pillow clips it to 255 on convert('RGB')), the
    # others the full range (Pillow keeps the high byte).
    gray16 = (noise(210, 150, 15, 1)[..., 0].astype(np.uint16) * 4)
    out.append(("gray16-210x150.png", Image.fromarray(gray16), {}))
    wide = noise(190, 130, 16, 4).astype(np.uint16) * 256 + np.uint16(91)
    out.append(("rgb16-190x130.png", RawPng(wide[..., :3], 2), {}))
    out.append(("graya16-170x120.png", RawPng(wide[:120, :170, 1:3], 4), {}))
    pal = Image.fromarray(noise(250, 410, 7)).convert("P", palette=Image.ADAPTIVE, colors=37)
    out.append(("palette-250x410.png", pal, {}))
    out.append(("gray-320x240.jpg", Image.fromarray(noise(320, 240, 8, 1)[..., 0], "L"),
                {"quality": 90}))
    out.append(("cmyk-200x150.jpg", Image.fromarray(noise(200, 150, 9, 4), "CMYK"),
                {"quality": 90}))
    out.append(("progressive-500x375.jpg", Image.fromarray(noise(500, 375, 10)),
                {"quality": 85, "progressive": True}))
    out.append(("subsampled-611x407.jpg", Image.fromarray(noise(611, 407, 11)),
                {"quality": 75, "subsampling": 2}))
    out.append(("image-123x77.bmp", Image.fromarray(noise(123, 77, 12)), {}))
    out.append(("image-140x90.gif", Image.fromarray(noise(140, 90, 13)).convert(
        "P", palette=Image.ADAPTIVE, colors=64), {}))
    # Transparent pixels: Pillow shows the palette colour of the transparent index.
    out.append(("transparent-80x60.gif", Image.fromarray(noise(80, 60, 17)).convert(
        "P", palette=Image.ADAPTIVE, colors=16), {"transparency": 3}))
    out.append(("image-150x100.webp", Image.fromarray(noise(150, 100, 14)), {"lossless": True}))
    return out


def sha(data):
    return hashlib.sha256(data).hexdigest()


def golden(path, max_num):
    image = Image.open(path).convert("RGB")
    tiles, grid = dynamic_preprocess(image, image_size=448, use_thumbnail=True, max_num=max_num)
    transform = build_transform(448)
    pixels = torch.stack([transform(t) for t in tiles])
    return {
        "grid": list(grid),
        "tile_sha256": [sha(np.asarray(t, dtype=np.uint8).tobytes()) for t in tiles],
        # The float32 CHW tensor of the first tile, as raw little-endian bytes.
        "first_tile_f32_sha256": sha(pixels[0].contiguous().numpy().astype("<f4").tobytes()),
    }


def main():
    os.makedirs(MEDIA, exist_ok=True)
    cases = []
    for name, img, kwargs in generated_images():
        img.save(os.path.join(MEDIA, name), **kwargs)
        cases.append(("media/" + name, 12))
    for i in range(1, 6):
        cases.append((f"examples/image{i}.jpg", 12))
    cases += [("examples/image1.jpg", 6), ("examples/image2.jpg", 1), ("media/rgb-600x200.png", 4)]
    goldens = {
        "generator": "tests/reference/make_media_goldens.py",
        "pillow": PIL.__version__,
        "torchvision": torchvision.__version__,
        "cases": [],
    }
    for rel, max_num in cases:
        g = golden(os.path.join(ROOT, "data", rel), max_num)
        g.update({"file": rel, "max_num": max_num})
        goldens["cases"].append(g)
        print(rel, max_num, g["grid"], len(g["tile_sha256"]), file=sys.stderr)
    with open(os.path.join(ROOT, "data", "media-goldens.json"), "w") as f:
        json.dump(goldens, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
