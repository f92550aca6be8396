#!/usr/bin/env python3
"""Reproduces a Row LSTM model file's NLL in PyTorch from docs/model-format.md alone, gray
or RGB, softmax or discretized logistic mixture, and compares it with `pixelrnn eval`.

    python3 scripts/check-model-nll.py MODEL.safetensors FOLDER [--limit 50]

FOLDER holds PNG images of one size scored as they are (for example the wallpapers test
tiles written by `pixelrnn data wallpapers --tiles FOLDER`). The script needs torch and
Pillow (`make bench-compare` creates .venv-torch with torch; run it with
`.venv-torch/bin/python`). Exits non-zero when the two NLLs differ by more than 1e-3 nats
per image or one part in 10⁶ (pixelrnn computes in float32, this script in float64).
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location("bench_pytorch", os.path.join(ROOT, "scripts", "bench-pytorch.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def outputs(tensors, meta, images):
    """The output layer's features `[N, P, H, W]` for uint8 images `[N, H, W, C]`, upright.
    Masked weights are stored as zeros, so plain convolutions with the stored weights apply
    the masks."""
    hidden, blocks = int(meta["hidden"]), int(meta["blocks"])
    x = images.permute(0, 3, 1, 2).to(torch.float64) / 255.0
    t = {k: v.to(torch.float64) for k, v in tensors.items()}
    a = F.conv2d(x, t["input_conv.weight"], t["input_conv.bias"], padding=3)
    if "orientation_embedding" in t:
        a = a + t["orientation_embedding"][0][None, :, None, None]
    for b in range(blocks):
        block = bench.RowLSTMBlock(hidden, 2 * hidden).double()
        prefix = f"blocks.{b}."
        block.load_state_dict({k[len(prefix):]: v for k, v in t.items() if k.startswith(prefix)}, strict=False)
        a = block(a)
    return F.conv2d(F.relu(F.conv2d(F.relu(a), t["output_hidden.weight"], t["output_hidden.bias"])),
                    t["output_logits.weight"], t["output_logits.bias"])


def log_sigmoid_difference(a, b):
    """log(σ(a) − σ(b)) for a > b, as docs/model-format.md writes it."""
    d = a - b
    return -F.softplus(-a) - F.softplus(b) + torch.log(-torch.expm1(-d))


def nll(meta, out, images):
    """NLL of each image in nats, from the output features."""
    levels, channels = int(meta["levels"]), int(meta["channels"])
    values = images.permute(0, 3, 1, 2).long()  # [N, C, H, W]
    total = torch.zeros(images.shape[0], dtype=torch.float64)
    if meta.get("distribution", "softmax") == "softmax":
        for c in range(channels):
            logits = out[:, c * levels:(c + 1) * levels]
            total += F.cross_entropy(logits, values[:, c], reduction="none").sum(dim=(1, 2))
        return total
    k = int(meta["mixture_components"])
    scaled = 2 * values.to(torch.float64) / (levels - 1) - 1
    delta = 1 / (levels - 1)
    offset = 0
    for c in range(channels):
        block = out[:, offset:offset + k * (3 + c)]
        offset += k * (3 + c)
        log_prior = F.log_softmax(block[:, :k], dim=1)
        mean = block[:, k:2 * k]
        for j in range(c):
            mean = mean + torch.tanh(block[:, (3 + j) * k:(4 + j) * k]) * scaled[:, j:j + 1]
        inverse_scale = torch.exp(-torch.clamp(block[:, 2 * k:3 * k], min=-7))
        x = scaled[:, c:c + 1]
        a = (x - mean + delta) * inverse_scale
        b = (x - mean - delta) * inverse_scale
        v = values[:, c:c + 1].expand_as(a)
        middle = log_sigmoid_difference(a, b)
        log_mass = torch.where(v == 0, -F.softplus(-a), torch.where(v == levels - 1, -F.softplus(b), middle))
        total -= torch.logsumexp(log_prior + log_mass, dim=1).sum(dim=(1, 2))
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("folder")
    parser.add_argument("--limit", type=int, default=50)
    args = parser.parse_args()
    meta, tensors = bench.load_model_file(args.model)
    assert meta.get("architecture") == "row", "this check builds Row LSTM models"
    names = sorted(n for n in os.listdir(args.folder) if n.endswith(".png"))[:args.limit]
    channels = int(meta["channels"])
    mode = "RGB" if channels == 3 else "L"
    pictures = [Image.open(os.path.join(args.folder, n)).convert(mode) for n in names]
    images = torch.from_numpy(np.stack([np.asarray(p).reshape(p.size[1], p.size[0], channels) for p in pictures]))
    with torch.no_grad():
        ours = nll(meta, outputs(tensors, meta, images), images).mean().item()
    # pixelrnn scores the same files: copy the chosen ones into a folder of their own.
    with tempfile.TemporaryDirectory() as chosen:
        for n in names:
            shutil.copy(os.path.join(args.folder, n), chosen)
        binary = os.path.join(ROOT, ".build/release/pixelrnn")
        out = subprocess.run([binary, "eval", "--model", args.model, "--data", chosen],
                             capture_output=True, text=True, check=True).stdout
    theirs = float(next(line for line in out.splitlines() if line.startswith("NLL")).split()[1])
    print(f"{meta.get('distribution', 'softmax')}, {channels} channel(s), {len(names)} images: "
          f"PyTorch {ours:.4f} nats/image, pixelrnn eval {theirs:.4f}, difference {abs(ours - theirs):.2e}")
    # pixelrnn computes in float32, this in float64: allow 1e-3 nats or 1 part in 10⁶.
    if abs(ours - theirs) > max(1e-3, 1e-6 * abs(ours)):
        sys.exit("the PyTorch reproduction differs: check docs/model-format.md against the code")


if __name__ == "__main__":
    main()
