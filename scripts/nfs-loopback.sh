#!/usr/bin/env bash
# Runs the many-hosts test on a real NFS mount over loopback: exports a folder with
# Debian's nfs-kernel-server, mounts it on 127.0.0.1 (NFSv4.2, hard, actimeo=1), and runs
# ManyHostsTests with PIXELRNND_NFS_SPOOL pointing at it; then unmounts and unexports.
# Needs root and a kernel with the nfsd and nfs file systems (a container usually has
# neither): when the machine cannot, it says why and exits 77 (skipped).
# Usage: scripts/nfs-loopback.sh [swift test filter]   (default: ManyHostsTests)
# Opt-in: make test and .ci/run never need it.
set -euo pipefail
FILTER=${1:-ManyHostsTests}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
skip() { echo "nfs-loopback: skipped: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (exports and mounts)"
if ! command -v exportfs >/dev/null || ! command -v mount.nfs >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nfs-kernel-server nfs-common >/dev/null \
    || skip "cannot install nfs-kernel-server"
fi
grep -qw nfsd /proc/filesystems || modprobe nfsd 2>/dev/null || true
grep -qw nfsd /proc/filesystems || skip "the kernel has no nfsd (not in /proc/filesystems, and modprobe nfsd failed: no module in this container or VM)"
grep -qw nfs4 /proc/filesystems || modprobe nfs 2>/dev/null || true
grep -qw nfs4 /proc/filesystems || grep -qw nfs /proc/filesystems || skip "the kernel has no NFS client"

EXPORT=$(mktemp -d /srv/pixelrnnd-nfs-export.XXXXXX 2>/dev/null || mktemp -d /tmp/pixelrnnd-nfs-export.XXXXXX)
MOUNT=$(mktemp -d /tmp/pixelrnnd-nfs-mount.XXXXXX)
cleanup() {
  umount -f "$MOUNT" 2>/dev/null || true
  exportfs -u "127.0.0.1:$EXPORT" 2>/dev/null || true
  rmdir "$MOUNT" 2>/dev/null || true
  rm -rf "$EXPORT"
}
trap cleanup EXIT
mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd || skip "cannot mount /proc/fs/nfsd"
pgrep -x rpcbind >/dev/null || rpcbind 2>/dev/null || true
rpc.nfsd 4 || skip "rpc.nfsd would not start"
pgrep -x rpc.mountd >/dev/null || rpc.mountd || true
exportfs -o rw,sync,no_subtree_check,no_root_squash,insecure,fsid=7401 "127.0.0.1:$EXPORT" || skip "exportfs refused"
mount -t nfs4 -o rw,hard,proto=tcp,vers=4.2,actimeo=1 "127.0.0.1:$EXPORT" "$MOUNT" \
  || mount -t nfs -o rw,hard,proto=tcp,vers=3,actimeo=1,nolock "127.0.0.1:$EXPORT" "$MOUNT" \
  || skip "mounting 127.0.0.1:$EXPORT failed"
echo "nfs-loopback: $(findmnt -no SOURCE,FSTYPE,OPTIONS "$MOUNT")"
cd "$ROOT"
PIXELRNND_NFS_SPOOL="$MOUNT" swift test -c release -Xswiftc -enable-testing --skip-build --filter "$FILTER"
