#!/usr/bin/env python3
"""Independent NumPy implementation of the Row LSTM forward math in docs/model-format.md.

Reads a model file and the first N Fashion-MNIST test images and prints the mean NLL
(nats per image and bits/dim), to compare with `pixelrnn eval --limit N`.

    python3 scripts/reference_nll.py models/default.safetensors 100
"""
import gzip, json, struct, sys
import numpy as np

def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    t = {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], "<f4").reshape(v["shape"]).astype(np.float64)
         for k, v in header.items()}
    return meta, t

def conv(x, w, b=None):
    """PyTorch-style cross-correlation with zero 'same' padding. x: [H, W, Cin]; w: [out, in, kh, kw]."""
    H, W, _ = x.shape
    out_c, _, kh, kw = w.shape
    cy, cx = (kh - 1) // 2, (kw - 1) // 2
    xp = np.zeros((H + kh - 1, W + kw - 1, x.shape[2]))
    xp[cy:cy + H, cx:cx + W] = x
    y = np.zeros((H, W, out_c))
    for ky in range(kh):
        for kx in range(kw):
            y += xp[ky:ky + H, kx:kx + W] @ w[:, :, ky, kx].T
    return y + (b if b is not None else 0)

def sigmoid(z): return 1 / (1 + np.exp(-z))

def nll(meta, t, img):
    H, W = img.shape
    L, C = int(meta["levels"]), int(meta["channels"])
    h = int(meta["hidden"])
    x = img[:, :, None].astype(np.float64)
    a = conv(x / 255.0, t["input_conv.weight"], t["input_conv.bias"])
    for b in range(int(meta["blocks"])):
        p = f"blocks.{b}."
        u = conv(a, t[p + "input_to_state.weight"], t[p + "input_to_state.bias"])
        hprev = np.tile(t[p + "initial_hidden"], (W, 1))
        cprev = np.tile(t[p + "initial_cell"], (W, 1))
        hs = np.zeros((H, W, h))
        for i in range(H):
            z = u[i] + conv(hprev[None], t[p + "state_to_state.weight"])[0]
            o, f, ig, g = sigmoid(z[:, :h]), sigmoid(z[:, h:2*h]), sigmoid(z[:, 2*h:3*h]), np.tanh(z[:, 3*h:])
            cprev = f * cprev + ig * g
            hprev = o * np.tanh(cprev)
            hs[i] = hprev
        a = a + conv(hs, t[p + "output_projection.weight"], t[p + "output_projection.bias"])
    r = conv(np.maximum(a, 0), t["output_hidden.weight"], t["output_hidden.bias"])
    logits = conv(np.maximum(r, 0), t["output_logits.weight"], t["output_logits.bias"])
    m = logits.max(axis=2, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(axis=2, keepdims=True)))[:, :, 0]
    target = np.take_along_axis(logits, img[:, :, None].astype(int), axis=2)[:, :, 0]
    return float((lse - target).sum())

if __name__ == "__main__":
    path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    meta, t = load(path)
    raw = gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz").read()
    images = np.frombuffer(raw[16:], np.uint8).reshape(-1, 28, 28)[:n]
    total = [nll(meta, t, im) for im in images]
    mean = sum(total) / n
    print(f"images      {n}")
    print(f"NLL         {mean:.2f} nats/image")
    print(f"bits/dim    {mean / (28 * 28 * np.log(2)):.4f}")
