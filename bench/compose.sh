#!/usr/bin/env bash
# Measures the `wac`-composed component (tests/guests/composed-worker with the guest-adapters `tarfs` and `entropy`
# plugged in) under `pyworkers serve` and stock `wasmtime serve`, beside the native path (`pyworkers serve` of the
# Python hello worker, from its snapshot), in one run, and prints a markdown table followed by every command run.
#
#   tests/tools/install                 # once: the pinned wac and wasmtime into target/tools/bin
#   bench/compose.sh > report.md        # from the repo root, after `cargo build --release`
#   bench/compose.sh --quick            # every phase shortened (a smoke test of the script, not figures)
#
# Options: --seconds N (10, each wrk run) --starts N (5) --quick
# Environment: PYWORKERS_BIN, PYWORKERS_HOME (the snapshot cache), PYWORKERS_WAC, PYWORKERS_WASMTIME, WRK.
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
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

for tool in "$PYWORKERS_BIN" "$WAC" "$WASMTIME_BIN"; do
    [[ -x $tool ]] || { echo "missing $tool: cargo build --release; tests/tools/install" >&2; exit 1; }
done
command -v "$WRK" >/dev/null || { echo "missing wrk (apt-get install wrk)" >&2; exit 1; }

logs=bench/.tools/logs/compose-$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
commands=() # every measured command, echoed in the report

# shellcheck source=bench/lib.sh
source bench/lib.sh

note "== building and composing the components"
guests=target/guests/wasm32-wasip2/release
adapters=target/guest-adapters/wasm32-wasip2/release
cargo build -q --release --target wasm32-wasip2 --manifest-path tests/guests/composed-worker/Cargo.toml \
    --target-dir target/guests
cargo build -q --release --target wasm32-wasip2 --manifest-path guest-adapters/Cargo.toml \
    --target-dir target/guest-adapters
composed=target/compose/composed.wasm
mkdir -p target/compose
plug=("$WAC" plug "$guests/composed_worker.wasm" --plug "$adapters/tarfs_component.wasm"
    --plug "$adapters/entropy_component.wasm" -o "$composed")
record "${plug[@]}"
"${plug[@]}"
size() { printf '%s KiB' "$(($(stat -c %s "$1") / 1024))"; }

pyworkers=("$PYWORKERS_BIN" serve)
wasmtime=("$WASMTIME_BIN" serve -Scli)
wasmtime_reuse=(--max-instance-reuse-count 1000000000)
addr0=(--addr 127.0.0.1:0)
HELLO_BODY=$'hello from a composed worker\n'

note "== warm-up: both servers compile (and cache) the component; pyworkers snapshots the native hello"
start pyworkers-warmup "${pyworkers[@]}" "$composed" "${addr0[@]}"
expect "$URL/" "$HELLO_BODY"
stop
start wasmtime-warmup "${wasmtime[@]}" "${addr0[@]}" "$composed"
expect "$URL/" "$HELLO_BODY"
stop
start native-warmup "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
expect "$URL/" "hello world"
stop

# measure NAME BODY WRK-ARGS -- SERVER-CMD... — start the server, check one answer, run wrk, set CELL.
measure() {
    local name=$1 body=$2 l
    shift 2
    local wrk_args=()
    while [[ $1 != -- ]]; do wrk_args+=("$1"); shift; done
    shift
    l=$(load)
    start "$name" "$@"
    expect "$URL/" "$body"
    wrk_run "$name" "$URL/" "${wrk_args[@]}"
    CELL=$(cell_latency "$l")
    stop
}

fresh=(-t1 -c1 -d"${seconds}s" --latency)
note "== one connection: wrk ${fresh[*]}"
measure py-fresh "$HELLO_BODY" "${fresh[@]}" -- "${pyworkers[@]}" "$composed" "${addr0[@]}"
fresh_py=$CELL
measure wt-fresh "$HELLO_BODY" "${fresh[@]}" -- "${wasmtime[@]}" "${addr0[@]}" "$composed"
fresh_wt=$CELL
measure native-fresh "hello world" "${fresh[@]}" -- "${pyworkers[@]}" "$HELLO" "${addr0[@]}" \
    --max-requests-per-instance 1
fresh_native=$CELL

reuse=(-t2 -c16 -d"${seconds}s" --latency)
note "== throughput: wrk ${reuse[*]}"
measure py-freshc16 "$HELLO_BODY" "${reuse[@]}" -- "${pyworkers[@]}" "$composed" "${addr0[@]}"
freshc16_py=$CELL
measure wt-freshc16 "$HELLO_BODY" "${reuse[@]}" -- "${wasmtime[@]}" "${addr0[@]}" "$composed"
freshc16_wt=$CELL
measure py-reuse "$HELLO_BODY" "${reuse[@]}" -- "${pyworkers[@]}" "$composed" "${addr0[@]}" \
    --max-requests-per-instance 1000000000
reuse_py=$CELL
measure wt-reuse "$HELLO_BODY" "${reuse[@]}" -- "${wasmtime[@]}" "${addr0[@]}" "${wasmtime_reuse[@]}" "$composed"
reuse_wt=$CELL
measure native-reuse "hello world" "${reuse[@]}" -- "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
reuse_native=$CELL

note "== process start -> first 200 (median of $starts)"
starts_cell py-start "${pyworkers[@]}" "$composed" --addr 127.0.0.1:@PORT@
start_py=$CELL
starts_cell wt-start "${wasmtime[@]}" --addr 127.0.0.1:@PORT@ "$composed"
start_wt=$CELL
starts_cell native-start "${pyworkers[@]}" "$HELLO" --addr 127.0.0.1:@PORT@
start_native=$CELL

date=$(date -u '+%Y-%m-%d %H:%M UTC')
cat <<EOF
Measured $date on $(nproc) cores, load average (1, 5, 15 min) shown with each figure.
pyworkers $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $("$WASMTIME_BIN" --version); $("$WAC" --version).
Component sizes: worker $(size "$guests/composed_worker.wasm"), tarfs $(size "$adapters/tarfs_component.wasm"),
entropy $(size "$adapters/entropy_component.wasm"), composed $(size "$composed").

| measurement | composed, \`pyworkers serve\` | composed, \`wasmtime serve\` | native path: Python hello, \`pyworkers serve\` |
|---|---|---|---|
| one connection, \`wrk ${fresh[*]}\` (fresh instance per request) | $fresh_py | $fresh_wt | $fresh_native |
| 16 connections, fresh instance per request, \`wrk ${reuse[*]}\` | $freshc16_py | $freshc16_wt | — |
| throughput with instances reused, \`wrk ${reuse[*]}\` | $reuse_py | $reuse_wt | $reuse_native |
| process start → first 200, median of $starts | $start_py | $start_wt | $start_native |

Configurations: both servers give a component a fresh instance per request by default; for the reuse row
pyworkers gets \`--max-requests-per-instance 1000000000\` and wasmtime \`${wasmtime_reuse[*]}\`. The native path is a
fresh instance per request (\`--max-requests-per-instance 1\`) in the first row and its default reuse in the last.
Logs: \`$logs\`.

Commands, in the order they ran:

\`\`\`sh
$(printf '%s\n' "${commands[@]}")
\`\`\`
EOF
