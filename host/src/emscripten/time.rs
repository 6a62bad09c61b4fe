//! Calendar and clock imports as linker definitions over [`pyworkers_emscripten::time`] and the context's clock.

use super::table::imports;
use super::EmscriptenView;
use wasmtime::Linker;

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    pyworkers_emscripten::calendar_imports!(imports! { linker, T, });
    pyworkers_emscripten::mktime_imports!(imports! { linker, T, });
    pyworkers_emscripten::clock_imports!(imports! { linker, T, });
    Ok(())
}
