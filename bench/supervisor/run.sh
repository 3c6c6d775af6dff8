#!/bin/sh
# Builds the erlfix fixture release from testdata/ (in a temporary copy, as
# the test fixtures do) and runs the supervisor benchmark on it.
#   bench/supervisor/run.sh [-replicas 3] [-rounds 20] [-supervisord=false]
# supervisord is compared when installed (apt-get install -y supervisor).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/testdata/erlfix" "$root/testdata/shared" "$work/"
(cd "$work/erlfix" && HOME="$work" FIXTURE_VSN=1.0.0 rebar3 as prod tar >/dev/null)
cd "$root"
go build -o "$work/bench" ./bench/supervisor
go build -o "$work/deployex" .
"$work/bench" -tarball "$work/erlfix/_build/prod/rel/erlfix/erlfix-1.0.0.tar.gz" -program "$work/deployex" "$@"
