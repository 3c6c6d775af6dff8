#!/usr/bin/env bash
# Runs every benchmark script and program under bench/ and prints their numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./bench/startup
