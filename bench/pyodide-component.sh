#!/usr/bin/env bash
# Measures the Pyodide component (`pyworkers component`) under stock `wasmtime run`, beside the native
# `pyworkers run -c` of the same program, in one run, and prints a markdown table followed by every command run.
# Each figure is the median of --runs process runs: wall time from exec to exit, and peak RSS.
#
#   tests/tools/install                       # once: the pinned wasmtime into target/tools/bin
#   bench/pyodide-component.sh > report.md    # from the repo root, after `cargo build --release`
#
# Options: --runs N (7)
# Environment: PYWORKERS_BIN, PYWORKERS_HOME, PYWORKERS_WASMTIME.
set -euo pipefail

cd "$(dirname "$0")/.."

PYWORKERS_BIN=${PYWORKERS_BIN:-target/release/pyworkers}
WASMTIME_BIN=${PYWORKERS_WASMTIME:-target/tools/bin/wasmtime}
PROGRAM="import json, re, sys; print(json.dumps({'hello': re.sub('o', '0', 'world'), 'v': sys.version_info[:2]}))"
runs=7
while (($#)); do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
commands=()
note() { commands+=("$*"); }

# Median of the `%e %M` lines (seconds, KiB) GNU time wrote for each run.
median() { sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
measure() {
    : > "$dir/times"
    for _ in $(seq "$runs"); do
        /usr/bin/time -f '%e %M' -a -o "$dir/times" "$@" > /dev/null
    done
    echo "$(cut -d' ' -f1 "$dir/times" | median) s, $(($(cut -d' ' -f2 "$dir/times" | median) / 1024)) MiB"
}

start=$(date +%s.%N)
"$PYWORKERS_BIN" component -c "$PROGRAM" -o "$dir/program.wasm" 2> /dev/null
build=$(echo "$(date +%s.%N) - $start" | bc)
note "$PYWORKERS_BIN component -c \"\$PROGRAM\" -o program.wasm"
size=$(($(stat -c %s "$dir/program.wasm") / 1024))

start=$(date +%s.%N)
"$WASMTIME_BIN" compile -W exceptions=y,gc=y "$dir/program.wasm" -o "$dir/program.cwasm"
compile=$(echo "$(date +%s.%N) - $start" | bc)
note "$WASMTIME_BIN compile -W exceptions=y,gc=y program.wasm -o program.cwasm"

expected=$("$PYWORKERS_BIN" run -c "$PROGRAM")
got=$("$WASMTIME_BIN" run --allow-precompiled -W exceptions=y,gc=y "$dir/program.cwasm")
[[ $got == "$expected" ]] || { echo "the component printed '$got', pyworkers run printed '$expected'" >&2; exit 1; }

component=$(measure "$WASMTIME_BIN" run --allow-precompiled -W exceptions=y,gc=y "$dir/program.cwasm")
note "$WASMTIME_BIN run --allow-precompiled -W exceptions=y,gc=y program.cwasm   # x$runs"
native=$(measure "$PYWORKERS_BIN" run -c "$PROGRAM")
note "$PYWORKERS_BIN run -c \"\$PROGRAM\"   # x$runs"

cat << TABLE
| what | figure |
|---|---|
| component size | $size KiB |
| \`pyworkers component\` (assemble; Pyodide already cached) | $(printf %.2f "$build") s |
| \`wasmtime compile\` of the component (Cranelift, once) | $(printf %.1f "$compile") s |
| \`wasmtime run\` of the precompiled component: exec → exit (boots CPython, no snapshot), peak RSS | $component |
| \`pyworkers run -c\` (native, from its snapshot): exec → exit, peak RSS | $native |

PROGRAM=\`$PROGRAM\`; median of $runs runs each.

Commands:
TABLE
printf '    %s\n' "${commands[@]}"
