//! Configuring and initialising CPython through the 3.14 `PyInitConfig_*` API (no struct offsets needed), over any
//! way of calling Pyodide's exports: wasmtime calls on the host, calls through the component's bridge in the shim.
//! One sequence, so both embedders boot the same interpreter.

use pyworkers_vfs::layout;

/// The exports of Pyodide the boot sequence (and running source) calls, with their core signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Export {
    Malloc,
    Free,
    WasmCallCtors,
    ConfigCreate,
    ConfigFree,
    ConfigGetError,
    ConfigSetInt,
    ConfigSetStr,
    ConfigSetStrList,
    InitializeFromInitConfig,
    RunSimpleString,
    ImportModule,
    GetAttrString,
    BytesFromStringAndSize,
    CallOneArg,
    BytesSize,
    BytesAsString,
    DecRef,
    ErrPrint,
}

/// A core value type of an [`Export`]'s signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// `i32`: pointers, sizes, status codes.
    I32,
    /// `i64`: `PyInitConfig_SetInt`'s value.
    I64,
}

impl Export {
    /// Every export, in a fixed order (the component's bridge numbers its call slots by it).
    pub const ALL: [Export; 19] = [
        Export::Malloc,
        Export::Free,
        Export::WasmCallCtors,
        Export::ConfigCreate,
        Export::ConfigFree,
        Export::ConfigGetError,
        Export::ConfigSetInt,
        Export::ConfigSetStr,
        Export::ConfigSetStrList,
        Export::InitializeFromInitConfig,
        Export::RunSimpleString,
        Export::ImportModule,
        Export::GetAttrString,
        Export::BytesFromStringAndSize,
        Export::CallOneArg,
        Export::BytesSize,
        Export::BytesAsString,
        Export::DecRef,
        Export::ErrPrint,
    ];

    /// Pyodide's export name.
    pub fn name(self) -> &'static str {
        match self {
            Export::Malloc => "malloc",
            Export::Free => "free",
            Export::WasmCallCtors => "__wasm_call_ctors",
            Export::ConfigCreate => "PyInitConfig_Create",
            Export::ConfigFree => "PyInitConfig_Free",
            Export::ConfigGetError => "PyInitConfig_GetError",
            Export::ConfigSetInt => "PyInitConfig_SetInt",
            Export::ConfigSetStr => "PyInitConfig_SetStr",
            Export::ConfigSetStrList => "PyInitConfig_SetStrList",
            Export::InitializeFromInitConfig => "Py_InitializeFromInitConfig",
            Export::RunSimpleString => "PyRun_SimpleString",
            Export::ImportModule => "PyImport_ImportModule",
            Export::GetAttrString => "PyObject_GetAttrString",
            Export::BytesFromStringAndSize => "PyBytes_FromStringAndSize",
            Export::CallOneArg => "PyObject_CallOneArg",
            Export::BytesSize => "PyBytes_Size",
            Export::BytesAsString => "PyBytes_AsString",
            Export::DecRef => "Py_DecRef",
            Export::ErrPrint => "PyErr_Print",
        }
    }

    /// Parameter types and the result type, if any.
    pub fn signature(self) -> (&'static [Ty], Option<Ty>) {
        use Ty::*;
        match self {
            Export::Malloc => (&[I32], Some(I32)),
            Export::Free | Export::ConfigFree => (&[I32], None),
            Export::WasmCallCtors => (&[], None),
            Export::ConfigCreate => (&[], Some(I32)),
            Export::ConfigGetError => (&[I32, I32], Some(I32)),
            Export::ConfigSetInt => (&[I32, I32, I64], Some(I32)),
            Export::ConfigSetStr => (&[I32, I32, I32], Some(I32)),
            Export::ConfigSetStrList => (&[I32, I32, I32, I32], Some(I32)),
            Export::InitializeFromInitConfig
            | Export::RunSimpleString
            | Export::ImportModule
            | Export::BytesSize
            | Export::BytesAsString => (&[I32], Some(I32)),
            Export::GetAttrString | Export::BytesFromStringAndSize | Export::CallOneArg => (&[I32, I32], Some(I32)),
            Export::DecRef => (&[I32], None),
            Export::ErrPrint => (&[], None),
        }
    }
}

/// How the boot sequence reaches Pyodide: its exports and its memory.
pub trait Python {
    /// A failed call (a trap, an exit): passed through untouched.
    type Error;
    /// Call `export` with these arguments (each as wide as its parameter); its result, 0 if it has none.
    fn call(&mut self, export: Export, args: &[i64]) -> Result<i64, Self::Error>;
    /// Copy `bytes` into Pyodide's memory at `ptr`.
    fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Copy Pyodide's memory at `ptr` into `out`.
    fn read(&mut self, ptr: u32, out: &mut [u8]) -> Result<(), Self::Error>;
}

/// Why booting failed.
#[derive(Debug)]
pub enum BootError<E> {
    /// A call into Pyodide failed.
    Call(E),
    /// CPython refused its configuration, or ran out of memory; the message says which.
    Config(String),
}

impl<E> From<E> for BootError<E> {
    fn from(e: E) -> Self {
        BootError::Call(e)
    }
}

/// What CPython is initialised with.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// `sys.argv`.
    pub argv: Vec<String>,
    /// `sys.path`, in order.
    pub module_search_paths: Vec<String>,
    /// A fixed `PYTHONHASHSEED`; `None` draws the hash secret from the guest's randomness.
    pub hash_seed: Option<u32>,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            argv: vec![String::new()],
            module_search_paths: vec![
                // The bytecode archive first, when mounted: its .pyc files spare compiling the zip's sources.
                layout::STDLIB_BYTECODE.into(),
                layout::STDLIB_ZIP.into(),
                layout::PYWORKERS_LIB.into(),
                "/lib/python3.14/site-packages".into(),
            ],
            hash_seed: None,
        }
    }
}

/// Copy `s` into fresh Pyodide memory, NUL-terminated; free it with [`Export::Free`].
pub fn alloc_str<P: Python>(py: &mut P, s: &str) -> Result<u32, BootError<P::Error>> {
    if s.contains('\0') {
        return Err(BootError::Config("string passed to Python contains a NUL byte".into()));
    }
    let ptr = py.call(Export::Malloc, &[s.len() as i64 + 1])? as u32;
    if ptr == 0 {
        return Err(BootError::Config("guest out of memory".into()));
    }
    py.write(ptr, s.as_bytes())?;
    py.write(ptr + s.len() as u32, &[0])?;
    Ok(ptr)
}

/// Configure and initialise CPython.
pub fn initialize<P: Python>(py: &mut P, options: &BootOptions) -> Result<(), BootError<P::Error>> {
    let config = py.call(Export::ConfigCreate, &[])?;
    if config == 0 {
        return Err(BootError::Config("PyInitConfig_Create failed (out of memory)".into()));
    }
    let result = configure(py, config, options).and_then(|()| {
        if py.call(Export::InitializeFromInitConfig, &[config])? != 0 {
            return Err(BootError::Config(config_error(py, config)?));
        }
        Ok(())
    });
    py.call(Export::ConfigFree, &[config])?;
    result
}

fn config_error<P: Python>(py: &mut P, config: i64) -> Result<String, BootError<P::Error>> {
    let slot = py.call(Export::Malloc, &[4])?;
    let msg = if py.call(Export::ConfigGetError, &[config, slot])? != 0 {
        let mut word = [0u8; 4];
        py.read(slot as u32, &mut word)?;
        read_cstr(py, u32::from_le_bytes(word))?
    } else {
        "unknown error".into()
    };
    py.call(Export::Free, &[slot])?;
    Ok(msg)
}

/// A NUL-terminated string in Pyodide's memory (at most 64 KiB of it), lossily decoded.
fn read_cstr<P: Python>(py: &mut P, ptr: u32) -> Result<String, P::Error> {
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    while out.len() < 64 << 10 {
        py.read(ptr + out.len() as u32, &mut chunk)?;
        match chunk.iter().position(|&b| b == 0) {
            Some(end) => {
                out.extend_from_slice(&chunk[..end]);
                break;
            }
            None => out.extend_from_slice(&chunk),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn set<P: Python>(py: &mut P, config: i64, name: &str, export: Export, value: &[i64]) -> Result<(), BootError<P::Error>> {
    let key = alloc_str(py, name)?;
    let mut args = vec![config, key as i64];
    args.extend_from_slice(value);
    let rc = py.call(export, &args);
    py.call(Export::Free, &[key as i64])?;
    if rc? != 0 {
        return Err(BootError::Config(format!("setting {name}: {}", config_error(py, config)?)));
    }
    Ok(())
}

fn set_int<P: Python>(py: &mut P, config: i64, name: &str, value: i64) -> Result<(), BootError<P::Error>> {
    set(py, config, name, Export::ConfigSetInt, &[value])
}

fn set_str<P: Python>(py: &mut P, config: i64, name: &str, value: &str) -> Result<(), BootError<P::Error>> {
    let val = alloc_str(py, value)?;
    let result = set(py, config, name, Export::ConfigSetStr, &[val as i64]);
    py.call(Export::Free, &[val as i64])?;
    result
}

fn set_str_list<P: Python>(py: &mut P, config: i64, name: &str, items: &[String]) -> Result<(), BootError<P::Error>> {
    let mut ptrs = Vec::with_capacity(items.len());
    for item in items {
        ptrs.push(alloc_str(py, item)?);
    }
    let array = py.call(Export::Malloc, &[4 * ptrs.len().max(1) as i64])?;
    if array == 0 {
        return Err(BootError::Config("guest out of memory".into()));
    }
    let bytes: Vec<u8> = ptrs.iter().flat_map(|p| p.to_le_bytes()).collect();
    py.write(array as u32, &bytes)?;
    let result = set(py, config, name, Export::ConfigSetStrList, &[ptrs.len() as i64, array]);
    for p in ptrs.into_iter().map(i64::from).chain([array]) {
        py.call(Export::Free, &[p])?;
    }
    result
}

fn configure<P: Python>(py: &mut P, config: i64, options: &BootOptions) -> Result<(), BootError<P::Error>> {
    set_str(py, config, "home", "/")?;
    set_str(py, config, "program_name", "python")?;
    // The standard library is read-only; nothing can be written next to it.
    set_int(py, config, "write_bytecode", 0)?;
    set_int(py, config, "site_import", 1)?;
    // The host's PYTHON* variables describe the host's Python, not this one.
    set_int(py, config, "use_environment", 0)?;
    set_int(py, config, "user_site_directory", 0)?;
    set_int(py, config, "parse_argv", 0)?;
    set_int(py, config, "install_signal_handlers", 0)?;
    set_int(py, config, "buffered_stdio", 1)?;
    set_str_list(py, config, "argv", &options.argv)?;
    set_str_list(py, config, "module_search_paths", &options.module_search_paths)?;
    set_int(py, config, "module_search_paths_set", 1)?;
    if let Some(seed) = options.hash_seed {
        set_int(py, config, "use_hash_seed", 1)?;
        set_int(py, config, "hash_seed", seed as i64)?;
    }
    Ok(())
}

/// A new reference to `module.attribute` (importing the module), or `None` with the exception printed.
pub fn lookup<P: Python>(py: &mut P, module: &str, attribute: &str) -> Result<Option<i64>, BootError<P::Error>> {
    let m = alloc_str(py, module)?;
    let a = alloc_str(py, attribute)?;
    let result = (|| -> Result<i64, P::Error> {
        let module = py.call(Export::ImportModule, &[i64::from(m)])?;
        if module == 0 {
            return Ok(0);
        }
        let value = py.call(Export::GetAttrString, &[module, i64::from(a)])?;
        py.call(Export::DecRef, &[module])?;
        Ok(value)
    })()?;
    py.call(Export::Free, &[i64::from(m)])?;
    py.call(Export::Free, &[i64::from(a)])?;
    if result == 0 {
        py.call(Export::ErrPrint, &[])?;
        return Ok(None);
    }
    Ok(Some(result))
}

/// Call the Python callable `func` with one `bytes` argument and return the `bytes` it returns: the one shape of
/// every call into `_pyworkers.entrypoint`. `Ok(None)` if it raised or returned something else (the traceback is
/// printed); `Err` if a call failed or Python ran out of memory, after which the instance must not be used again.
pub fn call_bytes<P: Python>(py: &mut P, func: i64, arg: &[u8]) -> Result<Option<Vec<u8>>, BootError<P::Error>> {
    let len = i32::try_from(arg.len()).map_err(|_| BootError::Config("argument too large for the guest".into()))?;
    let len = i64::from(len);
    let buf = py.call(Export::Malloc, &[len.max(1)])?;
    if buf == 0 {
        return Err(BootError::Config("guest out of memory".into()));
    }
    py.write(buf as u32, arg)?;
    let bytes = py.call(Export::BytesFromStringAndSize, &[buf, len]);
    py.call(Export::Free, &[buf])?;
    let bytes = bytes?;
    if bytes == 0 {
        return Err(BootError::Config("guest out of memory".into()));
    }
    let result = py.call(Export::CallOneArg, &[func, bytes]);
    py.call(Export::DecRef, &[bytes])?;
    let result = result?;
    if result == 0 {
        py.call(Export::ErrPrint, &[])?;
        return Ok(None);
    }
    let size = py.call(Export::BytesSize, &[result])?;
    let data = py.call(Export::BytesAsString, &[result])?;
    let out = if size < 0 || data == 0 {
        py.call(Export::ErrPrint, &[])?;
        None
    } else {
        let mut out = vec![0; size as usize];
        py.read(data as u32, &mut out)?;
        Some(out)
    };
    py.call(Export::DecRef, &[result])?;
    Ok(out)
}

/// A dotted Python identifier (ASCII): what a worker's module may be named, and so safe to spell inside the
/// quotes of the source that imports it.
pub fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

#[cfg(test)]
mod tests {
    //! `lookup` and `call_bytes` against a pretend Python that counts references and allocations, so every path
    //! (returns, raises, returns a non-bytes, out of memory) is checked to leave nothing allocated or referenced.
    use super::*;
    use std::collections::HashMap;

    enum Object {
        Module,
        /// A callable: `Some(f)` returns `f(argument)` as bytes; `None` raises.
        Callable(Option<fn(&[u8]) -> Vec<u8>>),
        /// Returned by a callable that gives back something other than bytes.
        NotBytes,
        Bytes(Vec<u8>),
    }

    #[derive(Default)]
    struct Fake {
        memory: Vec<u8>,
        live_allocations: HashMap<u32, usize>,
        objects: HashMap<i64, (Object, i32)>,
        next_object: i64,
        printed: usize,
        exhausted: bool,
    }

    impl Fake {
        fn new() -> Self {
            Fake { memory: vec![0; 1 << 16], next_object: 1 << 20, ..Fake::default() }
        }
        fn object(&mut self, object: Object) -> i64 {
            self.next_object += 8;
            self.objects.insert(self.next_object, (object, 1));
            self.next_object
        }
        fn cstr(&self, ptr: i64) -> String {
            let bytes = &self.memory[ptr as usize..];
            String::from_utf8(bytes[..bytes.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
        }
        /// Objects still referenced besides the given long-lived ones.
        fn leaked(&self, keep: &[i64]) -> usize {
            self.objects.iter().filter(|(k, (_, n))| *n > 0 && !keep.contains(k)).count()
        }
    }

    impl Python for Fake {
        type Error = String;

        fn call(&mut self, export: Export, args: &[i64]) -> Result<i64, String> {
            let arg = |i: usize| args[i];
            Ok(match export {
                Export::Malloc if self.exhausted => 0,
                Export::Malloc => {
                    let ptr = 16 + self.live_allocations.keys().map(|&p| p + 4096).max().unwrap_or(0);
                    self.live_allocations.insert(ptr, arg(0) as usize);
                    i64::from(ptr)
                }
                Export::Free => {
                    self.live_allocations.remove(&(arg(0) as u32)).ok_or("double free")?;
                    0
                }
                Export::ImportModule => match self.cstr(arg(0)).as_str() {
                    "_pyworkers.entrypoint" => self.object(Object::Module),
                    _ => 0,
                },
                Export::GetAttrString => match self.cstr(arg(1)).as_str() {
                    "echo" => self.object(Object::Callable(Some(|a| [b"echo:", a].concat()))),
                    "fails" => self.object(Object::Callable(None)),
                    "not_bytes" => self.object(Object::NotBytes),
                    _ => 0,
                },
                Export::BytesFromStringAndSize => {
                    let (ptr, len) = (arg(0) as usize, arg(1) as usize);
                    let bytes = self.memory[ptr..ptr + len].to_vec();
                    self.object(Object::Bytes(bytes))
                }
                Export::CallOneArg => {
                    let Some((Object::Bytes(argument), _)) = self.objects.get(&arg(1)) else { return Err("not bytes".into()) };
                    let argument = argument.clone();
                    match self.objects.get(&arg(0)) {
                        Some((Object::Callable(Some(f)), _)) => {
                            let out = f(&argument);
                            self.object(Object::Bytes(out))
                        }
                        Some((Object::Callable(None), _)) => 0,
                        Some((Object::NotBytes, _)) => self.object(Object::NotBytes),
                        _ => return Err("not callable".into()),
                    }
                }
                Export::BytesSize | Export::BytesAsString => match self.objects.get(&arg(0)) {
                    Some((Object::Bytes(b), _)) if export == Export::BytesSize => b.len() as i64,
                    Some((Object::Bytes(b), _)) => {
                        let b = b.clone();
                        let ptr = 32 << 10;
                        self.memory[ptr..ptr + b.len()].copy_from_slice(&b);
                        ptr as i64
                    }
                    _ if export == Export::BytesSize => -1,
                    _ => 0,
                },
                Export::DecRef => {
                    let entry = self.objects.get_mut(&arg(0)).ok_or("unknown object")?;
                    entry.1 -= 1;
                    if entry.1 < 0 {
                        return Err("reference count below zero".into());
                    }
                    0
                }
                Export::ErrPrint => {
                    self.printed += 1;
                    0
                }
                other => return Err(format!("unexpected call to {}", other.name())),
            })
        }

        fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), String> {
            self.memory[ptr as usize..ptr as usize + bytes.len()].copy_from_slice(bytes);
            Ok(())
        }

        fn read(&mut self, ptr: u32, out: &mut [u8]) -> Result<(), String> {
            out.copy_from_slice(&self.memory[ptr as usize..ptr as usize + out.len()]);
            Ok(())
        }
    }

    #[test]
    fn call_bytes_round_trips_and_releases_everything() {
        let mut py = Fake::new();
        let echo = lookup(&mut py, "_pyworkers.entrypoint", "echo").unwrap().expect("found");
        let out = call_bytes(&mut py, echo, b"\x00binary\xff").unwrap();
        assert_eq!(out.as_deref(), Some(&b"echo:\x00binary\xff"[..]));
        let empty = call_bytes(&mut py, echo, b"").unwrap();
        assert_eq!(empty.as_deref(), Some(&b"echo:"[..]));
        assert_eq!((py.leaked(&[echo]), py.live_allocations.len(), py.printed), (0, 0, 0));
    }

    #[test]
    fn a_raise_or_a_non_bytes_result_is_none_with_the_traceback_printed() {
        let mut py = Fake::new();
        let fails = lookup(&mut py, "_pyworkers.entrypoint", "fails").unwrap().unwrap();
        assert_eq!(call_bytes(&mut py, fails, b"x").unwrap(), None);
        assert_eq!(py.printed, 1);
        let not_bytes = lookup(&mut py, "_pyworkers.entrypoint", "not_bytes").unwrap().unwrap();
        assert_eq!(call_bytes(&mut py, not_bytes, b"x").unwrap(), None);
        assert_eq!(py.printed, 2);
        assert_eq!((py.leaked(&[fails, not_bytes]), py.live_allocations.len()), (0, 0));
    }

    #[test]
    fn a_missing_module_or_attribute_is_none_with_the_error_printed() {
        let mut py = Fake::new();
        assert_eq!(lookup(&mut py, "no.such.module", "echo").unwrap(), None);
        assert_eq!(lookup(&mut py, "_pyworkers.entrypoint", "missing").unwrap(), None);
        assert_eq!((py.printed, py.leaked(&[]), py.live_allocations.len()), (2, 0, 0));
    }

    #[test]
    fn out_of_guest_memory_is_an_error_not_a_result() {
        let mut py = Fake::new();
        let echo = lookup(&mut py, "_pyworkers.entrypoint", "echo").unwrap().unwrap();
        py.exhausted = true;
        match call_bytes(&mut py, echo, b"x") {
            Err(BootError::Config(msg)) => assert!(msg.contains("out of memory"), "{msg}"),
            other => panic!("expected an out-of-memory error, got {other:?}"),
        }
    }

    #[test]
    fn module_names_are_dotted_ascii_identifiers() {
        for good in ["main", "src.entry", "_w2", "a.b_c.D9"] {
            assert!(super::is_module_name(good), "{good}");
        }
        for bad in ["", "a..b", "1x", "a-b", "a'b", "a.", ".a", "a b", "ünï"] {
            assert!(!super::is_module_name(bad), "{bad}");
        }
    }
}
