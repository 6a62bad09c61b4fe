//! CPython configuration: the shared boot sequence ([`pyworkers_emscripten::boot`]) over wasmtime calls into the
//! instance.

use super::Interpreter;
use anyhow::{Context, Result};
use pyworkers_emscripten::boot::{self, BootError, Export, Ty};
use wasmtime::Val;

pub use boot::BootOptions;

impl boot::Python for Interpreter {
    type Error = wasmtime::Error;

    fn call(&mut self, export: Export, args: &[i64]) -> wasmtime::Result<i64> {
        let func = self
            .instance
            .get_func(&mut self.store, export.name())
            .ok_or_else(|| wasmtime::format_err!("Pyodide has no `{}` export", export.name()))?;
        let (params, result) = export.signature();
        let args: Vec<Val> = params
            .iter()
            .zip(args)
            .map(|(ty, &a)| match ty {
                Ty::I32 => Val::I32(a as i32),
                Ty::I64 => Val::I64(a),
            })
            .collect();
        let mut results = vec![Val::I32(0); result.iter().len()];
        func.call(&mut self.store, &args, &mut results)?;
        Ok(match results.first() {
            Some(Val::I32(v)) => i64::from(*v),
            Some(Val::I64(v)) => *v,
            _ => 0,
        })
    }

    fn write(&mut self, ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
        let memory = self.memory().map_err(wasmtime::Error::from_anyhow)?;
        Ok(memory.write(&mut self.store, ptr as usize, bytes)?)
    }

    fn read(&mut self, ptr: u32, out: &mut [u8]) -> wasmtime::Result<()> {
        let memory = self.memory().map_err(wasmtime::Error::from_anyhow)?;
        Ok(memory.read(&self.store, ptr as usize, out)?)
    }
}

/// Configure and initialise CPython in `interp`.
pub(super) fn initialize(interp: &mut Interpreter, options: &BootOptions) -> Result<()> {
    boot::initialize(interp, options).map_err(boot_error).context("initialising CPython")
}

/// A failed call into Pyodide as this crate's error: a trap passes through, a refusal becomes its message.
pub(super) fn boot_error(e: BootError<wasmtime::Error>) -> anyhow::Error {
    match e {
        BootError::Call(e) => anyhow::Error::from(e),
        BootError::Config(msg) => anyhow::anyhow!(msg),
    }
}
