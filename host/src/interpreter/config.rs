//! CPython configuration through the `PyInitConfig_*` API.

use super::Interpreter;
use anyhow::{bail, Context, Result};

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
                crate::vfs::layout::STDLIB_BYTECODE.into(),
                crate::vfs::layout::STDLIB_ZIP.into(),
                crate::PYWORKERS_LIB.into(),
                "/lib/python3.14/site-packages".into(),
            ],
            hash_seed: None,
        }
    }
}

/// Configure and initialise CPython in `interp`.
pub(super) fn initialize(interp: &mut Interpreter, options: &BootOptions) -> Result<()> {
    let config = interp.call("PyInitConfig_Create", &[])?;
    if config == 0 {
        bail!("PyInitConfig_Create failed (out of memory)");
    }
    let result = configure(interp, config, options).and_then(|()| {
        if interp.call("Py_InitializeFromInitConfig", &[config])? != 0 {
            bail!("{}", config_error(interp, config)?);
        }
        Ok(())
    });
    interp.call("PyInitConfig_Free", &[config])?;
    result.context("initialising CPython")
}

fn config_error(interp: &mut Interpreter, config: i32) -> Result<String> {
    let slot = interp.call("malloc", &[4])?;
    let msg = if interp.call("PyInitConfig_GetError", &[config, slot])? != 0 {
        let memory = interp.memory()?;
        let mut word = [0u8; 4];
        memory.read(&interp.store, slot as usize, &mut word)?;
        interp.read_str(i32::from_le_bytes(word))?
    } else {
        "unknown error".into()
    };
    interp.free(slot)?;
    Ok(msg)
}

fn set_int(interp: &mut Interpreter, config: i32, name: &str, value: i64) -> Result<()> {
    let key = interp.alloc_str(name)?;
    let func = interp
        .instance
        .get_typed_func::<(i32, i32, i64), i32>(&mut interp.store, "PyInitConfig_SetInt")?;
    let rc = func.call(&mut interp.store, (config, key, value))?;
    interp.free(key)?;
    if rc != 0 {
        bail!("setting {name}: {}", config_error(interp, config)?);
    }
    Ok(())
}

fn set_str(interp: &mut Interpreter, config: i32, name: &str, value: &str) -> Result<()> {
    let key = interp.alloc_str(name)?;
    let val = interp.alloc_str(value)?;
    let rc = interp.call("PyInitConfig_SetStr", &[config, key, val])?;
    interp.free(key)?;
    interp.free(val)?;
    if rc != 0 {
        bail!("setting {name}: {}", config_error(interp, config)?);
    }
    Ok(())
}

fn set_str_list(interp: &mut Interpreter, config: i32, name: &str, items: &[String]) -> Result<()> {
    let key = interp.alloc_str(name)?;
    let ptrs = items
        .iter()
        .map(|s| interp.alloc_str(s))
        .collect::<Result<Vec<_>>>()?;
    let array = interp.call("malloc", &[4 * ptrs.len().max(1) as i32])?;
    let memory = interp.memory()?;
    let bytes: Vec<u8> = ptrs.iter().flat_map(|p| p.to_le_bytes()).collect();
    memory.write(&mut interp.store, array as usize, &bytes)?;
    let rc = interp.call(
        "PyInitConfig_SetStrList",
        &[config, key, ptrs.len() as i32, array],
    )?;
    for p in ptrs.into_iter().chain([array, key]) {
        interp.free(p)?;
    }
    if rc != 0 {
        bail!("setting {name}: {}", config_error(interp, config)?);
    }
    Ok(())
}

fn configure(interp: &mut Interpreter, config: i32, options: &BootOptions) -> Result<()> {
    set_str(interp, config, "home", "/")?;
    set_str(interp, config, "program_name", "python")?;
    // The standard library is read-only; nothing can be written next to it.
    set_int(interp, config, "write_bytecode", 0)?;
    set_int(interp, config, "site_import", 1)?;
    // The host's PYTHON* variables describe the host's Python, not this one.
    set_int(interp, config, "use_environment", 0)?;
    set_int(interp, config, "user_site_directory", 0)?;
    set_int(interp, config, "parse_argv", 0)?;
    set_int(interp, config, "install_signal_handlers", 0)?;
    set_int(interp, config, "buffered_stdio", 1)?;
    set_str_list(interp, config, "argv", &options.argv)?;
    set_str_list(
        interp,
        config,
        "module_search_paths",
        &options.module_search_paths,
    )?;
    set_int(interp, config, "module_search_paths_set", 1)?;
    if let Some(seed) = options.hash_seed {
        set_int(interp, config, "use_hash_seed", 1)?;
        set_int(interp, config, "hash_seed", seed as i64)?;
    }
    Ok(())
}
