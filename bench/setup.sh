#!/usr/bin/env bash
# Installs the benchmark's peer and load generator into bench/.tools/ (git-ignored), from public packages only,
# and builds the componentize-py peer components. Idempotent: each step is skipped when its result is current.
#
#   wrk             Debian package (apt-get) when `wrk` is not on PATH
#   wasmtime        wasmtime-cli 48.0.8 from crates.io (the Wasmtime pyworkers embeds) -> bench/.tools/bin/wasmtime
#   componentize-py from PyPI, in the venv bench/.tools/venv
#   peer            bench/.tools/peer/{hello,outbound}.wasm (wasi:http/proxy components) and .cwasm (precompiled)
#
# The wasi:* WIT comes from the wasmtime-wasi-http 48.0.8 crate cargo fetched for wasmtime-cli, so the component
# targets exactly the wasi:http that `wasmtime serve` 48 implements.
#
# Usage (from anywhere): bench/setup.sh
set -euo pipefail

WASMTIME_VERSION=48.0.8
WASI_HTTP_VERSION=0.2.12 # the wasi:http package in wasmtime-wasi-http 48.0.8's wit/
COMPONENTIZE_PY_VERSION=0.25.1

bench=$(cd "$(dirname "$0")" && pwd)
tools=$bench/.tools
mkdir -p "$tools"

step() { printf '\n== %s\n' "$*" >&2; }
run() { printf '+ %s\n' "$*" >&2; "$@"; }

step "wrk"
if command -v wrk >/dev/null; then
    echo "wrk present: $(command -v wrk)" >&2
else
    run apt-get install -y wrk
fi

step "wasmtime-cli $WASMTIME_VERSION"
if [[ -x $tools/bin/wasmtime ]] && "$tools/bin/wasmtime" --version | grep -qw "$WASMTIME_VERSION"; then
    echo "present: $("$tools/bin/wasmtime" --version)" >&2
else
    # A long compile (about 15 min on 2 cores); its own target dir keeps pyworkers' build cache untouched.
    CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$bench/../target-wasmtime} \
        run nice -n 10 cargo install --locked "wasmtime-cli@$WASMTIME_VERSION" --root "$tools"
fi
wasmtime=$tools/bin/wasmtime

step "componentize-py $COMPONENTIZE_PY_VERSION"
if [[ ! -x $tools/venv/bin/python ]]; then
    run python3 -m venv "$tools/venv"
fi
if [[ "$("$tools/venv/bin/componentize-py" --version 2>/dev/null)" != "componentize-py $COMPONENTIZE_PY_VERSION" ]]; then
    run "$tools/venv/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
componentize=$tools/venv/bin/componentize-py
"$componentize" --version >&2

step "wasi:http WIT from wasmtime-wasi-http $WASMTIME_VERSION"
peer=$tools/peer
wit_deps=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasmtime-wasi-http-$WASMTIME_VERSION"/wit/deps 2>/dev/null |
    head -n1 || true)
if [[ -z $wit_deps ]]; then
    # wasmtime-cli came from elsewhere (or the registry cache was cleaned): let cargo fetch the crate.
    fetch=$tools/fetch-wit
    mkdir -p "$fetch/src"
    printf '[package]\nname = "fetch-wit"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nwasmtime-wasi-http = "=%s"\n' \
        "$WASMTIME_VERSION" >"$fetch/Cargo.toml"
    touch "$fetch/src/lib.rs"
    run cargo fetch --manifest-path "$fetch/Cargo.toml"
    wit_deps=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasmtime-wasi-http-$WASMTIME_VERSION"/wit/deps | head -n1)
fi
mkdir -p "$peer/wit/deps"
cp "$wit_deps"/*.wit "$peer/wit/deps/"
cp "$bench/peer/world.wit" "$peer/wit/world.wit"
echo "WIT: $wit_deps" >&2

step "peer components (componentize-py, wasi:http/proxy@$WASI_HTTP_VERSION): hello, outbound"
# componentize-py's documented flow: generate the bindings next to the apps, then componentize each app.
cp "$bench/peer/hello.py" "$bench/peer/outbound.py" "$peer/"
if [[ ! -d $peer/wit_world || $bench/peer/world.wit -nt $peer/wit_world ]]; then
    rm -rf "$peer/wit_world"
    (cd "$peer" && run "$componentize" -d wit -w "wasi:http/proxy@$WASI_HTTP_VERSION" bindings .)
fi
for app in hello outbound; do
    if [[ ! -f $peer/$app.wasm || $bench/peer/$app.py -nt $peer/$app.wasm || $peer/wit_world -nt $peer/$app.wasm ]]; then
        (cd "$peer" && run "$componentize" -d wit -w "wasi:http/proxy@$WASI_HTTP_VERSION" componentize "$app" -o "$app.wasm")
    else
        echo "present: $peer/$app.wasm" >&2
    fi
    # Precompiled, so the peer's start-up does not include Cranelift (pyworkers caches its compiled module too).
    if [[ ! -f $peer/$app.cwasm || $peer/$app.wasm -nt $peer/$app.cwasm || $wasmtime -nt $peer/$app.cwasm ]]; then
        run "$wasmtime" compile "$peer/$app.wasm" -o "$peer/$app.cwasm"
    else
        echo "present: $peer/$app.cwasm" >&2
    fi
done

step "done"
ls -la "$wasmtime" "$peer"/*.wasm "$peer"/*.cwasm >&2
