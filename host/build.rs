//! Pack the runtime's own Python (`python/`) into a tar archive that the binary embeds and mounts as a tarfs, and
//! build the Pyodide component's shim (`guest-adapters/emscripten-shim`, `wasm32-wasip1`) for the binary to embed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    shim();
    let src = Path::new("python");
    println!("cargo:rerun-if-changed=python");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("pyworkers_lib.tar");
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    collect(src, &mut files);
    files.sort();
    for path in files {
        let rel = path.strip_prefix(src).unwrap();
        let data = std::fs::read(&path).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append_data(&mut header, rel, &data[..]).unwrap();
    }
    std::fs::write(out, builder.into_inner().unwrap()).unwrap();
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                collect(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "py") {
            out.push(path);
        }
    }
}

/// Build the shim into `target/guest-adapters` (where `guest-adapters/README.md` builds it by hand) and copy it to
/// `OUT_DIR/emscripten_shim.wasm`. If it cannot be built — most likely the `wasm32-wasip1` target is not installed
/// — the file is left empty and `pyworkers component` says how to fix it; nothing else needs the shim.
fn shim() {
    for path in [
        "../guest-adapters/emscripten-shim",
        "../guest-adapters/Cargo.toml",
        "../guest-adapters/Cargo.lock",
        "../crates/emscripten",
        "../crates/vfs",
        "../crates/tarfs",
        "../crates/entropy",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let out = out_dir.join("emscripten_shim.wasm");
    // OUT_DIR is TARGET/PROFILE/build/pyworkers-HASH/out: the shim goes next to the profiles.
    let target = out_dir
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "build"))
        .and_then(|build| build.parent()?.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.join("shim-target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "emscripten-shim", "--target", "wasm32-wasip1", "--manifest-path"])
        .arg(Path::new("..").join("guest-adapters/Cargo.toml"))
        .arg("--target-dir")
        .arg(target.join("guest-adapters"))
        // The host's flags are not the guest's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .status();
    let built = target.join("guest-adapters/wasm32-wasip1/release/emscripten_shim.wasm");
    match status {
        Ok(s) if s.success() => {
            std::fs::copy(&built, &out).unwrap();
        }
        other => {
            println!("cargo:warning=the Pyodide component's shim was not built ({other:?}); `rustup target add wasm32-wasip1` and rebuild to use `pyworkers component`");
            std::fs::write(&out, b"").unwrap();
        }
    }
}
