#!/usr/bin/env python3
"""BENCH-ROW in PyTorch (CPU, eager), timed as `pixelrnn bench` times it.

    python3 scripts/bench-pytorch.py [--model models/default.safetensors] [--seconds 8] [--threads 2]

1. Builds the Row LSTM PixelRNN of docs/model-format.md as a torch.nn.Module whose
   parameter names are the model file's tensor names, loads the model file into it, and
   checks that its NLL of the first 100 Fashion-MNIST test images equals
   `pixelrnn eval --limit 100` within 1e-3 nats per image.
2. Times, with BENCH-ROW's size (28×28×1, 7 blocks, h = 32, output 64→64→256, float32):
   - training: batch 16, forward + backward + Adam step, images/s;
   - evaluation: batch 64, forward and NLL without gradients, images/s;
   - completion of rows 14–27, K = 1, 16 images per call, with every layer's state cached
     (one pixel at a time, each block's row state kept), ms per image.
Prints one line per figure: `name value unit`, for `make bench-compare`.

Installing torch is opt-in (`make bench-compare` does it in a virtual environment);
nothing else in the project needs it.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RowLSTMBlock(nn.Module):
    def __init__(self, h, features):
        super().__init__()
        self.h = h
        self.input_to_state = nn.Conv2d(features, 4 * h, (1, 3), padding=(0, 1))
        self.state_to_state = nn.Conv2d(h, 4 * h, (1, 3), padding=(0, 1), bias=False)
        self.output_projection = nn.Conv2d(h, features, 1)
        self.initial_hidden = nn.Parameter(torch.zeros(h))
        self.initial_cell = nn.Parameter(torch.zeros(h))
        # Mask B along the row: left and centre taps only (gray: the centre is allowed).
        mask = torch.ones(4 * h, features, 1, 3)
        mask[:, :, :, 2] = 0
        self.register_buffer("i2s_mask", mask)

    def cell(self, z, c_prev):
        h = self.h
        o, f, i, g = torch.sigmoid(z[:, :h]), torch.sigmoid(z[:, h:2 * h]), torch.sigmoid(z[:, 2 * h:3 * h]), torch.tanh(z[:, 3 * h:])
        c = f * c_prev + i * g
        return o * torch.tanh(c), c

    def forward(self, a):
        n, _, height, width = a.shape
        u = F.conv2d(a, self.input_to_state.weight * self.i2s_mask, self.input_to_state.bias, padding=(0, 1))
        s2s = self.state_to_state.weight[:, :, 0, :]
        h_prev = self.initial_hidden[None, :, None].expand(n, self.h, width)
        c_prev = self.initial_cell[None, :, None].expand(n, self.h, width)
        rows = []
        for i in range(height):
            z = u[:, :, i, :] + F.conv1d(h_prev, s2s, padding=1)
            h_prev, c_prev = self.cell(z, c_prev)
            rows.append(h_prev)
        return a + self.output_projection(torch.stack(rows, dim=2))


class PixelRNN(nn.Module):
    """The Row LSTM PixelRNN of docs/model-format.md, gray images; names as in the file."""

    def __init__(self, hidden=32, blocks=7, output_hidden=64, levels=256, orientations=1):
        super().__init__()
        features = 2 * hidden
        self.levels = levels
        self.input_conv = nn.Conv2d(1, features, 7, padding=3)
        # A model with orientation support adds row r of this to the input layer when it
        # scans in orientation r; the benchmark scans upright (row 0).
        self.orientation_embedding = nn.Parameter(torch.zeros(8, features)) if orientations == 8 else None
        self.blocks = nn.ModuleList(RowLSTMBlock(hidden, features) for _ in range(blocks))
        self.output_hidden = nn.Conv2d(features, output_hidden, 1)
        self.output_logits = nn.Conv2d(output_hidden, levels, 1)
        mask = torch.zeros(features, 1, 7, 7)
        mask[:, :, :3, :] = 1
        mask[:, :, 3, :3] = 1  # mask A: strictly before the centre
        self.register_buffer("input_mask", mask)

    def logits(self, images):
        x = images.to(self.input_conv.weight.dtype)[:, None] / 255.0
        a = F.conv2d(x, self.input_conv.weight * self.input_mask, self.input_conv.bias, padding=3)
        if self.orientation_embedding is not None:
            a = a + self.orientation_embedding[0][None, :, None, None]
        for block in self.blocks:
            a = block(a)
        return self.output_logits(F.relu(self.output_hidden(F.relu(a))))

    def nll(self, images):
        """Negative log-likelihood of each image, nats."""
        logits = self.logits(images)
        per = F.cross_entropy(logits, images.long(), reduction="none")
        return per.sum(dim=(1, 2))


def load_model_file(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if name.startswith("optimizer."):
            continue
        begin, end = entry["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[begin:end], "<f4").reshape(entry["shape"]).copy())
    return meta, tensors


def fashion_mnist_test():
    raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
    return torch.from_numpy(np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28).copy())


def check_against_pixelrnn(path, images):
    meta, tensors = load_model_file(path)
    assert meta.get("architecture") == "row" and meta.get("channels") == "1", "the comparison uses a gray Row LSTM model"
    model = PixelRNN(int(meta["hidden"]), int(meta["blocks"]), int(meta["output_hidden"]), int(meta["levels"]),
                     int(meta.get("orientations", "1")))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.endswith("mask")]
    assert not missing and not unexpected, (missing, unexpected)
    model = model.double()
    with torch.no_grad():
        ours = model.nll(images[:100]).mean().item()
    binary = os.path.join(ROOT, ".build/release/pixelrnn")
    out = subprocess.run([binary, "eval", "--model", path, "--limit", "100"], capture_output=True, text=True, check=True).stdout
    theirs = float(next(line for line in out.splitlines() if line.startswith("NLL")).split()[1])
    print(f"check    PyTorch {ours:.4f} nats/image, pixelrnn eval {theirs:.4f}: difference {abs(ours - theirs):.2e}")
    if abs(ours - theirs) > 1e-3:
        sys.exit("the PyTorch model does not reproduce pixelrnn's NLL: check the tensor layout in docs/model-format.md")


def rate(seconds, body, per_call):
    body()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < seconds:
        body()
        calls += 1
    return calls * per_call / (time.perf_counter() - start)


@torch.no_grad()
def complete_bottom_half(model, images, generator):
    """Rows 14–27 drawn pixel by pixel (K = 1) with every layer's state cached."""
    n, height, width = images.shape
    px = images.clone().to(torch.float32)
    first = height // 2
    blocks = model.blocks
    h = blocks[0].h
    w0 = (model.input_conv.weight * model.input_mask)[:, 0, :4, :]  # rows 0..3 of the kernel
    # Visible rows: one full pass gives every block's input stream and the last row's states.
    x = px[:, None] / 255.0
    a = F.conv2d(x, model.input_conv.weight * model.input_mask, model.input_conv.bias, padding=3)
    streams, h_row, c_row = [], [], []
    for block in blocks:
        streams.append(a)
        u = F.conv2d(a, block.input_to_state.weight * block.i2s_mask, block.input_to_state.bias, padding=(0, 1))
        hp = block.initial_hidden[None, :, None].expand(n, h, width)
        cp = block.initial_cell[None, :, None].expand(n, h, width)
        hs = []
        for i in range(first):
            z = u[:, :, i, :] + F.conv1d(hp, block.state_to_state.weight[:, :, 0, :], padding=1)
            hp, cp = block.cell(z, cp)
            hs.append(hp)
        h_row.append(hp)
        c_row.append(cp)
        a = a + block.output_projection(torch.stack(hs + [torch.zeros_like(hp)] * (height - first), dim=2))
    padded = F.pad(px / 255.0, (3, 3, 3, 0))  # [n, height + 3, width + 6]
    for i in range(first, height):
        s2s = [F.conv1d(h_row[l], blocks[l].state_to_state.weight[:, :, 0, :], padding=1) for l in range(len(blocks))]
        prev_stream = [torch.zeros(n, w0.shape[0]) for _ in blocks]
        new_h = [torch.empty(n, h, width) for _ in blocks]
        new_c = [torch.empty(n, h, width) for _ in blocks]
        for j in range(width):
            patch = padded[:, i:i + 4, j:j + 7]  # rows i-3..i, columns j-3..j+3 (masked)
            s = torch.einsum("nyx,fyx->nf", patch, w0) + model.input_conv.bias
            for l, block in enumerate(blocks):
                wi = block.input_to_state.weight * block.i2s_mask
                z = prev_stream[l] @ wi[:, :, 0, 0].T + s @ wi[:, :, 0, 1].T + block.input_to_state.bias + s2s[l][:, :, j]
                hh, cc = block.cell(z, c_row[l][:, :, j])
                new_h[l][:, :, j], new_c[l][:, :, j] = hh, cc
                prev_stream[l] = s
                s = s + hh @ block.output_projection.weight[:, :, 0, 0].T + block.output_projection.bias
            r = F.relu(F.relu(s) @ model.output_hidden.weight[:, :, 0, 0].T + model.output_hidden.bias)
            logits = r @ model.output_logits.weight[:, :, 0, 0].T + model.output_logits.bias
            value = torch.multinomial(F.softmax(logits, dim=1), 1, generator=generator)[:, 0].to(torch.float32)
            px[:, i, j] = value
            padded[:, i + 3, j + 3] = value / 255.0
        h_row, c_row = new_h, new_c
    return px


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models/default.safetensors"))
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch    {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'}")
    images = fashion_mnist_test()
    check_against_pixelrnn(args.model, images)

    torch.manual_seed(1)
    model = PixelRNN()  # BENCH-ROW, fresh weights
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch16 = images[:16]

    def train_step():
        optimizer.zero_grad()
        loss = model.nll(batch16).sum() / (16 * 784)
        loss.backward()
        optimizer.step()

    print(f"training_images_per_s {rate(args.seconds, train_step, 16):.1f}")
    batch64 = images[:64]
    with torch.no_grad():
        print(f"evaluation_images_per_s {rate(args.seconds, lambda: model.nll(batch64), 64):.1f}")
    generator = torch.Generator().manual_seed(1)
    per_second = rate(args.seconds, lambda: complete_bottom_half(model, images[:16], generator), 16)
    print(f"completion_ms_per_image {1000 / per_second:.2f}")


if __name__ == "__main__":
    main()
