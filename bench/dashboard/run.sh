#!/bin/sh
# Builds the erlfix fixture release from testdata/ (in a temporary copy, as
# the test fixtures do) and deployex itself, then runs the dashboard
# benchmark against them.
#   bench/dashboard/run.sh [-clients 200] [-rounds 5] [-viewers 20] [-stalled 5] [-rate 20000] [-duration 10s]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/testdata/erlfix" "$root/testdata/shared" "$work/"
(cd "$work/erlfix" && HOME="$work" FIXTURE_VSN=1.0.0 rebar3 as prod tar >/dev/null)
cd "$root"
go build -o "$work/deployex" .
go build -o "$work/bench" ./bench/dashboard
"$work/bench" -deployex "$work/deployex" -tarball "$work/erlfix/_build/prod/rel/erlfix/erlfix-1.0.0.tar.gz" "$@"
