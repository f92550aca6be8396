#!/usr/bin/python3
"""Adaptation curve: the hole tiles of the 15 wallpapers test pictures, scored under the
colour model before adaptation and after `pixelrnn adapt --seconds S` for several
budgets, next to lossless WebP of the same tiles.

    scripts/adapt-curve.py [--model M] [--budgets 5,15,30,60] [--limit 15]
                           [--learning-rate 3e-4] [--near-hole 0.5] [--near-hole-scale 2] [--batch 8] [--crop-size 32] [--in-steps]
                           [--csv docs/adaptation-curve.csv]
                           [--gallery docs/images/adaptation-gallery.png --gallery-budget 30]

Each test picture (docs/data-wallpapers.md) is scaled to long side 512 (Pillow's BOX
filter, as the test tiles) and gets a hole of 4×4 tiles of 32×32 on the tile grid, its
top-left tile at (⌊rows/2⌋ − 2, ⌊columns/2⌋ − 2). Adaptation sees the picture with that
hole masked; the 16 hole tiles are then scored each on its own as a 32×32 image
(`pixelrnn eval --data FOLDER`), as WebP (Pillow, lossless, method 6) compresses each on
its own. Prints one line per picture and budget, the means, and writes the CSV. With
--gallery it also completes each picture's hole (K = 4) before and after adaptation and
writes a contact sheet. Needs python3-pil (`make data`).
"""
import argparse
import csv
import io
import os
import re
import subprocess
import sys
import tempfile

from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wallpapers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("PIXELRNN") or os.path.join(ROOT, ".build/release/pixelrnn")
TILE = wallpapers.TILE


def picture(path):
    """The test picture at long side 512, RGB, as the test tiles are cut from it."""
    with Image.open(path) as im:
        im.load()
        im = im.convert("RGBA").convert("RGB") if im.mode != "RGB" else im
        w, h = im.size
        s = wallpapers.LONG_SIDE / max(w, h)
        return im.resize((round(w * s), round(h * s)), Image.BOX)


def hole_box(im):
    """(x, y, side) of the 4×4-tile hole on the tile grid."""
    rows, columns = im.size[1] // TILE, im.size[0] // TILE
    return (columns // 2 - 2) * TILE, (rows // 2 - 2) * TILE, 4 * TILE


def webp_bits_per_dim(tile):
    buffer = io.BytesIO()
    tile.save(buffer, "WEBP", lossless=True, method=6)
    return 8 * len(buffer.getvalue()) / (TILE * TILE * 3)


def score(model, folder):
    """Mean bits/dim of the tiles in `folder` under `model`."""
    out = subprocess.run([BINARY, "eval", "--model", model, "--data", folder], capture_output=True, text=True, check=True).stdout
    return float(re.search(r"bits/dim\s+([0-9.]+)", out).group(1))


def adapt(model, image, mask, budget, out, learning_rate, seed, near_hole=None, batch=None, crop_size=None, unit="seconds",
          near_hole_scale=None):
    """Adapts for `budget` seconds (unit "seconds") or steps (unit "steps")."""
    amount = str(budget) if unit == "seconds" else str(int(budget))
    command = [BINARY, "adapt", image, "--mask", mask, f"--{unit}", amount, "--model", model, "--out", out,
               "--seed", str(seed)]
    if learning_rate:
        command += ["--learning-rate", str(learning_rate)]
    if near_hole is not None:
        command += ["--near-hole", str(near_hole)]
    if near_hole_scale is not None:
        command += ["--near-hole-scale", str(near_hole_scale)]
    if batch is not None:
        command += ["--batch", str(batch)]
    if crop_size is not None:
        command += ["--crop-size", str(crop_size)]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    steps, took = re.search(r"adapted\s+(\d+) steps in ([0-9.]+) s", text).groups()
    return int(steps), float(took)


def complete(model, image, mask, out, seed):
    subprocess.run([BINARY, "complete", image, "--mask", mask, "--model", model, "--samples", "4", "--seed", str(seed),
                    "--out", out], capture_output=True, text=True, check=True)
    return Image.open(os.path.join(out, "completed.png")).convert("RGB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models/colour.safetensors"))
    parser.add_argument("--budgets", default="5,15,30,60", help="adaptation budgets in seconds, comma-separated")
    parser.add_argument("--in-steps", action="store_true",
                        help="the budgets are step counts, not seconds: a comparison that the machine's load cannot move")
    parser.add_argument("--limit", type=int, default=15, help="only the first N test pictures")
    parser.add_argument("--learning-rate", type=float, default=None, help="peak learning rate (default: the completer's)")
    parser.add_argument("--near-hole", type=float, default=None, help="share of crops drawn near the hole (default: the completer's)")
    parser.add_argument("--batch", type=int, default=None, help="crops per step (default: the completer's)")
    parser.add_argument("--near-hole-scale", type=float, default=None, help="decay length of the near-hole weight in crop sides (default: the completer's)")
    parser.add_argument("--crop-size", type=int, default=None, help="side of the training crops (default: the completer's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--csv", default=None, help="write one row per picture and budget here")
    parser.add_argument("--gallery", default=None, help="write a before/after contact sheet here")
    parser.add_argument("--gallery-budget", type=float, default=30)
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",") if b]
    unit = " steps" if args.in_steps else "s"
    _, test = wallpapers.sources()
    work = tempfile.mkdtemp(prefix="adapt-curve-")
    rows, sheet_rows = [], []
    for index, path in enumerate(test[: args.limit]):
        name = path.split("/")[4] if "/wallpapers/" in path else os.path.splitext(os.path.basename(path))[0]
        im = picture(path)
        x, y, side = hole_box(im)
        folder = os.path.join(work, f"{index:02d}")
        tiles = os.path.join(folder, "tiles")
        os.makedirs(tiles)
        webp = []
        for ty in range(4):
            for tx in range(4):
                tile = im.crop((x + tx * TILE, y + ty * TILE, x + (tx + 1) * TILE, y + (ty + 1) * TILE))
                tile.save(os.path.join(tiles, f"{ty * 4 + tx:02d}.png"))
                webp.append(webp_bits_per_dim(tile))
        image_path, mask_path = os.path.join(folder, "picture.png"), os.path.join(folder, "mask.png")
        im.save(image_path)
        mask = Image.new("L", im.size, 0)
        ImageDraw.Draw(mask).rectangle((x, y, x + side - 1, y + side - 1), fill=255)
        mask.save(mask_path)
        webp_mean = sum(webp) / len(webp)
        before = score(args.model, tiles)
        print(f"{name:28s} {im.size[0]}×{im.size[1]}  WebP {webp_mean:.3f}  model {before:.3f}", flush=True)
        rows.append(dict(picture=name, budget_s=0, steps=0, adapt_s=0, model_bpd=before, webp_bpd=webp_mean))
        for budget in budgets:
            adapted = os.path.join(folder, f"adapted-{budget:g}.safetensors")
            steps, took = adapt(args.model, image_path, mask_path, budget, adapted, args.learning_rate, args.seed, args.near_hole,
                                args.batch, args.crop_size, "steps" if args.in_steps else "seconds", args.near_hole_scale)
            after = score(adapted, tiles)
            print(f"{'':28s} {budget:4g}{unit}: {steps:4d} steps in {took:5.1f} s → {after:.3f} ({after / before:.3f}×)", flush=True)
            rows.append(dict(picture=name, budget_s=budget, steps=steps, adapt_s=took, model_bpd=after, webp_bpd=webp_mean))
        if args.gallery:
            adapted = os.path.join(folder, f"adapted-{args.gallery_budget:g}.safetensors")
            if not os.path.exists(adapted):
                adapt(args.model, image_path, mask_path, args.gallery_budget, adapted, args.learning_rate, args.seed,
                      args.near_hole, args.batch, args.crop_size, "seconds", args.near_hole_scale)
            box = (max(0, x - 32), max(0, y - 32), min(im.size[0], x + side + 32), min(im.size[1], y + side + 32))
            plain = complete(args.model, image_path, mask_path, os.path.join(folder, "plain"), index + 1)
            tuned = complete(adapted, image_path, mask_path, os.path.join(folder, "tuned"), index + 1)
            marked = im.copy()
            ImageDraw.Draw(marked).rectangle((x, y, x + side - 1, y + side - 1), fill=(255, 0, 255))
            sheet_rows.append((name, [c.crop(box) for c in (im, marked, plain, tuned)]))
    print()
    print(f"{'budget':>8s} {'pictures':>8s} {'mean steps':>10s} {'model bits/dim':>14s} {'× unadapted':>11s} {'WebP':>6s}")
    base = [r for r in rows if r["budget_s"] == 0]
    base_mean = sum(r["model_bpd"] for r in base) / len(base)
    webp_mean = sum(r["webp_bpd"] for r in base) / len(base)
    for budget in [0.0] + budgets:
        chosen = [r for r in rows if r["budget_s"] == budget]
        mean = sum(r["model_bpd"] for r in chosen) / len(chosen)
        steps = sum(r["steps"] for r in chosen) / len(chosen)
        print(f"{budget:7g}{unit} {len(chosen):8d} {steps:10.0f} {mean:14.3f} {mean / base_mean:11.3f} {webp_mean:6.3f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            for r in rows:
                writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
        print(f"wrote {args.csv}")
    if args.gallery and sheet_rows:
        cell = 192
        labels = ["truth", "hole", "completed", f"after {args.gallery_budget:g} s of adaptation"]
        sheet = Image.new("RGB", (4 * (cell + 6) + 6, len(sheet_rows) * (cell + 20) + 24), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for k, label in enumerate(labels):
            draw.text((6 + k * (cell + 6), 6), label, fill=(0, 0, 0))
        top = 24
        for name, crops in sheet_rows:
            draw.text((6, top), name, fill=(0, 0, 0))
            for k, c in enumerate(crops):
                scale = cell / max(c.size)
                sheet.paste(c.resize((round(c.size[0] * scale), round(c.size[1] * scale)), Image.NEAREST),
                            (6 + k * (cell + 6), top + 14))
            top += cell + 20
        sheet.save(args.gallery)
        print(f"wrote {args.gallery}")


if __name__ == "__main__":
    main()
