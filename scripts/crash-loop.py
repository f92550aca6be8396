#!/usr/bin/env python3
"""Crash loop: drops N small jobs into a fresh spool and runs pixelrnnd (validate
processor, 2 workers, max_attempts 3) under kill -9 every 0.05-0.3 s until every job has
ended, then once more without kills. Prints how many jobs ended in outbox/ and failed/,
what is left in work/, and how many recoveries charged an attempt.

Usage: scripts/crash-loop.py [N] [JOB_DELAY_MS] [SEED] [BINARY]   (defaults: 400 30 1 .build/release/pixelrnnd)
"""
import os, random, signal, struct, subprocess, sys, tempfile, time, zlib

n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
delay = sys.argv[2] if len(sys.argv) > 2 else "30"
random.seed(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
binary = sys.argv[4] if len(sys.argv) > 4 else ".build/release/pixelrnnd"
root = tempfile.mkdtemp(prefix="pixelrnnd-crash-loop-")
for folder in ("inbox", "outbox", "failed", "work"):
    os.makedirs(f"{root}/spool/{folder}")
with open(f"{root}/pixelrnnd.conf", "w") as conf:
    conf.write(f"spool = {root}/spool\nstate = {root}/state\nsettle = 0.2\nrescan_interval = 0.5\n"
               "min_free_bytes = 0\nworkers = 2\nmax_attempts = 3\n")

def png(width, height):
    """An RGBA PNG whose alpha (100) marks every pixel occluded."""
    raw = b"".join(b"\0" + bytes([10, 20, 30, 100] * width) for _ in range(height))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

for i in range(n):
    with open(f"{root}/spool/inbox/j{i:04d}.png", "wb") as f:
        f.write(png(6, 5))
log = open(f"{root}/daemon.log", "w")
command = [binary, "--config", f"{root}/pixelrnnd.conf", "--processor", "validate"]
def ended():
    return len(os.listdir(f"{root}/spool/outbox")) + len(os.listdir(f"{root}/spool/failed"))
started, kills = time.time(), 0
while ended() < n and time.time() - started < 600:
    daemon = subprocess.Popen(command + ["--debug-job-delay-ms", delay], stderr=log)
    time.sleep(random.uniform(0.05, 0.3))
    if daemon.poll() is None:
        daemon.kill()
        kills += 1
    daemon.wait()
daemon = subprocess.Popen(command, stderr=log)
while ended() < n and time.time() - started < 660:
    time.sleep(0.2)
time.sleep(1)
daemon.send_signal(signal.SIGTERM)
daemon.wait()
text = open(f"{root}/daemon.log").read()
print(f"jobs={n} kills={kills} outbox={len(os.listdir(f'{root}/spool/outbox'))} "
      f"failed={len(os.listdir(f'{root}/spool/failed'))} left_in_work={len(os.listdir(f'{root}/spool/work'))} "
      f"recoveries_charged={text.count('charged=true')} recoveries_not_charged={text.count('charged=false')} "
      f"seconds={time.time() - started:.0f} spool={root}")
