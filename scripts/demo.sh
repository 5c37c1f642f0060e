#!/usr/bin/env bash
# demo.sh [ARGS...]: sets up the machine, builds build/ (plain Release) and
# runs `cardfab demo`: the sample order of 1,000 campus cards
# (orders/demo.yaml) from wafer lots to issued cards, in build/cardfab-demo
# (replaced at every run), ending with the yields and the HTML report's
# path. With ARGS, `cardfab demo ARGS...` instead (e.g. --chip: one chip's
# life cycle told step by step; --work DIR: another folder).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCARDFAB_SANITIZE=OFF \
	-DCARDFAB_FUZZ=OFF >/dev/null
cmake --build build -j"${CARDFAB_JOBS:-2}" >/dev/null
if [ "$#" -eq 0 ]; then
	exec build/cardfab demo --work build/cardfab-demo
fi
exec build/cardfab demo "$@"
