#!/usr/bin/env bash
# `make demo`: build a small busybox image from Debian's busybox-static and run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/bin
out=examples/out
rm -rf "$out"
mkdir -p "$out"
echo "== building a busybox bundle in $out/bundle (from /bin/busybox)"
$VENV/python -m pyrkt.devtools.busybox "$out/bundle" sh -c '
  echo "Hello from a pyrkt container!"
  echo "  hostname: $(hostname)   pid: $$   user: $(id -un)"
  echo "  kernel:   $(uname -sr)"
  echo "  root fs:  $(grep " / " /proc/self/mounts | cut -d" " -f4 | cut -d, -f1) (read-only, as runc'"'"'s default spec)"
  echo "  caps:     $(grep CapEff /proc/self/status)"
  echo "  files:    $(ls /bin | wc -l) busybox applets in /bin"
' >/dev/null
echo "== pyrkt-runtime run --bundle $out/bundle demo"
$VENV/pyrkt-runtime --root "$PWD/$out/state" run --bundle "$out/bundle" demo
