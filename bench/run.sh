#!/usr/bin/env bash
# Measures `pyworkers serve` and `wasmtime serve` (a componentize-py hello component) side by side, in one run on
# one machine, and prints a markdown table followed by every command it ran. Progress goes to stderr, the report
# to stdout, server logs to bench/.tools/logs/<timestamp>/.
#
#   bench/setup.sh                      # once: wrk, wasmtime-cli 48.0.8, componentize-py, the peer component
#   bench/run.sh > report.md            # from the repo root; PYWORKERS_BIN defaults to target/release/pyworkers
#   bench/run.sh --quick                # every phase shortened (a smoke test of the script, not figures)
#
# Options: --fresh-seconds N (10) --reuse-seconds N (15) --rss-seconds N (60) --starts N (5) --quick
# Environment: PYWORKERS_BIN, PYWORKERS_HOME (the snapshot cache), WASMTIME_BIN, PEER (the .cwasm dir), WRK.
set -euo pipefail

cd "$(dirname "$0")/.."

PYWORKERS_BIN=${PYWORKERS_BIN:-target/release/pyworkers}
WASMTIME_BIN=${WASMTIME_BIN:-bench/.tools/bin/wasmtime}
PEER=${PEER:-bench/.tools/peer}
PEER_HELLO=$PEER/hello.cwasm
PEER_OUTBOUND=$PEER/outbound.cwasm
WRK=${WRK:-wrk}
HELLO=bench/workers/hello.py
OUTBOUND=bench/workers/outbound.py

fresh_seconds=10
reuse_seconds=15
rss_seconds=60
starts=5
burst=64
while (($#)); do
    case $1 in
    --fresh-seconds) fresh_seconds=$2; shift 2 ;;
    --reuse-seconds) reuse_seconds=$2; shift 2 ;;
    --rss-seconds) rss_seconds=$2; shift 2 ;;
    --starts) starts=$2; shift 2 ;;
    --quick) fresh_seconds=2 reuse_seconds=2 rss_seconds=3 starts=2; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

for tool in "$PYWORKERS_BIN" "$WASMTIME_BIN" "$PEER_HELLO" "$PEER_OUTBOUND"; do
    [[ -e $tool ]] || { echo "missing $tool: build pyworkers (cargo build --release) and run bench/setup.sh" >&2; exit 1; }
done
command -v "$WRK" >/dev/null || { echo "missing wrk: run bench/setup.sh" >&2; exit 1; }

logs=bench/.tools/logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
commands=() # every measured command, echoed in the report

# shellcheck source=bench/lib.sh
source bench/lib.sh

pyworkers=("$PYWORKERS_BIN" serve)
wasmtime=("$WASMTIME_BIN" serve -Scli --allow-precompiled)
wasmtime_reuse=(--max-instance-reuse-count 1000000000)
addr0=(--addr 127.0.0.1:0)

note "== warm-up: pyworkers makes and caches the hello worker's snapshot; both answer 'hello world'"
start pyworkers-warmup "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
expect "$URL/" "hello world"
stop
start wasmtime-warmup "${wasmtime[@]}" "${addr0[@]}" "$PEER_HELLO"
expect "$URL/" "hello world"
stop

note "== fresh instance per request: wrk -t1 -c1 -d${fresh_seconds}s --latency"
l=$(load)
start pyworkers-fresh "${pyworkers[@]}" "$HELLO" "${addr0[@]}" --max-requests-per-instance 1
expect "$URL/" "hello world"
wrk_run pyworkers-fresh "$URL/" -t1 -c1 -d"${fresh_seconds}s" --latency
fresh_py=$(cell_latency "$l")
stop
l=$(load)
start wasmtime-fresh "${wasmtime[@]}" "${addr0[@]}" "$PEER_HELLO"
expect "$URL/" "hello world"
wrk_run wasmtime-fresh "$URL/" -t1 -c1 -d"${fresh_seconds}s" --latency
fresh_wt=$(cell_latency "$l")
stop

note "== reused instances: wrk -t2 -c16 -d${reuse_seconds}s --latency"
l=$(load)
start pyworkers-reuse "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
expect "$URL/" "hello world"
wrk_run pyworkers-reuse "$URL/" -t2 -c16 -d"${reuse_seconds}s" --latency
reuse_py=$(cell_latency "$l")
stop
l=$(load)
start wasmtime-reuse "${wasmtime[@]}" "${addr0[@]}" "${wasmtime_reuse[@]}" "$PEER_HELLO"
expect "$URL/" "hello world"
wrk_run wasmtime-reuse "$URL/" -t2 -c16 -d"${reuse_seconds}s" --latency
reuse_wt=$(cell_latency "$l")
stop

note "== process start -> first 200 (median of $starts)"
starts_cell pyworkers-start "${pyworkers[@]}" "$HELLO" --addr 127.0.0.1:@PORT@
start_py=$CELL
starts_cell wasmtime-start "${wasmtime[@]}" --addr 127.0.0.1:@PORT@ "$PEER_HELLO"
start_wt=$CELL

note "== RSS after ${rss_seconds}s of wrk -t2 -c64 (the reuse configurations above)"
rss_cell() { # NAME URL — set CELL to VmRSS idle, at the end of the load, and the peak (VmHWM), of server $PID
    local name=$1 url=$2 idle at_end peak l
    idle=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$PID/status")
    l=$(load)
    record "$WRK" -t2 -c64 -d"${rss_seconds}s" "$url"
    "$WRK" -t2 -c64 -d"${rss_seconds}s" "$url" >"$logs/$name.wrk" &
    local wrk_pid=$!
    # Read while the load is still on: the last second of it.
    sleep "$((rss_seconds > 1 ? rss_seconds - 1 : 1))"
    at_end=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$PID/status")
    peak=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$PID/status")
    wait "$wrk_pid"
    CELL=$(printf '%s MiB (idle %s MiB, peak %s MiB; load %s)' "$at_end" "$idle" "$peak" "$l")
}
start pyworkers-rss "${pyworkers[@]}" "$HELLO" "${addr0[@]}"
expect "$URL/" "hello world"
rss_cell pyworkers-rss "$URL/"
rss_py=$CELL
stop
start wasmtime-rss "${wasmtime[@]}" "${addr0[@]}" "${wasmtime_reuse[@]}" "$PEER_HELLO"
expect "$URL/" "hello world"
rss_cell wasmtime-rss "$URL/"
rss_wt=$CELL
stop

note "== outbound: $burst concurrent requests, each awaiting a 100 ms upstream"
burst_cell() { # NAME URL — set CELL to the wall time of $burst concurrent requests to URL, all expected 200
    local name=$1 url=$2 l t0 t1 ok slowest
    l=$(load)
    # The peer reads the upstream from this header (its environment is frozen at build time); pyworkers ignores it.
    local cmd=(curl -s --parallel --parallel-immediate --parallel-max "$burst" -H "x-upstream: ${upstream#http://}"
        -o "$logs/$name-#1" -w '%{http_code} %{time_total}\n' "$url[1-$burst]")
    record "${cmd[@]}"
    t0=$(date +%s%N)
    "${cmd[@]}" >"$logs/$name.codes" 2>"$logs/$name.err"
    t1=$(date +%s%N)
    ok=$(grep -c '^200 ' "$logs/$name.codes" || true)
    slowest=$(awk '{ if ($2 > m) m = $2 } END { printf "%.0f", m * 1000 }' "$logs/$name.codes")
    CELL="$(((t1 - t0) / 1000000)) ms for all $burst ($ok × 200, slowest $slowest ms; load $l)"
}
start upstream python3 bench/upstream/slow.py 0.1
upstream_pid=$PID
upstream=$URL
start pyworkers-outbound "${pyworkers[@]}" "$OUTBOUND" "${addr0[@]}" --allow-host 127.0.0.1 --var "UPSTREAM=$upstream/"
expect "$URL/" "upstream"
burst_cell pyworkers-burst "$URL/?"
outbound_py=$CELL
stop
start wasmtime-outbound "${wasmtime[@]}" "${addr0[@]}" "$PEER_OUTBOUND"
curl -s -H "x-upstream: ${upstream#http://}" "$URL/" | grep -qx upstream || { note "peer outbound failed"; exit 1; }
burst_cell wasmtime-burst "$URL/?"
outbound_wt=$CELL
stop
PID=$upstream_pid
stop

date=$(date -u '+%Y-%m-%d %H:%M UTC')
cat <<EOF
Measured $date on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), a shared
machine: other jobs ran at the same time, so the load average (1, 5, 15 min) is shown with each figure.
pyworkers: \`$("$PYWORKERS_BIN" --version 2>/dev/null || echo "$PYWORKERS_BIN")\`
($(git rev-parse --short HEAD 2>/dev/null || echo '?')); peer: $("$WASMTIME_BIN" --version) serving a
$(bench/.tools/venv/bin/componentize-py --version 2>/dev/null || echo componentize-py) component (precompiled).

| measurement | pyworkers serve | wasmtime serve + componentize-py |
|---|---|---|
| fresh instance per request, \`wrk -t1 -c1 -d${fresh_seconds}s\` | $fresh_py | $fresh_wt |
| reused instances, \`wrk -t2 -c16 -d${reuse_seconds}s\` | $reuse_py | $reuse_wt |
| process start → first 200, median of $starts | $start_py | $start_wt |
| RSS at the end of ${rss_seconds} s of \`wrk -t2 -c64\` | $rss_py | $rss_wt |
| outbound: $burst concurrent requests, each awaiting a 100 ms upstream | $outbound_py | $outbound_wt |

Configurations: pyworkers fresh = \`--max-requests-per-instance 1\`, otherwise its defaults (instances reused,
\`--instances\` = one per core). wasmtime serve fresh = its default for a WASIp2 component (one instance per
request); reused = \`--max-instance-reuse-count 1000000000\` (a WASIp2 instance still takes one request at a time,
so wasmtime runs as many instances as there are concurrent requests). Logs: \`$logs\`.

Commands, in the order they ran:

\`\`\`sh
$(printf '%s\n' "${commands[@]}")
\`\`\`
EOF
