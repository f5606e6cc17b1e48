#!/usr/bin/env bash
# Installs the Debian packages listed in packages.apt that are not installed yet.
# Runs `apt-get update` only when something is missing, so a second run costs a few ms.
set -euo pipefail
list=${1:-packages.apt}
missing=()
while read -r pkg; do
    [ -n "$pkg" ] || continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$pkg")
    fi
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list")
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-apt: missing Debian packages (${missing[*]}); run 'make install' as root" >&2
    exit 1
fi
echo "install-apt: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
