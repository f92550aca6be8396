#!/usr/bin/python3
"""Writes the daemon benchmarks' job: a 28×28 gray+alpha PNG (stored zlib blocks) of a
bright block on black, its bottom half occluded (alpha 0).

    scripts/bench-job-png.py OUT.png
"""
import struct
import sys
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    w = h = 28
    raw = b"".join(b"\0" + b"".join(bytes([200 if 6 < x < 22 and 3 < y < 25 else 0, 0 if y >= 14 else 255])
                                    for x in range(w)) for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 4, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b""))
    with open(sys.argv[1], "wb") as f:
        f.write(png)


if __name__ == "__main__":
    main()
