#!/usr/bin/env bash
# Throughput of 1, 2 and 3 daemons on one spool, each with its own host identity (so each
# judges the others by their leases, as hosts sharing an NFS spool do), the others polling.
# Drops N 28×28 gray+alpha PNG jobs (bottom half occluded) and times them until all are in
# outbox/; checks that each is there exactly once.
# Usage: scripts/bench-hosts.sh [N] [processor] [workers per daemon] [daemon counts]
#        (defaults: 300 validate 1 "1 2 3")
# Uses .build/release/pixelrnnd (swift build -c release) or $PIXELRNND.
set -euo pipefail
N=${1:-300}
PROCESSOR=${2:-validate}
WORKERS=${3:-1}
COUNTS=${4:-"1 2 3"}
BIN=${PIXELRNND:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/pixelrnnd}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }

TMP=$(mktemp -d /tmp/pixelrnnd-hosts.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"' EXIT
python3 "$(dirname "$0")/bench-job-png.py" "$TMP/job.png"   # 28×28 gray+alpha, bottom half occluded
ready() { python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["state"] == "ready" else 1)' "$1" 2>/dev/null; }

echo "processor=$PROCESSOR workers/daemon=$WORKERS jobs=$N cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-8s %6s %10s %10s  %s\n" daemons jobs seconds "jobs/s" "done per daemon"
for D in $COUNTS; do
  SPOOL="$TMP/spool-$D"
  mkdir -p "$SPOOL/inbox" "$SPOOL/stage"
  PIDS=()
  for i in $(seq 1 "$D"); do
    WATCH=poll; [ "$i" = 1 ] && WATCH=inotify
    cat > "$TMP/d$D-$i.conf" <<CONF
spool = $SPOOL
state = $TMP/state-$D-$i
host_id = bench-host-$i
watch = $WATCH
poll_interval = 0.5
workers = $WORKERS
queue_capacity = 4
settle = 1
min_free_bytes = 0
CONF
    "$BIN" --config "$TMP/d$D-$i.conf" --processor "$PROCESSOR" 2>"$TMP/log-$D-$i" &
    PIDS+=($!)
  done
  for i in $(seq 1 "$D"); do
    for _ in $(seq 300); do ready "$TMP/state-$D-$i/status.json" && break; sleep 0.1; done
  done
  for j in $(seq -w 1 "$N"); do cp "$TMP/job.png" "$SPOOL/stage/bench$j.png"; done
  START=$(date +%s.%N)
  for f in "$SPOOL"/stage/*.png; do mv "$f" "$SPOOL/inbox/"; done
  while [ "$(ls "$SPOOL/outbox" 2>/dev/null | wc -l)" -lt "$N" ]; do sleep 0.05; done
  END=$(date +%s.%N)
  sleep 0.5
  [ "$(ls "$SPOOL/outbox" | wc -l)" -eq "$N" ] || { echo "duplicates in outbox!" >&2; exit 1; }
  PER=$(for i in $(seq 1 "$D"); do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"]["done"])' "$TMP/state-$D-$i/status.json"; done | paste -sd/)
  python3 -c 'import sys; n=int(sys.argv[1]); t=float(sys.argv[3])-float(sys.argv[2]); print(f"{sys.argv[4]:<8} {n:>6} {t:>10.2f} {n/t:>10.1f}  {sys.argv[5]}")' "$N" "$START" "$END" "$D" "$PER"
  for p in "${PIDS[@]}"; do kill -TERM "$p"; done
  for p in "${PIDS[@]}"; do wait "$p" || true; done
done
