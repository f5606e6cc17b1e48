#!/usr/bin/env bash
# `make demo`: build a small busybox ACI from Debian's busybox-static, fetch it into a private
# rkt store and run pods from it with `rkt run` (which runs each app through pyrkt's OCI runtime).
# Everything lives under examples/out; nothing touches /var/lib/rkt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$PWD/.venv/bin
out=${DEMO_OUT:-$PWD/examples/out}   # DEMO_OUT: where the test suite runs it
rkt() { timeout 120 "$VENV/rkt" --dir "$out/rkt" --insecure-options=image "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A previous demo's pods may still be mounted: let gc unmount them before the tree goes.
if [ -d "$out/rkt" ]; then rkt gc --grace-period=0s --expire-prepared=0s >/dev/null 2>&1 || true; fi
rm -rf "$out"
mkdir -p "$out/shared"

say "building example.com/busybox:1.0 as an ACI (from /bin/busybox, no network)"
"$VENV/python" -m pyrkt.devtools.busybox --aci "$out/busybox.aci" example.com/busybox \
  /bin/sh -c 'echo "Hello from a pyrkt pod!"
    echo "  app:      $AC_APP_NAME   hostname: $(hostname)   pid: $$   user: $(id -un)"
    echo "  root fs:  $(grep " / " /proc/self/mounts | cut -d" " -f3) (image layers as read-only lowerdirs, a private upperdir)"
    echo "  memory:   $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo "?") bytes (--memory)"
    echo "  greeting: $GREETING"' >/dev/null

say "rkt fetch $out/busybox.aci   (unsigned, hence --insecure-options=image)"
rkt fetch "$out/busybox.aci" 2>/dev/null

say "rkt run example.com/busybox --memory=64M --set-env=GREETING=..."
rkt run --net=host --hostname=demo --set-env=GREETING="set with --set-env" \
  example.com/busybox --memory=64M 2>/dev/null

say "a pod of two apps sharing a host volume: the writer writes, the reader waits and reads"
rkt run --net=host --volume=shared,kind=host,source="$out/shared" \
  example.com/busybox --name=writer --mount=volume=shared,target=/data \
    --exec=/bin/sh -- -c 'echo "written by $AC_APP_NAME at $(date +%T)" > /data/note' --- \
  example.com/busybox --name=reader --mount=volume=shared,target=/data \
    --exec=/bin/sh -- -c 'while [ ! -s /data/note ]; do sleep 0.1; done; echo "reader read: $(cat /data/note)"' \
  2>/dev/null
echo "and on the host: $(cat "$out/shared/note")"

say "exit status: the first failing app's, as rkt"
set +e
rkt run --net=host example.com/busybox --exec=/bin/sh -- -c 'exit 3' 2>/dev/null
echo "rkt run exited with $?"
set -e

say "a web server on the default network (no --net): its port forwarded with --port, fetched from 127.0.0.1"
"$VENV/python" -m pyrkt.devtools.busybox --aci "$out/web.aci" example.com/web --port=http:tcp:80 \
  /bin/sh -c 'mkdir -p /www; echo "<h1>Hello from a pyrkt pod on the default network</h1>" > /www/index.html
    exec httpd -f -p 80 -h /www' >/dev/null
rkt fetch "$out/web.aci" >/dev/null 2>&1
web_port=$("$VENV/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rkt run --port=http:"$web_port" --uuid-file-save="$out/web.uuid" example.com/web 2>/dev/null &
web_pid=$!
until [ -s "$out/web.uuid" ]; do sleep 0.1; done
rkt status --wait-ready=30s "$(cat "$out/web.uuid")" >/dev/null
echo "rkt run --port=http:$web_port example.com/web   ->   GET http://127.0.0.1:$web_port/:"
"$VENV/python" -c 'import sys, urllib.request; print("  " + urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' \
  "http://127.0.0.1:$web_port/"

say "rkt list   (NETWORKS: the pod's address on the default network, 172.16.28.0/24)"
rkt list
rkt stop "$(cat "$out/web.uuid")" >/dev/null
wait "$web_pid" || true

say "rkt image list"
rkt image list

say "rkt gc --grace-period=0s   (exited pods are removed)"
rkt gc --grace-period=0s
