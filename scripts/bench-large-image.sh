#!/usr/bin/env bash
# Large-image row: `pixelrnn complete … --samples 4` on a 2048×1365 RGB photo with one
# 64×64 hole, against the 256×256 crop around the same hole; wall time with the outputs
# written and peak RSS (/usr/bin/time), runs alternating.
# Usage: scripts/bench-large-image.sh [runs] [model] [photo]
#        (defaults: 3, models/colour.safetensors, Painting-Colors from /usr/share/backgrounds)
# Uses .build/release/pixelrnn (run `swift build -c release` first); needs python3-pil.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
MODEL=${2:-$ROOT/models/colour.safetensors}
PHOTO=${3:-/usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg}
BIN=${PIXELRNN:-$ROOT/.build/release/pixelrnn}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
[ -f "$PHOTO" ] || { echo "no $PHOTO (make data installs the wallpapers), or name a photo" >&2; exit 1; }
TMP=$(mktemp -d /tmp/large-image.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 - "$PHOTO" "$TMP" <<'PY'
import sys
from PIL import Image, ImageDraw
photo, out = sys.argv[1], sys.argv[2]
im = Image.open(photo).convert("RGB").resize((2048, 1365), Image.BOX)
x, y = 1024 - 32, 682 - 32                       # the 64×64 hole, centred
mask = Image.new("L", im.size, 0)
ImageDraw.Draw(mask).rectangle((x, y, x + 63, y + 63), fill=255)
im.save(f"{out}/photo.png"); mask.save(f"{out}/photo.mask.png")
box = (x + 32 - 128, y + 32 - 128, x + 32 + 128, y + 32 + 128)
im.crop(box).save(f"{out}/crop.png"); mask.crop(box).save(f"{out}/crop.mask.png")
PY
printf "%-10s %4s %10s %12s\n" picture run "wall s" "peak RSS MB"
for run in $(seq "$RUNS"); do
  for picture in crop photo; do
    /usr/bin/time -f "%e %M" -o "$TMP/time" "$BIN" complete "$TMP/$picture.png" --mask "$TMP/$picture.mask.png" \
      --model "$MODEL" --samples 4 --out "$TMP/out-$picture" >/dev/null 2>&1
    read -r wall rss < "$TMP/time"
    printf "%-10s %4d %10.2f %12.0f\n" "$picture" "$run" "$wall" "$((rss / 1024))"
  done
done
