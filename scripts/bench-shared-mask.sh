#!/usr/bin/env bash
# One mask for many images: N colour 256×256 pictures and one shared mask that occludes a
# 64 wide × 32 high block in the bottom-right corner, moved into the inbox at once, through
# pixelrnnd with a colour model. Reports jobs/s, claim-to-publish latency (p50/p95, from
# status.json) and arrival-to-result latency (p50/p95: the time from the move into the
# inbox to each result), and the mean compute time per job from the reports.
#
# Usage: scripts/bench-shared-mask.sh [N] [MODEL] [WORKERS] [MODE]
#   N        pictures (default 1000)
#   MODEL    colour model file (default models/colour.safetensors, the shipped one)
#   WORKERS  jobs at a time (default 2, one thread each)
#   MODE     shared (default): masks/corner.png and `mask = corner` in the configuration,
#            no per-image file; own: the same mask copied as NAME.mask.png for every image
#            (the way before shared masks), for comparison
# Pictures: 256×256 crops of the wallpapers in /usr/share/backgrounds (Debian's wallpaper
# packages; `make data` installs more), cut with netpbm once and kept in
# $CACHE (default /tmp/pixelrnnd-bench-pictures). Uses .build/release/pixelrnnd or $PIXELRNND.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
MODEL=${2:-models/colour.safetensors}
WORKERS=${3:-2}
MODE=${4:-shared}
BIN=${PIXELRNND:-$PWD/.build/release/pixelrnnd}
CACHE=${CACHE:-/tmp/pixelrnnd-bench-pictures}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
command -v pamdice >/dev/null || { echo "needs netpbm (apt-get install netpbm) to cut the pictures" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }
MODEL=$(realpath "$MODEL")

# Colour pictures: every full 256×256 tile of each wallpaper scaled to three widths, RGB
# without alpha, cut once with netpbm (jpegtopnm/pngtopnm, pamscale, pamdice, pnmtopng).
if [ -z "$(ls "$CACHE" 2>/dev/null)" ]; then
  mkdir -p "$CACHE"
  CUT=$(mktemp -d /tmp/pixelrnnd-bench-cut.XXXXXX)
  find /usr/share/backgrounds -maxdepth 3 -type f \( -name '*.jpg' -o -name '*.png' \) | sort | while read -r source; do
    base=$(basename "${source%.*}" | tr -c 'A-Za-z0-9_\n-' _)
    case $source in
      *.jpg) jpegtopnm "$source" 2>/dev/null | ppmtoppm >"$CUT/source.ppm" || continue ;;
      *.png) pngtopnm -mix -background=white "$source" 2>/dev/null | ppmtoppm >"$CUT/source.ppm" || continue ;;
    esac
    for width in 768 1280 2048; do
      pamscale -width "$width" "$CUT/source.ppm" 2>/dev/null | pamdice -width 256 -height 256 -outstem "$CUT/tile" 2>/dev/null || continue
      for tile in "$CUT"/tile_*; do
        # Full tiles only (the right and bottom edges give smaller ones).
        pamfile "$tile" | grep -q " 256 by 256 " && pnmtopng "$tile" >"$CACHE/$base-$width-$(basename "${tile%.*}").png" 2>/dev/null
        rm -f "$tile"
      done
    done
  done
  rm -rf "$CUT"
fi
mapfile -t PICTURES < <(ls "$CACHE"/*.png | sort)
[ "${#PICTURES[@]}" -gt 0 ] || { echo "no pictures in $CACHE" >&2; exit 1; }

TMP=$(mktemp -d /tmp/pixelrnnd-bench-masks.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$TMP"' EXIT
SPOOL=$TMP/spool
mkdir -p "$SPOOL/inbox" "$SPOOL/masks" "$TMP/stage"
# The mask: an 8-bit gray PNG, white (occluded) where x ≥ 192 and y ≥ 224.
python3 - "$TMP/corner.png" <<'PY'
import struct, sys, zlib
w = h = 256
raw = b"".join(b"\0" + bytes(255 if x >= 192 and y >= 224 else 0 for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
PY
for i in $(seq 0 $((N - 1))); do
  name=$(printf "pic%04d" "$i")
  cp "${PICTURES[$((i % ${#PICTURES[@]}))]}" "$TMP/stage/$name.png"
  [ "$MODE" = own ] && cp "$TMP/corner.png" "$TMP/stage/$name.mask.png"
done
cp "$TMP/corner.png" "$SPOOL/masks/corner.png"
cat >"$TMP/pixelrnnd.conf" <<EOF
spool = $SPOOL
state = $SPOOL/state
model.colour = $MODEL
workers = $WORKERS
threads_per_job = 1
min_free_bytes = 0
mask_wait = 600
EOF
[ "$MODE" = shared ] && echo "mask = corner" >>"$TMP/pixelrnnd.conf"

field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
"$BIN" --config "$TMP/pixelrnnd.conf" 2>"$TMP/log" &
PID=$!
for _ in $(seq 600); do
  [ -f "$SPOOL/state/status.json" ] && [ "$(field "$SPOOL/state/status.json" 'd["state"]')" = ready ] && break
  sleep 0.1
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The daemon's CPU time (user + system, clock ticks): contention from other processes
# stretches the wall-clock figures, not this one.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
CPU_START=$(cpu_ticks)
# Masks first (own mode), then the images: every file renamed in (IN_MOVED_TO) by one
# process, which then polls status.json: the harness must not spend the cores it measures.
read -r START END < <(python3 scripts/drop-and-wait.py "$TMP/stage" "$SPOOL" "$N" 0.2)
CPU_SECONDS=$(python3 -c "print(($(cpu_ticks) - $CPU_START) / $(getconf CLK_TCK))")
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 0.6
python3 - "$SPOOL" "$N" "$START" "$END" "$WORKERS" "$MODE" "$MODEL" "$TMP/log" "$CPU_SECONDS" <<'PY'
import glob, json, os, statistics, sys
spool, n, start, end, workers, mode, model, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
cpu = float(sys.argv[9])
status = json.load(open(f"{spool}/state/status.json"))
failed = os.listdir(f"{spool}/failed")
reports = [json.load(open(p)) for p in glob.glob(f"{spool}/outbox/*/report.json")]
arrival = sorted(os.stat(os.path.dirname(p)).st_mtime - start for p in glob.glob(f"{spool}/outbox/*/report.json"))
def pct(values, q): return values[min(len(values) - 1, int(q * len(values)))]
compute = [r["timings"]["compute_seconds"] for r in reports]
masks = sorted({(r["mask"]["source"], r["mask"].get("sha256", "")[:12]) for r in reports})
names = len({r["mask"].get("name") for r in reports})
reads = sum(1 for line in open(log) if 'msg="shared mask read"' in line)
lat = status["latency_seconds"]
t = end - start
print(f"model {model} ({reports[0]['model']['name'] if reports else '?'}), mode {mode}, {workers} workers × 1 thread")
print(f"jobs {n}, published {len(reports)}, failed {len(failed)}; masks used (source, sha256): {masks}, under {names} name(s); shared mask reads: {reads}")
print(f"{'workers':<8} {'jobs':>6} {'seconds':>9} {'jobs/s':>8} {'claim p50 ms':>13} {'claim p95 ms':>13} {'arrival p50 s':>14} {'arrival p95 s':>14} {'compute mean ms':>16} {'CPU ms/job':>11}")
print(f"{workers:<8} {n:>6} {t:>9.1f} {n / t:>8.2f} {lat['p50'] * 1000:>13.0f} {lat['p95'] * 1000:>13.0f} {pct(arrival, .5):>14.1f} {pct(arrival, .95):>14.1f} {statistics.mean(compute) * 1000:>16.1f} {cpu / n * 1000:>11.1f}")
PY
kill -TERM $PID; wait $PID || true
PID=
