//! Pack the runtime's own Python (`python/`) into a tar archive that the binary embeds and mounts as a tarfs.

use std::path::Path;

fn main() {
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
