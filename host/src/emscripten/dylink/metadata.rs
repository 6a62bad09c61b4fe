//! The `dylink.0` custom section of an Emscripten side module: how much memory and table it needs, which
//! libraries must be loaded first, and which imports may stay undefined (weak). Malformed input is an error that
//! says so, never a panic.

use std::collections::HashSet;
use wasmparser::{Dylink0Subsection, KnownCustom, Parser, Payload, SymbolFlags};

/// What `dylink.0` says about a side module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Bytes of linear memory to reserve for its data (`__memory_base` points at them).
    pub memory_size: u32,
    /// Alignment of that memory, as a power of two.
    pub memory_align: u32,
    /// Function-table slots to reserve (`__table_base` is the first).
    pub table_size: u32,
    /// Alignment of the table slots, as a power of two (Emscripten ignores it; so do we).
    pub table_align: u32,
    /// Libraries to load before this one.
    pub needed: Vec<String>,
    /// Exports that are thread-local.
    pub tls_exports: HashSet<String>,
    /// Imports that may be left undefined.
    pub weak_imports: HashSet<String>,
    /// Where to look for `needed` libraries (`$ORIGIN` is the module's directory).
    pub runtime_paths: Vec<String>,
}

impl Metadata {
    /// Read the `dylink.0` section of `wasm`; an error if there is none or it is malformed.
    pub fn parse(wasm: &[u8]) -> Result<Metadata, String> {
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err("not a WebAssembly module".into());
        }
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload.map_err(|e| format!("malformed module: {e}"))?;
            match payload {
                Payload::CustomSection(section) => {
                    if let KnownCustom::Dylink0(reader) = section.as_known() {
                        return Self::from_reader(reader);
                    }
                }
                // `dylink.0` must come first; anything else means this is not a side module.
                Payload::Version { .. } => {}
                _ => break,
            }
        }
        Err("not an Emscripten side module (no `dylink.0` section before the module's other sections)".into())
    }

    fn from_reader(reader: wasmparser::Dylink0SectionReader<'_>) -> Result<Metadata, String> {
        let mut meta = Metadata::default();
        for sub in reader {
            let sub = sub.map_err(|e| format!("malformed `dylink.0` section: {e}"))?;
            match sub {
                Dylink0Subsection::MemInfo(m) => {
                    meta.memory_size = m.memory_size;
                    meta.memory_align = m.memory_alignment;
                    meta.table_size = m.table_size;
                    meta.table_align = m.table_alignment;
                }
                Dylink0Subsection::Needed(libs) => meta.needed = libs.iter().map(|s| s.to_string()).collect(),
                Dylink0Subsection::ExportInfo(exports) => {
                    for e in exports {
                        if e.flags.contains(SymbolFlags::TLS) {
                            meta.tls_exports.insert(e.name.to_string());
                        }
                    }
                }
                Dylink0Subsection::ImportInfo(imports) => {
                    for i in imports {
                        if i.flags.contains(SymbolFlags::BINDING_WEAK) {
                            meta.weak_imports.insert(i.field.to_string());
                        }
                    }
                }
                Dylink0Subsection::RuntimePath(paths) => {
                    meta.runtime_paths = paths.iter().map(|s| s.to_string()).collect()
                }
                Dylink0Subsection::Unknown { .. } => {}
            }
        }
        if meta.memory_align >= 32 {
            return Err(format!("`dylink.0` asks for a memory alignment of 2^{}", meta.memory_align));
        }
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_info_needed_and_weak_imports() {
        let wasm = wat::parse_str(
            r#"(module
                (@dylink.0
                  (mem-info (memory 100 3) (table 2 0))
                  (needed "libfoo.so")
                  (import-info "env" "maybe" binding-weak))
                (import "env" "maybe" (func)))"#,
        )
        .unwrap();
        let meta = Metadata::parse(&wasm).unwrap();
        assert_eq!((meta.memory_size, meta.memory_align, meta.table_size), (100, 3, 2));
        assert_eq!(meta.needed, vec!["libfoo.so".to_string()]);
        assert!(meta.weak_imports.contains("maybe"));
    }

    #[test]
    fn refuses_modules_without_dylink_and_garbage() {
        assert!(Metadata::parse(&wat::parse_str("(module)").unwrap()).is_err());
        assert!(Metadata::parse(b"\0asm\x01\0\0\0\0\x05").is_err());
        assert!(Metadata::parse(b"junk").is_err());
        // A dylink.0 section whose mem-info is cut short.
        let bad = [b"\0asm\x01\0\0\0".as_slice(), &[0, 11, 8], b"dylink.0", &[1, 5, 0x80]].concat();
        assert!(Metadata::parse(&bad).is_err());
    }
}
