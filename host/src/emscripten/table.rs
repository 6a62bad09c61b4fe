//! How an import table of `pyworkers-emscripten` (`syscall_imports!` and the others) becomes linker definitions:
//! each entry names an import, the plain function that serves it and the function's guest-facing parameters. The
//! generated closure only borrows the memory and the context and calls the function; it must never hold logic of
//! its own.

/// The binder the tables are passed to: define each `"name" => function(param: type, ...)` in `$linker`, for
/// store data `$t`, as `pyworkers_emscripten::syscall_imports!(imports! { linker, T, })`.
///
/// Every function is called as `function(&mut GuestMemory, &mut EmContext, params...) -> $ret`. `$no_memory` is
/// what the import answers if it is called before the instance's memory is known (only possible while
/// instantiating): an `EFAULT` in the family's convention.
macro_rules! imports {
    (
        $linker:expr, $t:ty, $module:expr, -> $ret:ty, no_memory: $no_memory:expr;
        $( $name:literal => $f:path [ $( $arg:ident : $ty:ty ),* $(,)? ] ; )*
    ) => {{
        $(
            $linker.func_wrap(
                $module,
                $name,
                |mut caller: wasmtime::Caller<'_, $t>, $( $arg: $ty ),*| -> $ret {
                    super::with_memory(&mut caller, |m, cx| $f(m, cx, $( $arg ),*))
                        .unwrap_or($no_memory)
                },
            )?;
        )*
    }};
}

pub(super) use imports;
