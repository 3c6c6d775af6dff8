#!/usr/bin/env bash
# Prints the release package's numbers: body bytes of 100 idle polls against
# the in-process S3 and GCS fakes (target 0) and unpack throughput of a
# ~30 MB release. Usage: bench/release/run.sh [go test flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go test -run '^$' -bench . -benchtime 100x "$@" ./app/release/
