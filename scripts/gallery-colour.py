#!/usr/bin/python3
"""Colour gallery: the held-out test photos completed by the model and by OpenCV's Telea
inpainting, side by side, with PSNR against the truth and the model's conditional NLL of
the true hole content.

    scripts/gallery-colour.py [--model M] [--samples 4] [--temperature T] [--adapt 0] [--long-side 1024] [--out docs/images/gallery-colour.png]

Each of the 15 wallpapers test pictures (docs/data-wallpapers.md) is scaled to its long
side (Pillow's BOX filter) and gets two holes, fixed by its index: a rectangle of about
5 % of the picture and a scribble about 8 pixels wide. The model completes it through
`pixelrnn complete` (windows, chosen orientation, --score-truth); Telea through
cv2.inpaint with a radius of 5. Needs Debian's python3-opencv and python3-pil (`make data`
installs Pillow; `apt-get install python3-opencv`); the daemon never needs them. Without
--temperature the completion uses the model's own (its file's proposal_temperature). The
binary is .build/release/pixelrnn, or $PIXELRNN.
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wallpapers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def holes(width, height, index):
    """The rectangle (~5 % of the area) and the scribble (~8 px wide) of picture `index`."""
    rng = np.random.default_rng(1000 + index)
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    area = 0.05 * width * height
    aspect = rng.uniform(0.6, 1.6)
    rw, rh = int(math.sqrt(area * aspect)), int(math.sqrt(area / aspect))
    x0 = int(rng.uniform(0.05, 0.45) * width)
    y0 = int(rng.uniform(0.05, 0.9) * height - rh / 2)
    y0 = max(0, min(height - rh, y0))
    draw.rectangle([x0, y0, x0 + rw - 1, y0 + rh - 1], fill=255)
    points = [(rng.uniform(0.55, 0.95) * width, rng.uniform(0.1, 0.9) * height)]
    for _ in range(5):
        px, py = points[-1]
        angle = rng.uniform(0, 2 * math.pi)
        step = rng.uniform(0.08, 0.15) * min(width, height)
        points.append((min(width - 5, max(5, px + step * math.cos(angle))), min(height - 5, max(5, py + step * math.sin(angle)))))
    draw.line(points, fill=255, width=8, joint="curve")
    return mask


def psnr(a, b, mask):
    diff = (a.astype(float) - b.astype(float))[mask]
    mse = (diff ** 2).mean()
    return 10 * math.log10(255 ** 2 / mse) if mse > 0 else float("inf")


def main():
    import cv2
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=None,
                        help="proposal temperature of `pixelrnn complete` (default: the model's own)")
    parser.add_argument("--adapt", type=int, default=0, help="adaptation steps before completing (`pixelrnn complete --adapt`)")
    parser.add_argument("--long-side", type=int, default=1024)
    parser.add_argument("--limit", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs/images/gallery-colour.png"))
    args = parser.parse_args()
    binary = os.environ.get("PIXELRNN") or os.path.join(ROOT, ".build/release/pixelrnn")
    _, test = wallpapers.sources()
    rows, table = [], []
    work = tempfile.mkdtemp(prefix="gallery-colour-")
    for index, path in enumerate(test[: args.limit]):
        im = Image.open(path).convert("RGB")
        s = args.long_side / max(im.size)
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BOX)
        truth = np.asarray(im)
        mask = holes(im.size[0], im.size[1], index)
        hole = np.asarray(mask) >= 128
        image_path, mask_path = f"{work}/{index:02d}.png", f"{work}/{index:02d}.mask.png"
        im.save(image_path)
        mask.save(mask_path)
        command = [binary, "complete", image_path, "--mask", mask_path, "--samples", str(args.samples), "--seed", str(index + 1),
                   "--adapt", str(args.adapt),
                   "--score-truth", "--out", f"{work}/{index:02d}"]
        if args.model:
            command += ["--model", args.model]
        if args.temperature is not None:
            command += ["--temperature", str(args.temperature)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        truth_bpd = float(re.search(r"([0-9.]+) bits/dim of", output.split("truth")[1]).group(1))
        seconds = float(re.search(r"in ([0-9.]+) s", output.splitlines()[-1]).group(1))
        model_out = np.asarray(Image.open(f"{work}/{index:02d}/completed.png").convert("RGB"))
        telea = cv2.cvtColor(cv2.inpaint(cv2.cvtColor(truth, cv2.COLOR_RGB2BGR), hole.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA),
                             cv2.COLOR_BGR2RGB)
        name = os.path.basename(path) if "/wallpapers/" not in path else path.split("/")[4]
        table.append((name, psnr(model_out, truth, hole), psnr(telea, truth, hole), truth_bpd, seconds))
        marked = truth.copy()
        marked[hole] = (0.5 * marked[hole] + 0.5 * np.array([255, 0, 255])).astype(np.uint8)
        rows.append([marked, model_out, telea])
        print(f"{name:40s} PSNR model {table[-1][1]:6.2f} dB, Telea {table[-1][2]:6.2f} dB; "
              f"model −log p(truth in holes) {truth_bpd:.3f} bits/dim; {seconds:.1f} s", flush=True)
    # One row per picture: holes marked, the model, Telea; thumbnails 320 wide.
    thumb = 320
    tiles = [[Image.fromarray(a).resize((thumb, round(a.shape[0] * thumb / a.shape[1])), Image.BOX) for a in row] for row in rows]
    height = sum(t[0].size[1] + 6 for t in tiles) + 24
    sheet = Image.new("RGB", (3 * (thumb + 6) + 6, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, label in enumerate(["holes (magenta)", "PixelRNN", "OpenCV Telea"]):
        draw.text((6 + k * (thumb + 6), 6), label, fill=(0, 0, 0))
    y = 24
    for row in tiles:
        for k, tile in enumerate(row):
            sheet.paste(tile, (6 + k * (thumb + 6), y))
        y += row[0].size[1] + 6
    sheet.save(args.out)
    n = len(table)
    print(f"mean over {n}: PSNR model {sum(t[1] for t in table) / n:.2f} dB, Telea {sum(t[2] for t in table) / n:.2f} dB; "
          f"model −log p(truth in holes) {sum(t[3] for t in table) / n:.3f} bits/dim; wrote {args.out}")


if __name__ == "__main__":
    main()
