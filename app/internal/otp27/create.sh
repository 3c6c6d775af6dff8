#!/usr/bin/env bash
# Creates (once) a Debian trixie chroot with Erlang/OTP 27 and Elixir, for tests
# that must run against an OTP newer than the host's. Safe to run concurrently:
# a lock serialises creators and a stamp file marks a finished tree.
#
# usage: create.sh [DIR]   (default: $DEPLOYEX_OTP27_ROOT or /var/cache/deployex-otp27)
set -euo pipefail

dir="${1:-${DEPLOYEX_OTP27_ROOT:-/var/cache/deployex-otp27}}"
mirror="${DEPLOYEX_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
stamp="$dir/.deployex-ready"

fail() { echo "otp27: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root (debootstrap and chroot need it)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"
command -v flock >/dev/null || fail "flock is not installed (util-linux)"

mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

if [ ! -e "$stamp" ]; then
	start=$(date +%s)
	tmp="$dir.tmp"
	# A previous attempt may have died half way; debootstrap refuses to resume it.
	if [ -d "$tmp/proc" ] && mountpoint -q "$tmp/proc"; then umount "$tmp/proc"; fi
	rm -rf "$tmp"
	debootstrap --variant=minbase --include=erlang-nox,elixir trixie "$tmp" "$mirror" >"$dir.log" 2>&1 ||
		fail "debootstrap failed, see $dir.log"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	touch "$stamp"
	echo "otp27: created $dir in $(($(date +%s) - start))s" >&2
fi

# debootstrap writes no /etc/hosts: without it the short host name does not resolve inside.
cp /etc/hosts "$dir/etc/hosts"
# erl reads /proc (e.g. for its scheduler count); mounts vanish on reboot, so check every time.
if ! mountpoint -q "$dir/proc"; then mount -t proc proc "$dir/proc"; fi
# A tree that exists but cannot run erl (e.g. a broken upgrade of the cache) must fail loudly here.
chroot "$dir" erl -noshell -eval 'io:format("~s~n", [erlang:system_info(otp_release)]), halt().' >/dev/null ||
	fail "erl does not run inside $dir"
