# Helpers shared by bench/run.sh and bench/compose.sh (sourced, not run): starting servers and reading their
# address, wrk runs and their percentiles, process start -> first 200, medians. The caller sets $logs and $WRK;
# every measured command is appended to ${commands[@]} so the report can print it.

note() { printf '%s\n' "$*" >&2; }
record() { # shell-quoted, so a recorded command can be pasted back
    local quoted
    quoted=$(printf '%q ' "$@")
    commands+=("${quoted% }")
    note "\$ ${quoted% }"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# The servers started so far, stopped on any exit.
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# start NAME CMD... — spawn a server, wait for the address it announces (pyworkers: `serving http://ADDR` on
# stdout; wasmtime: `Serving HTTP on http://ADDR/` on stderr; the upstream: like pyworkers) and set PID and URL.
start() {
    local name=$1
    shift
    record "$@"
    "$@" >"$logs/$name.out" 2>"$logs/$name.err" &
    PID=$!
    pids+=("$PID")
    local i
    for ((i = 0; i < 12000; i++)); do
        URL=$(grep -ohE '[Ss]erving (HTTP on )?http://[0-9.:]+' "$logs/$name.out" "$logs/$name.err" | head -n1 |
            grep -oE 'http://[0-9.:]+' || true)
        [[ -n $URL ]] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.01
    done
    note "$name did not start; its stderr:"
    tail -n 20 "$logs/$name.err" >&2
    exit 1
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

# expect URL BODY — one request must answer 200 with exactly BODY, or the figures would measure an error page.
expect() {
    local got
    got=$(curl -s -w ' %{http_code}' "$1")
    if [[ $got != "$2 200" ]]; then
        note "expected '$2 200' from $1, got '$got'"
        exit 1
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wrk_run NAME URL WRK-ARGS... — run wrk, keep its output in $logs/NAME.wrk and set P50, P99 (ms), RPS, ERRORS.
wrk_run() {
    local name=$1 url=$2
    shift 2
    record "$WRK" "$@" "$url"
    "$WRK" "$@" "$url" >"$logs/$name.wrk"
    read -r P50 P99 RPS ERRORS < <(awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000;
            if (v ~ /s$/) return v * 1000; return v
        }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) } $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx or 3xx responses:/ { errors += $NF }
        /Socket errors:/ { for (i = 3; i <= NF; i += 2) errors += $(i + 1) }
        END { printf "%.2f %.2f %.0f %d\n", p50, p99, rps, errors }' "$logs/$name.wrk")
}

cell_latency() { # p50/p99 and req/s from the last wrk_run
    local errors=""
    ((ERRORS == 0)) || errors=", **$ERRORS errors**"
    printf 'p50 %s ms, p99 %s ms, %s req/s%s (load %s)' "$P50" "$P99" "$RPS" "$errors" "$1"
}

# start_to_200 NAME CMD-WITH-@PORT@... — spawn the server on a free port and poll it with curl until it answers
# 200; set MS to the milliseconds from spawn to that answer. Poll resolution: one curl plus 5 ms.
start_to_200() {
    local name=$1 port t0 t1 code i
    shift
    port=$(free_port)
    local cmd=("${@//@PORT@/$port}")
    t0=$(date +%s%N)
    "${cmd[@]}" >"$logs/$name.out" 2>"$logs/$name.err" &
    PID=$!
    pids+=("$PID")
    for ((i = 0; i < 20000; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/" || true)
        [[ $code == 200 ]] && break
        kill -0 "$PID" 2>/dev/null || { note "$name exited before answering"; tail -n 20 "$logs/$name.err" >&2; exit 1; }
        sleep 0.005
    done
    t1=$(date +%s%N)
    stop
    MS=$(((t1 - t0) / 1000000))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

starts_cell() { # NAME CMD... — set CELL to the median and range of $starts (the caller's) start-ups, in ms
    local name=$1 i l times=()
    shift
    record "$@"
    l=$(load)
    for ((i = 1; i <= starts; i++)); do
        start_to_200 "$name-$i" "$@"
        times+=("$MS")
    done
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
    CELL=$(printf '%s ms (runs: %s; load %s)' "$(printf '%s\n' "${times[@]}" | median)" "${sorted% }" "$l")
}
