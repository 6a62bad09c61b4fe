#!/usr/bin/env bash
# Installs the benchmark's peer and load generator into bench/.tools/ (git-ignored), from public packages only,
# and builds the componentize-py hello component. Idempotent: each step is skipped when its result is current.
#
#   wrk             Debian package (apt-get) when `wrk` is not on PATH
#   wasmtime        wasmtime-cli 48.0.8 from crates.io (the Wasmtime pyworkers embeds) -> bench/.tools/bin/wasmtime
#   componentize-py from PyPI, in the venv bench/.tools/venv
#   peer            bench/.tools/peer/hello.wasm (wasi:http/proxy component) and hello.cwasm (precompiled)
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
if [[ -x $tools/bin/wasmtime ]] && "$tools/bin/wasmtime" --version | grep -q " $WASMTIME_VERSION "; then
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

step "peer component (componentize-py, wasi:http/proxy@$WASI_HTTP_VERSION)"
cp "$bench/peer/app.py" "$peer/app.py"
if [[ ! -f $peer/hello.wasm || $bench/peer/app.py -nt $peer/hello.wasm || $bench/peer/world.wit -nt $peer/hello.wasm ]]; then
    # componentize-py's documented flow: generate the bindings next to the app, then componentize the app.
    (
        cd "$peer"
        rm -rf wit_world componentize_py_async_support componentize_py_types.py componentize_py_runtime.pyi poll_loop.py
        run "$componentize" -d wit -w "wasi:http/proxy@$WASI_HTTP_VERSION" bindings .
        run "$componentize" -d wit -w "wasi:http/proxy@$WASI_HTTP_VERSION" componentize app -o hello.wasm
    )
else
    echo "present: $peer/hello.wasm" >&2
fi

step "precompile the peer (wasmtime compile), so its start-up does not include Cranelift"
if [[ ! -f $peer/hello.cwasm || $peer/hello.wasm -nt $peer/hello.cwasm || $wasmtime -nt $peer/hello.cwasm ]]; then
    run "$wasmtime" compile "$peer/hello.wasm" -o "$peer/hello.cwasm"
else
    echo "present: $peer/hello.cwasm" >&2
fi

step "done"
ls -la "$wasmtime" "$peer/hello.wasm" "$peer/hello.cwasm" >&2
