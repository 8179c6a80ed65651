#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# install-deps.sh - make sure the Debian packages udax builds with are
# present. Installs what is missing with apt-get when run as root (after
# one `apt-get update`); otherwise names what is missing and fails.
set -euo pipefail

pkgs=(cmake make gcc pkg-config liburcu-dev libpmem2-dev spin)
missing=()
for p in "${pkgs[@]}" "$@"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "udax: missing packages: ${missing[*]}" >&2
	echo "udax: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "udax: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
