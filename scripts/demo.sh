#!/usr/bin/env bash
# demo.sh [ARGS...]: sets up the machine, builds build/ (plain Release) and
# runs `cardfab demo ARGS...`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCARDFAB_SANITIZE=OFF \
	-DCARDFAB_FUZZ=OFF >/dev/null
cmake --build build -j"${CARDFAB_JOBS:-2}" >/dev/null
exec build/cardfab demo "$@"
