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
    pub const ALL: [Export; 11] = [
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
            Export::InitializeFromInitConfig | Export::RunSimpleString => (&[I32], Some(I32)),
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
