#!/usr/bin/env bash
# Every benchmark, each printing its ratio against the anchor tool measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/patch-engine
bash bench/testbed
bash bench/build
bash bench/autopkgtest/run
bash bench/matrix/run
bash bench/verify
