#!/bin/bash
# make install-rkt-run / uninstall-rkt-run: rkt-run for every user of this machine, from a
# root-owned copy of the code (never the editable checkout). Running it twice is harmless.
#   PREFIX (/usr/local)  bin/rkt-run, bin/rkt-run-helper (setuid root), bin/rktrunner-gc,
#                        lib/pyrkt-rktrun/ (the launcher's LIBDIR)
#   CONFIG (/etc/rktrunner.toml), STATE (/var/lib/rktrunner), PYTHON (/usr/bin/python3.11)
set -euo pipefail
action=${1:-install}
PREFIX=${PREFIX:-/usr/local}
CONFIG=${CONFIG:-/etc/rktrunner.toml}
STATE=${STATE:-/var/lib/rktrunner}
PYTHON=${PYTHON:-$(readlink -f /usr/bin/python3)}
BIN=$PREFIX/bin
LIB=$PREFIX/lib/pyrkt-rktrun
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "install-rkt-run: run as root" >&2; exit 2; }

if [ "$action" = uninstall ]; then
    rm -f "$BIN/rkt-run" "$BIN/rkt-run-helper" "$BIN/rktrunner-gc"
    rm -rf "$LIB" "$LIB.new" "$LIB.old"
    rm -rf "$STATE"
    exit 0
fi

umask 022
install -d -o root -g root -m 0755 "$BIN" "$PREFIX/lib"
rm -rf "$LIB.new" "$LIB.old"
install -d -o root -g root -m 0755 "$LIB.new/pyrkt/runner" "$LIB.new/pyrkt/cli" "$LIB.new/pyrkt/linux/cgroups"
install -o root -g root -m 0644 "$here/src/pyrkt/linux/__init__.py" "$LIB.new/pyrkt/linux/"
install -o root -g root -m 0644 "$here/src/pyrkt/linux/cgroups/__init__.py" "$here/src/pyrkt/linux/cgroups/warm.py" "$LIB.new/pyrkt/linux/cgroups/"
install -o root -g root -m 0644 "$here/src/pyrkt/__init__.py" "$here/src/pyrkt/launcher.py" "$LIB.new/pyrkt/"
install -o root -g root -m 0644 "$here/src/pyrkt/cli/__init__.py" "$here/src/pyrkt/cli/rktrun.py" "$LIB.new/pyrkt/cli/"
install -o root -g root -m 0644 "$here"/src/pyrkt/runner/*.py "$LIB.new/pyrkt/runner/"
printf '"""Written by make install-rkt-run."""\nCONFIG = %s\nSTATE_DIR = %s\nIDLE = %s\n' \
    "$("$PYTHON" -c 'import sys; print(repr(sys.argv[1]))' "$CONFIG")" \
    "$("$PYTHON" -c 'import sys; print(repr(sys.argv[1]))' "$STATE")" \
    "$("$PYTHON" -c 'import sys; print(repr(sys.argv[1]))' "$LIB/idle")" > "$LIB.new/pyrkt_rktrun_site.py"
# a worker pod's app (src/rktrun-launcher/idle.c): static, so it needs nothing from the image
gcc -O2 -static -s -Wall -Wextra -Werror -o "$LIB.new/idle" "$here/src/rktrun-launcher/idle.c"
chmod 0755 "$LIB.new/idle"
cat > "$LIB.new/rktrun_entry.py" <<'PY'
"""Started only by the setuid launcher: python -I -S -B rktrun_entry.py MODE ARGS... (env on fd 3)."""
import sys
sys.path[:0] = [__file__.rsplit("/", 1)[0]]
from pyrkt.cli.rktrun import entry
code = entry(sys.argv[1:])
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BaseException:
    code = code or 120
import posix
posix._exit(code if isinstance(code, int) else 1)
PY
chmod 0644 "$LIB.new/pyrkt_rktrun_site.py" "$LIB.new/rktrun_entry.py"
"$PYTHON" -I -m compileall -q "$LIB.new" >/dev/null
chown -R root:root "$LIB.new"
chmod -R go-w "$LIB.new"
tmpbin=$(mktemp -d)
trap 'rm -rf "$tmpbin"' EXIT
gcc -O2 -Wall -Wextra -Werror -DPYRKT_PYTHON="\"$PYTHON\"" -DPYRKT_LIBDIR="\"$LIB\"" \
    -o "$tmpbin/rkt-run" "$here/src/rktrun-launcher/launcher.c"
if [ -d "$LIB" ]; then mv "$LIB" "$LIB.old"; fi
mv "$LIB.new" "$LIB"
rm -rf "$LIB.old"
install -o root -g root -m 4755 "$tmpbin/rkt-run" "$BIN/.rkt-run.new" && mv -f "$BIN/.rkt-run.new" "$BIN/rkt-run"
install -o root -g root -m 4755 "$tmpbin/rkt-run" "$BIN/.rkt-run-helper.new" && mv -f "$BIN/.rkt-run-helper.new" "$BIN/rkt-run-helper"
install -o root -g root -m 0755 "$tmpbin/rkt-run" "$BIN/.rktrunner-gc.new" && mv -f "$BIN/.rktrunner-gc.new" "$BIN/rktrunner-gc"
install -d -o root -g root -m 0700 "$STATE"
chmod 0700 "$STATE"
