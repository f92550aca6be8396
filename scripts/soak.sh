#!/usr/bin/env bash
# Soak test: steady load on pixelrnnd with the default model for MINUTES (default 30),
# sampling the daemon's resident memory (VmRSS) every 10 s. Prints a summary and leaves
# the samples in soak-rss.csv (in the current folder).
# Usage: scripts/soak.sh [MINUTES] [JOBS_PER_SECOND]   (defaults: 30 4)
set -euo pipefail
MINUTES=${1:-30}
RATE=${2:-4}
BIN=${PIXELRNND:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/pixelrnnd}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
TMP=$(mktemp -d /tmp/pixelrnnd-soak.XXXXXX)
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
python3 - "$TMP/job.png" <<'PY'
import struct, sys, zlib
w = h = 28
raw = b"".join(b"\0" + b"".join(bytes([200 if 6 < x < 22 and 3 < y < 25 else 0, 0 if y >= 14 else 255]) for x in range(w)) for y in range(h))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 4, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
PY
SPOOL="$TMP/spool"
mkdir -p "$SPOOL/inbox" "$TMP/stage"
"$BIN" --spool "$SPOOL" --state "$SPOOL/state" --workers 2 2>"$TMP/log" &
PID=$!
sleep 3
echo "seconds,rss_kib,done,failed" > soak-rss.csv
START=$(date +%s)
END=$((START + MINUTES * 60))
n=0
next_sample=$START
while [ "$(date +%s)" -lt "$END" ]; do
  for _ in $(seq "$RATE"); do
    n=$((n + 1))
    cp "$TMP/job.png" "$TMP/stage/s$n.png" && mv "$TMP/stage/s$n.png" "$SPOOL/inbox/"
  done
  now=$(date +%s)
  if [ "$now" -ge "$next_sample" ]; then
    rss=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
    counts=$(python3 -c "import json; d=json.load(open('$SPOOL/state/status.json'))['jobs']; print(d['done'], d['failed'], sep=',')" 2>/dev/null || echo ",")
    echo "$((now - START)),$rss,$counts" >> soak-rss.csv
    next_sample=$((next_sample + 10))
  fi
  # keep the outbox small: results are checked by count, then removed
  find "$SPOOL/outbox" -mindepth 1 -maxdepth 1 -mmin +1 -exec rm -rf {} + 2>/dev/null || true
  sleep 1
done
sleep 5
kill -TERM $PID; wait $PID || true
python3 - <<'PY'
import csv
rows = [r for r in csv.DictReader(open("soak-rss.csv")) if r["rss_kib"]]
rss = [int(r["rss_kib"]) for r in rows]
n = len(rss)
first = rss[: max(1, n // 10)]
last = rss[-max(1, n // 10):]
print(f"samples {n}, duration {rows[-1]['seconds']} s, jobs done {rows[-1]['done']}, failed {rows[-1]['failed']}")
print(f"RSS KiB: min {min(rss)}, max {max(rss)}, first-10% mean {sum(first)/len(first):.0f}, last-10% mean {sum(last)/len(last):.0f}")
PY
