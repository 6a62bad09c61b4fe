//! The standard library compiled to bytecode: built at setup, complete, reproducible, used by imports, and rebuilt
//! when damaged.

use crate::support::{home, run_code};
use pyworkers::runtime::Runtime;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every regular file of a tar archive, by path.
fn tar_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in tar::Archive::new(bytes).entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() == tar::EntryType::Regular {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
    }
    files
}

#[test]
fn setup_builds_an_archive_holding_the_whole_zip_and_its_bytecode() {
    let runtime = Runtime::ensure(home()).unwrap();
    let path = runtime.stdlib_bytecode_path();
    assert!(path.is_file(), "{} missing after setup", path.display());
    let mut stamp = path.clone().into_os_string();
    stamp.push(".stamp");
    assert!(Path::new(&stamp).is_file(), "the archive has no stamp");
    let files = tar_files(&std::fs::read(&path).unwrap());

    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(runtime.stdlib_zip_path()).unwrap()).unwrap();
    let mut sources = 0;
    for i in 0..zip.len() {
        // Raw, inflated here: the crate is built without its compression features.
        let member = zip.by_index_raw(i).unwrap();
        if member.is_dir() {
            continue;
        }
        let name = member.name().to_string();
        let mut data = Vec::new();
        // Pyodide's zip holds stored directories and deflated files only.
        if member.compression() == zip::CompressionMethod::Stored {
            Read::read_to_end(&mut { member }, &mut data)
        } else {
            flate2::read::DeflateDecoder::new(member).read_to_end(&mut data)
        }
        .unwrap();
        assert!(
            files.get(&name) == Some(&data),
            "{name} differs from the zip or is missing"
        );
        if let Some(stem) = name.strip_suffix(".py") {
            sources += 1;
            let (dir, file) = stem.rsplit_once('/').map_or(("", stem), |(d, f)| (d, f));
            let pyc = format!(
                "{dir}{}__pycache__/{file}.cpython-314.pyc",
                if dir.is_empty() { "" } else { "/" }
            );
            assert!(
                files.contains_key(&pyc),
                "{pyc} missing: {name} did not compile"
            );
        }
    }
    assert!(sources > 500, "only {sources} sources in the zip");
}

#[test]
fn building_again_gives_identical_bytes() {
    let runtime = Runtime::ensure(home()).unwrap();
    let built = pyworkers::stdlib::build(crate::support::pyodide()).unwrap();
    assert!(built.compiled > 500, "{} compiled", built.compiled);
    assert!(
        built.skipped.is_empty(),
        "every standard module compiles: {:?}",
        built.skipped
    );
    // The cached archive came from `pyworkers setup`, another process: same bytes.
    assert!(
        built.tar == std::fs::read(runtime.stdlib_bytecode_path()).unwrap(),
        "the build is not reproducible"
    );
}

#[test]
fn stdlib_modules_load_from_unchecked_bytecode() {
    // Compiling any standard module from source fails the import; a control shows that it would.
    let code = r#"
import builtins, sys
real_compile = builtins.compile
def compile(source, filename, *args, **kwargs):
    if str(filename).startswith("/lib/"):
        raise AssertionError(f"compiled {filename} from source")
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = compile
import colorsys, fractions, json, importlib.util
assert colorsys.__spec__.cached == "/lib/python3.14/__pycache__/colorsys.cpython-314.pyc", colorsys.__spec__
sys.path.remove("/lib/python3.14")
try:
    import wave
except AssertionError as e:
    assert str(e) == "compiled /lib/python314.zip/wave.py from source", e
else:
    raise AssertionError("the control imported without compiling")
assert json.__file__ == "/lib/python3.14/json/__init__.py", json.__file__
assert json.__spec__.cached == "/lib/python3.14/json/__pycache__/__init__.cpython-314.pyc", json.__spec__.cached
assert type(json.__loader__).__name__ == "SourceFileLoader", json.__loader__
with open(json.__spec__.cached, "rb") as f:
    header = f.read(16)
assert header[:4] == importlib.util.MAGIC_NUMBER, (header, importlib.util.MAGIC_NUMBER)
assert int.from_bytes(header[4:8], "little") == 0b01, "a hash-based pyc that is not checked against its source"
with open(json.__file__, "rb") as f:
    assert header[8:16] == importlib.util.source_hash(f.read())
print("ok")
"#;
    let (status, out, err) = run_code(code);
    assert_eq!((status, out.as_str()), (0, "ok\n"), "stderr: {err}");
}

#[test]
fn tracebacks_through_the_stdlib_show_its_source() {
    let (status, out, err) = run_code("import json\njson.loads('{')");
    assert_eq!((status, out.as_str()), (1, ""), "stderr: {err}");
    assert!(
        err.contains(r#"File "/lib/python3.14/json/decoder.py", line "#),
        "{err}"
    );
    assert!(
        err.contains("obj, end = self.scan_once(s, idx)"),
        "no source line in:\n{err}"
    );
    assert!(err.ends_with("json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)\n"), "{err}");
}

/// Overwrite one byte in place, keeping the size.
fn flip_byte(path: &Path, offset: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[byte[0] ^ 0xff]).unwrap();
}

#[test]
fn a_damaged_archive_is_rebuilt() {
    // A home of our own whose Pyodide and compiled modules are the shared ones (symlinks to each file, so nothing is
    // downloaded or compiled, and our home's cleaning never touches the shared directories), but whose bytecode
    // archive is a copy we can damage.
    let shared = Runtime::ensure(home()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let archive = shared.stdlib_bytecode_path();
    let archive_name = archive.file_name().unwrap().to_str().unwrap();
    let shared_dir = archive.parent().unwrap();
    for from_dir in [shared_dir, &shared.home().join("compiled")] {
        let to_dir = tmp.path().join(from_dir.file_name().unwrap());
        std::fs::create_dir(&to_dir).unwrap();
        for entry in std::fs::read_dir(from_dir).unwrap() {
            let name = entry.unwrap().file_name();
            let (from, to) = (from_dir.join(&name), to_dir.join(&name));
            if name.to_string_lossy().starts_with(archive_name) {
                std::fs::copy(&from, &to).unwrap();
            } else if !name.to_string_lossy().starts_with('.') {
                std::os::unix::fs::symlink(&from, &to).unwrap();
            }
        }
    }
    let original = std::fs::read(&archive).unwrap();
    let runtime = Runtime::ensure(tmp.path()).unwrap();
    let engine = crate::support::pyodide().engine().clone();
    let pyodide = pyworkers::interpreter::Pyodide::load(&runtime, &engine).unwrap();
    let build = || pyworkers::stdlib::build(&pyodide);

    // A copy is re-hashed (its stamp describes another file) and kept.
    let path = runtime.ensure_stdlib_bytecode(build).unwrap();
    assert_eq!(path, runtime.stdlib_bytecode_path());
    let inode = std::fs::metadata(&path).unwrap().ino();
    assert_eq!(runtime.ensure_stdlib_bytecode(build).unwrap(), path);
    assert_eq!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "a valid archive was rebuilt"
    );

    // One flipped byte in the middle: detected, and replaced by a fresh build with the original bytes.
    flip_byte(&path, original.len() as u64 / 2);
    let path = runtime.ensure_stdlib_bytecode(build).unwrap();
    assert_ne!(
        std::fs::metadata(&path).unwrap().ino(),
        inode,
        "the damaged archive was kept"
    );
    assert!(
        std::fs::read(&path).unwrap() == original,
        "the rebuilt archive differs"
    );
    pyworkers::stdlib::bytecode(&pyodide).unwrap();

    // An archive without a stamp (as after a crash between writing and stamping it) is never trusted: rebuilt.
    std::fs::write(&path, b"not a tar archive").unwrap();
    let mut stamp = path.clone().into_os_string();
    stamp.push(".stamp");
    std::fs::remove_file(&stamp).unwrap();
    let path = runtime.ensure_stdlib_bytecode(build).unwrap();
    assert!(
        std::fs::read(&path).unwrap() == original,
        "an unstamped archive was trusted"
    );
}
