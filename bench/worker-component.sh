#!/usr/bin/env bash
# Measures a Python worker served as a component: `pyworkers component --worker bench/workers/hello.py` (Pyodide,
# the shim and the worker, exporting pyworkers:runtime/reactor) with the worker adapter (guest-adapters/worker)
# `wac plug`ged on, under `pyworkers serve` and stock `wasmtime serve`, beside the native path (`pyworkers serve`
# of the same worker from its snapshot), in one run; prints a markdown table followed by every command run.
#
#   tests/tools/install                          # once: the pinned wac and wasmtime into target/tools/bin
#   bench/worker-component.sh > report.md        # from the repo root, after `cargo build --release`
#   bench/worker-component.sh --quick            # every phase shortened (a smoke test of the script, not figures)
#
# Options: --seconds N (10, each wrk run) --starts N (5) --quick
# Environment: PYWORKERS_BIN, PYWORKERS_HOME, PYWORKERS_WAC, PYWORKERS_WASMTIME, WRK.
set -euo pipefail

cd "$(dirname "$0")/.."

PYWORKERS_BIN=${PYWORKERS_BIN:-target/release/pyworkers}
WAC=${PYWORKERS_WAC:-target/tools/bin/wac}
WASMTIME_BIN=${PYWORKERS_WASMTIME:-target/tools/bin/wasmtime}
WRK=${WRK:-wrk}
HELLO=bench/workers/hello.py

seconds=10
starts=5
while (($#)); do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --starts) starts=$2; shift 2 ;;
    --quick) seconds=2 starts=2; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

for tool in "$PYWORKERS_BIN" "$WAC" "$WASMTIME_BIN"; do
    [[ -x $tool ]] || { echo "missing $tool: cargo build --release; tests/tools/install" >&2; exit 1; }
done
command -v "$WRK" >/dev/null || { echo "missing wrk (apt-get install wrk)" >&2; exit 1; }

logs=bench/.tools/logs/worker-component-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
commands=() # every measured command, echoed in the report

# shellcheck source=bench/lib.sh
source bench/lib.sh

note "== building the worker's component and composing it with the adapter"
adapters=target/guest-adapters/wasm32-wasip2/release
cargo build -q --release --target wasm32-wasip2 --manifest-path guest-adapters/Cargo.toml \
    --target-dir target/guest-adapters
mkdir -p target/worker-component
worker=target/worker-component/hello-pyodide.wasm
served=target/worker-component/hello-served.wasm
build=("$PYWORKERS_BIN" component --worker "$HELLO" -o "$worker")
record "${build[@]}"
t0=$(date +%s%N)
"${build[@]}" 2>"$logs/component.err"
assemble_ms=$((($(date +%s%N) - t0) / 1000000))
plug=("$WAC" plug "$adapters/worker_adapter.wasm" --plug "$worker" -o "$served")
record "${plug[@]}"
"${plug[@]}"
size() { printf "%'d KiB" "$(($(stat -c %s "$1") / 1024))"; }

pyworkers=("$PYWORKERS_BIN" serve)
# Pyodide's exception handling, and pooling-allocator room for its three tables.
wasmtime=("$WASMTIME_BIN" serve -Scli -W exceptions=y,gc=y
    -O pooling-max-tables-per-module=3,pooling-table-elements=65536,pooling-max-core-instance-size=4194304)
wasmtime_reuse=(--max-instance-reuse-count 1000000000)
addr0=(--addr 127.0.0.1:0)
BODY="hello world"

note "== cold: wasmtime serve with its compile cache off, process start -> first 200 (compiles the component)"
starts_cell_cold() { local starts=1; starts_cell "$@"; }
starts_cell_cold wt-cold "${wasmtime[@]}" -C cache=n --addr 127.0.0.1:@PORT@ "$served"
cold_wt=$CELL

note "== warm-up: both servers compile (and cache) the component; pyworkers snapshots the native hello"
start pyworkers-warmup "${pyworkers[@]}" "$served" "${addr0[@]}"
expect "$URL/" "$BODY"
stop
start wasmtime-warmup "${wasmtime[@]}" "${addr0[@]}" "$served"
expect "$URL/" "$BODY"
stop
start native-warmup "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
expect "$URL/" "$BODY"
stop

# measure NAME WRK-ARGS -- SERVER-CMD... — start the server, check one answer, run wrk, set CELL and RSS (the
# server's resident set after the run, MiB).
measure() {
    local name=$1 l
    shift
    local wrk_args=()
    while [[ $1 != -- ]]; do wrk_args+=("$1"); shift; done
    shift
    l=$(load)
    start "$name" "$@"
    expect "$URL/" "$BODY"
    # Reused instances are made (each booting CPython, ~0.2 s in a component) on the first requests: fill the
    # pool first, so the row measures reuse rather than the boots the fresh-instance row already shows.
    if [[ $name == *-reuse ]]; then "$WRK" -t2 -c16 -d2s "$URL/" >/dev/null; fi
    wrk_run "$name" "$URL/" "${wrk_args[@]}"
    CELL="$(cell_latency "$l"), RSS $(($(awk '/VmRSS/ { print $2 }' "/proc/$PID/status") / 1024)) MiB"
    stop
}

fresh=(-t1 -c1 -d"${seconds}s" --latency)
note "== one connection, a fresh instance per request: wrk ${fresh[*]}"
measure py-fresh "${fresh[@]}" -- "${pyworkers[@]}" "$served" "${addr0[@]}"
fresh_py=$CELL
measure wt-fresh "${fresh[@]}" -- "${wasmtime[@]}" "${addr0[@]}" "$served"
fresh_wt=$CELL
measure native-fresh "${fresh[@]}" -- "${pyworkers[@]}" "$HELLO" "${addr0[@]}" --max-requests-per-instance 1
fresh_native=$CELL

reuse=(-t2 -c16 -d"${seconds}s" --latency)
note "== throughput, instances reused: wrk ${reuse[*]}"
measure py-reuse "${reuse[@]}" -- "${pyworkers[@]}" "$served" "${addr0[@]}" --max-requests-per-instance 1000000000
reuse_py=$CELL
measure wt-reuse "${reuse[@]}" -- "${wasmtime[@]}" "${addr0[@]}" "${wasmtime_reuse[@]}" "$served"
reuse_wt=$CELL
measure native-reuse "${reuse[@]}" -- "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
reuse_native=$CELL

note "== process start -> first 200 (median of $starts; compiled code cached by each server)"
starts_cell py-start "${pyworkers[@]}" "$served" --addr 127.0.0.1:@PORT@
start_py=$CELL
starts_cell wt-start "${wasmtime[@]}" --addr 127.0.0.1:@PORT@ "$served"
start_wt=$CELL
starts_cell native-start "${pyworkers[@]}" "$HELLO" --addr 127.0.0.1:@PORT@
start_native=$CELL

date=$(date -u '+%Y-%m-%d %H:%M UTC')
cat <<EOT
Measured $date on $(nproc) cores, load average (1, 5, 15 min) shown with each figure.
pyworkers $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $("$WASMTIME_BIN" --version); $("$WAC" --version).
Sizes: Pyodide worker component $(size "$worker"), adapter $(size "$adapters/worker_adapter.wasm"), composed
$(size "$served"); \`pyworkers component --worker\` took $assemble_ms ms.

| measurement | composed, \`pyworkers serve\` | composed, \`wasmtime serve\` | native path, \`pyworkers serve\` |
|---|---|---|---|
| one connection, fresh instance per request, \`wrk ${fresh[*]}\` | $fresh_py | $fresh_wt | $fresh_native |
| instances reused, \`wrk ${reuse[*]}\` | $reuse_py | $reuse_wt | $reuse_native |
| process start → first 200, median of $starts (compiled code cached) | $start_py | $start_wt | $start_native |
| process start → first 200, compile cache off (\`-C cache=n\`) | — | $cold_wt | — |

Configurations: both servers give a component a fresh instance per request by default; for the reuse row (measured
after a 2 s warm-up with the same connections, which makes the reused instances)
pyworkers gets \`--max-requests-per-instance 1000000000\` and wasmtime \`${wasmtime_reuse[*]}\`. The native path is a
fresh instance per request (\`--max-requests-per-instance 1\`) in the first row and its default reuse in the second.
Logs: \`$logs\`.

Commands, in the order they ran:

\`\`\`sh
$(printf '%s\n' "${commands[@]}")
\`\`\`
EOT
