#!/usr/bin/env bash
# Hot upgrade wall time of one replica, 1.0.0 → 2.0.0, Erlang and Elixir:
# deployex's whole hot path against the bare release_handler sequence (see
# BenchmarkHotUpgrade in app/deployer/hot_bench_test.go). Each iteration
# boots a fresh replica, so keep the count small.
# Usage: bench/hotupgrade/run.sh [go test flags...]   (default -benchtime 5x)
set -euo pipefail
cd "$(dirname "$0")/../.."
# -ergo.warning=false: ergo's warnings about OTP's map keys would break the
# lines of numbers.
exec go test -run '^$' -bench BenchmarkHotUpgrade -benchtime 5x "$@" ./app/deployer/ -args -ergo.warning=false
