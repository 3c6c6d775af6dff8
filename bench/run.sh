#!/usr/bin/env bash
# Runs every benchmark under bench/ and prints their numbers. Each needs the
# same Debian packages as the tests (Erlang, rebar3, wrk for the dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/startup
bench/supervisor/run.sh
bench/release/run.sh
go run ./bench/logtail
bench/dashboard/run.sh
go test -run '^$' -bench . -benchtime 2000x ./bench/otp
go test -run '^$' -bench . -benchtime 12x ./bench/otpwire
go test -run "^$" -bench . ./views/ ./app/web/
go test -run "^$" -bench FullDeploymentOverhead -benchtime 5x ./app/deployer
bench/hotupgrade/run.sh
