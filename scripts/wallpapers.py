#!/usr/bin/env python3
"""The `wallpapers` colour data set, rebuilt independently with Pillow, and the
compressors a user has otherwise.

    scripts/wallpapers.py list                 # the 74 source pictures, split into train and test
    scripts/wallpapers.py tiles OUT            # the 2,368 test tiles as PNG files (Pillow's BOX filter)
    scripts/wallpapers.py compress [--limit N] # bits/dim of lossless PNG and WebP, each tile on its own
    scripts/wallpapers.py duplicates           # training pictures that look like a test picture

The rule is the one in docs/data-wallpapers.md; `pixelrnn data wallpapers` applies the
same rule with the project's own decoder and resampler.
"""
import io
import os
import sys

PACKAGES = ["mate-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers", "lomiri-wallpapers-20.04"]
TILE = 32
LONG_SIDE = 512


def package_files(package):
    with open(f"/var/lib/dpkg/info/{package}.list", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n").lower().endswith((".jpg", ".jpeg", ".png"))]


def group_key(package, path):
    if package == "plasma-workspace-wallpapers":
        rest = path.split("/usr/share/wallpapers/", 1)[1]
        return "plasma:" + rest.split("/", 1)[0]
    folder, name = os.path.split(path)
    cut = min([i for i in (name.find("_"), name.find(".")) if i >= 0])
    return folder + "/" + name[:cut]


def sources():
    from PIL import Image
    groups = {}
    for package in PACKAGES:
        for path in package_files(package):
            if not os.path.isfile(path):
                continue
            with Image.open(path) as im:
                pixels = im.size[0] * im.size[1]
            groups.setdefault(group_key(package, path), []).append((path, pixels))
    kept = []
    for members in groups.values():
        best = max(p for _, p in members)
        kept.append(min(path.encode() for path, p in members if p == best).decode())
    kept.sort(key=lambda p: p.encode())
    test = kept[0::5]
    train = [p for i, p in enumerate(kept) if i % 5 != 0]
    return train, test


def test_tiles():
    from PIL import Image
    _, test = sources()
    for path in test:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "P", "PA", "I;16", "L", "I"):
                im = im.convert("RGBA").convert("RGB") if im.mode != "RGB" else im
            im = im.convert("RGB")
            w, h = im.size
            s = LONG_SIDE / max(w, h)
            small = im.resize((round(w * s), round(h * s)), Image.BOX)
        sw, sh = small.size
        for ty in range(sh // TILE):
            for tx in range(sw // TILE):
                yield path, ty, tx, small.crop((tx * TILE, ty * TILE, tx * TILE + TILE, ty * TILE + TILE))


# Extra training sources, as in Sources/PixelRNN/Data/Wallpapers.swift: package, path
# fragment, stride over the matching files in dpkg's order.
EXTRA = [("tuxpaint-stamps-default", "/stamps/", 1), ("stellarium-data", "/landscapes/", 1),
         ("endless-sky-data", "/images/land/", 1), ("openclipart-png", "/openclipart/png/", 8)]


def thumbnail(path):
    from PIL import Image
    import numpy as np
    with Image.open(path) as im:
        im = im.convert("RGB").convert("L").resize((16, 16), Image.BOX)
        return np.asarray(im, dtype=float)


def duplicates(threshold=6.0):
    import numpy as np
    train, test = sources()
    extra = [p for package, part, stride in EXTRA
             for p in [q for q in package_files(package) if part in q][::stride] if os.path.isfile(p)]
    tests = []
    for path in test:
        t = thumbnail(path)
        tests.append((path, [t, t[::-1], t[:, ::-1], t[::-1, ::-1], t.T, t.T[::-1], t.T[:, ::-1], t.T[::-1, ::-1]]))
    found = 0
    for path in train + extra:
        try:
            a = thumbnail(path)
        except Exception:
            continue
        for test_path, variants in tests:
            d = min(np.abs(a - v).mean() for v in variants)
            if d < threshold:
                print(f"{d:5.2f}  {path}  ~  {test_path}")
                found += 1
    print(f"{found} pairs closer than {threshold} levels among {len(train) + len(extra)} training and {len(test)} test pictures")


def main():
    command = sys.argv[1] if len(sys.argv) > 1 else "list"
    if command == "list":
        train, test = sources()
        print(f"{len(train) + len(test)} pictures: {len(train)} train, {len(test)} test")
        for p in test:
            print("test ", p)
        for p in train:
            print("train", p)
    elif command == "tiles":
        out = sys.argv[2]
        os.makedirs(out, exist_ok=True)
        n = 0
        for path, ty, tx, tile in test_tiles():
            base = os.path.splitext(os.path.basename(path))[0] if "/wallpapers/" not in path else path.split("/")[4]
            tile.save(os.path.join(out, f"{n:04d}-{base}-{ty:02d}-{tx:02d}.png"))
            n += 1
        print(f"wrote {n} tiles to {out}")
    elif command == "compress":
        limit = int(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else None
        totals = {"PNG": 0, "WebP": 0}
        n = 0
        for _, _, _, tile in test_tiles():
            for name, args in (("PNG", {"format": "PNG", "optimize": True}),
                               ("WebP", {"format": "WEBP", "lossless": True, "method": 6, "quality": 100})):
                buffer = io.BytesIO()
                tile.save(buffer, **args)
                totals[name] += len(buffer.getvalue()) * 8
            n += 1
            if limit and n >= limit:
                break
        dims = n * TILE * TILE * 3
        for name, bits in totals.items():
            print(f"{name:5s} {bits / dims:.3f} bits/dim over {n} tiles")
    elif command == "duplicates":
        duplicates()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
