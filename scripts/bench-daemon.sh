#!/usr/bin/env bash
# Daemon throughput and latency: drops N small 28×28 gray+alpha PNG jobs into a fresh spool and
# reads throughput (jobs/s, from the first drop to the last publication) and p50/p95
# claim-to-publish latency from status.json, for 1
# and 2 workers, and what a job costs against its compute: worker-seconds per job (workers ×
# wall time / N) over the mean `timings.compute_seconds` of the reports (sampling, the NLL map
# and the report), and the daemon's CPU time per job.
# Usage: scripts/bench-daemon.sh [N] [processor] [worker counts]
#        (defaults: 200 pixelrnn "1 2"; the issue's figure: scripts/bench-daemon.sh 400 pixelrnn 2)
# Uses .build/release/pixelrnnd (run `swift build -c release` first) or $PIXELRNND.
set -euo pipefail
N=${1:-200}
PROCESSOR=${2:-pixelrnn}
WORKER_COUNTS=${3:-1 2}
BIN=${PIXELRNND:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/pixelrnnd}
[ -x "$BIN" ] || { echo "no $BIN; build with: swift build -c release" >&2; exit 1; }
command -v python3 >/dev/null || { echo "needs python3" >&2; exit 1; }


field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

TMP=$(mktemp -d "${BENCH_DIR:-/tmp}/pixelrnnd-bench.XXXXXX")   # BENCH_DIR: where the spool lives (default /tmp, the local disk)
trap 'kill $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
python3 "$(dirname "$0")/bench-job-png.py" "$TMP/job.png"   # 28×28 gray+alpha, bottom half occluded
printf "%-8s %6s %10s %10s %10s %10s %14s %12s %10s %10s\n" workers jobs seconds "jobs/s" "p50 ms" "p95 ms" \
  "ms/job/worker" "compute ms" "cost/comp" "CPU ms/job"
for WORKERS in $WORKER_COUNTS; do
  SPOOL="$TMP/spool-$WORKERS"
  mkdir -p "$SPOOL/inbox" "$SPOOL/stage"
  for i in $(seq -w 1 "$N"); do cp "$TMP/job.png" "$SPOOL/stage/bench$i.png"; done
  "$BIN" --spool "$SPOOL" --state "$SPOOL/state" --workers "$WORKERS" --processor "$PROCESSOR" 2>"$TMP/log-$WORKERS" &
  PID=$!
  for _ in $(seq 100); do [ -f "$SPOOL/state/status.json" ] && [ "$(field "$SPOOL/state/status.json" 'd["state"]')" = ready ] && break; sleep 0.1; done
  # One process renames every job in (IN_MOVED_TO), then polls status.json every 20 ms:
  # the harness must not spend the cores it measures (a process per file or per poll did).
  read -r START END < <(python3 "$(dirname "$0")/drop-and-wait.py" "$SPOOL/stage" "$SPOOL" "$N" 0.02)
  CPU=$(awk '{print $14 + $15}' "/proc/$PID/stat")   # utime + stime, clock ticks
  sleep 0.3
  S="$SPOOL/state/status.json"
  python3 - "$S" "$N" "$START" "$END" "$WORKERS" "$SPOOL/outbox" "$CPU" "$(getconf CLK_TCK)" <<'PY'
import glob, json, os, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
# From the first rename into inbox/ to the last publication: the rename into outbox/ sets
# the result folder's ctime. (status.json, which tells the harness that all are done, is
# written 0.1 s after a change.)
published = [os.stat(f).st_ctime for f in glob.glob(sys.argv[6] + "/*/")]
t = (max(published) if len(published) >= n else float(sys.argv[4])) - float(sys.argv[3])
workers = int(sys.argv[5])
lat = d["latency_seconds"]
# Only the model's reports time the compute (the validate processor writes none).
reports = [json.load(open(f)) for f in glob.glob(sys.argv[6] + "/*/report.json")]
computes = [r["timings"]["compute_seconds"] for r in reports if "timings" in r]
compute = sum(computes) / len(computes) if computes else None
per_job = workers * t / n
cpu = int(sys.argv[7]) / int(sys.argv[8]) / n
compute_ms = f"{compute * 1000:>12.1f}" if compute else f"{'-':>12}"
ratio = f"{per_job / compute:>10.2f}" if compute else f"{'-':>10}"
print(f"{workers:<8} {n:>6} {t:>10.2f} {n / t:>10.1f} {lat['p50'] * 1000:>10.1f} {lat['p95'] * 1000:>10.1f} "
      f"{per_job * 1000:>14.1f} {compute_ms} {ratio} {cpu * 1000:>10.1f}")
PY
  kill -TERM $PID; wait $PID || true
done
