//! Packs `bundle/` into the tar archive the worker embeds (`$OUT_DIR/bundle.tar`), as a worker bundle would
//! arrive: the archive is data, and reading it is the imported `tarfs` component's job.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("bundle.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&out).unwrap());
    builder.mode(tar::HeaderMode::Deterministic);
    builder.append_dir_all(".", "bundle").unwrap();
    builder.finish().unwrap();
    println!("cargo:rerun-if-changed=bundle");
}
