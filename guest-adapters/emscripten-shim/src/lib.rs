//! The Emscripten ABI and the VFS as a core wasm module: the part of the Pyodide component that answers
//! `pyodide.asm.wasm`'s imports from inside the component (design: `guest-adapters/README.md`).
//!
//! It compiles the very functions the native host links (`pyworkers-emscripten`, `pyworkers-vfs`) and binds the
//! same import tables, as exports named `MODULE.NAME` (`env.__syscall_openat`, `wasi_snapshot_preview1.fd_write`)
//! so the component can hand Pyodide's code module exactly the imports it names, and none of them clashes with
//! the WASI imports of this module's own `std`.
//!
//! The shim has its own linear memory (its heap, the VFS's tables) and reaches Pyodide's through [`Bridge`]:
//! functions of a tiny module that holds both memories and copies between them with `memory.copy`
//! (multi-memory), and grows Pyodide's. Its own memory is imported too (`build.rs`), so whoever assembles the
//! component creates the memories first and nothing is circular. Its other imports: `pyodide` (Pyodide's exports,
//! which the bridge forwards once they exist), `archives` (what the component carries), `entropy` (the guest's
//! randomness) and its own `std`'s WASI preview 1 — all answered inside the component (`host/src/component`).
//!
//! Two ways to start a context: [`shim_init`] (an empty read-only root with a writable in-memory `/tmp`, for
//! testing the ABI alone) and [`shim_load_standard`] (the standard layout CPython boots from, over archives the
//! instantiator copied into [`shim_alloc`]ed memory). In the component, [`loader::shim_run`] does the loader's job
//! instead: it mounts the archives the component carries, boots CPython and runs the program, calling Pyodide's
//! exports through the bridge; in a worker's component, [`worker::shim_invoke`] boots the worker on its first call
//! and then calls its event loop (`pyworkers:runtime/reactor`). Not here yet: the archives fetched through `tarfs`.

use pyworkers_emscripten::{Context, GuestMemory};
use pyworkers_tarfs::Archive;
use pyworkers_vfs::{layout, Errno, Fs, MemFs, Result, Vfs};
use std::cell::RefCell;
use std::sync::Arc;

pub mod loader;
pub mod worker;

/// The bridge's functions, which see both memories.
mod bridge {
    #[link(wasm_import_module = "bridge")]
    extern "C" {
        /// Pyodide's memory size, in 64 KiB pages.
        pub fn guest_pages() -> u32;
        /// Copy `len` bytes from Pyodide's memory at `guest` to this module's at `local`.
        pub fn copy_in(local: *mut u8, guest: u32, len: usize);
        /// Copy `len` bytes from this module's memory at `local` to Pyodide's at `guest`.
        pub fn copy_out(guest: u32, local: *const u8, len: usize);
        /// Grow Pyodide's memory by `pages`: the old size in pages, or -1 (`memory.grow`).
        pub fn grow(pages: u32) -> i32;
    }
}

/// Pyodide's memory, reached by copies through the bridge. Every range is checked here first: an out-of-bounds
/// pointer is `EFAULT` for the caller, never a trap inside `memory.copy`.
pub struct Bridge;

impl GuestMemory for Bridge {
    fn size(&self) -> u64 {
        // SAFETY: the bridge function takes no pointers.
        u64::from(unsafe { bridge::guest_pages() }) * 65536
    }

    fn read_into(&self, ptr: u32, dst: &mut [u8]) -> Result<()> {
        self.check(ptr, u32::try_from(dst.len()).map_err(|_| Errno::FAULT)?)?;
        // SAFETY: `dst` is a live, writable buffer of this module of exactly `dst.len()` bytes, and the guest
        // range was checked above.
        unsafe { bridge::copy_in(dst.as_mut_ptr(), ptr, dst.len()) };
        Ok(())
    }

    fn write_bytes(&mut self, ptr: u32, src: &[u8]) -> Result<()> {
        self.check(ptr, u32::try_from(src.len()).map_err(|_| Errno::FAULT)?)?;
        // SAFETY: `src` is a live buffer of this module of exactly `src.len()` bytes; the guest range was checked.
        unsafe { bridge::copy_out(ptr, src.as_ptr(), src.len()) };
        Ok(())
    }
}

thread_local! {
    /// The one context of this instance (wasm32 has one thread); `None` until [`shim_init`].
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Create the context: an empty root and a writable in-memory `/tmp` of at most `tmp_limit` bytes. 0 on success,
/// else an errno.
#[no_mangle]
pub extern "C" fn shim_init(tmp_limit: u32) -> i32 {
    let mut vfs = Vfs::new();
    if vfs.mount("/tmp", Fs::Mem(MemFs::new(tmp_limit as usize)), true).is_err() {
        return i32::from(Errno::INVAL.0);
    }
    CONTEXT.with(|cx| *cx.borrow_mut() = Some(Context::new(vfs)));
    0
}

/// `len` zeroed bytes of this module's memory for the instantiator to copy an archive into; 0 if `len` is 0.
/// Never freed: what the file system mounts from it lives as long as the instance.
#[no_mangle]
pub extern "C" fn shim_alloc(len: u32) -> *mut u8 {
    if len == 0 {
        return std::ptr::null_mut();
    }
    Box::leak(vec![0u8; len as usize].into_boxed_slice()).as_mut_ptr()
}

/// Replace the context with the standard layout (`pyworkers_vfs::layout::standard`, the host's own) and its
/// environment: the stdlib zip, the stdlib bytecode tar (`bytecode_len` 0 for none) and the runtime's Python tar,
/// each a range [`shim_alloc`] returned. 0 on success, else `EINVAL` (an archive that does not open).
///
/// # Safety
/// Each non-empty range must lie inside one block from [`shim_alloc`], which is never freed, so the file system
/// may keep borrowing it.
#[no_mangle]
pub unsafe extern "C" fn shim_load_standard(
    zip: *const u8,
    zip_len: u32,
    bytecode: *const u8,
    bytecode_len: u32,
    lib: *const u8,
    lib_len: u32,
) -> i32 {
    // SAFETY: the caller's contract: leaked blocks of at least these lengths.
    let block = |ptr: *const u8, len: u32| -> &'static [u8] {
        if len == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(ptr, len as usize) }
        }
    };
    let (zip, bytecode, lib) = (block(zip, zip_len), block(bytecode, bytecode_len), block(lib, lib_len));
    let bytecode = match bytecode_len {
        0 => None,
        _ => match Archive::open_shared(Arc::new(bytecode)) {
            Ok(archive) => Some(Arc::new(archive)),
            Err(_) => return i32::from(Errno::INVAL.0),
        },
    };
    let Ok(vfs) = layout::standard(Arc::new(zip), bytecode, lib) else {
        return i32::from(Errno::INVAL.0);
    };
    let mut cx = Context::new(vfs);
    cx.environ = layout::environment();
    CONTEXT.with(|c| *c.borrow_mut() = Some(cx));
    0
}

/// Run `f` over the bridge and the context; `None` before [`shim_init`] (or if an import were re-entered, which
/// none of the table's functions does).
fn with_context<R>(f: impl FnOnce(&mut Bridge, &mut Context) -> R) -> Option<R> {
    CONTEXT.with(|cx| {
        let mut cx = cx.try_borrow_mut().ok()?;
        Some(f(&mut Bridge, cx.as_mut()?))
    })
}

/// The binder for the shared import tables: each entry becomes an export `MODULE.NAME` that calls its function
/// over the bridge. Like the host's binder, it holds no logic of its own.
macro_rules! export {
    (
        $module:literal, -> $ret:ty, no_memory: $no_memory:expr;
        $( $name:literal => $f:path [ $( $arg:ident : $ty:ty ),* $(,)? ] ; )*
    ) => {
        $(
            const _: () = {
                #[export_name = concat!($module, ".", $name)]
                extern "C" fn import($( $arg: $ty ),*) -> $ret {
                    with_context(|m, cx| $f(m, cx, $( $arg ),*)).unwrap_or($no_memory)
                }
            };
        )*
    };
}

pyworkers_emscripten::all_imports!(export! {});

// Heap growth needs the engine's half (growing the memory), which only the bridge has, so these two are bound
// here rather than through the tables; the policy is the shared one the host uses.

/// `emscripten_resize_heap(requested)`: grow Pyodide's memory through the bridge (`process::resize_heap`).
#[export_name = "env.emscripten_resize_heap"]
extern "C" fn resize_heap(requested: u32) -> i32 {
    with_context(|m, cx| {
        let grow = |pages: u64| {
            // SAFETY: the bridge function takes no pointers.
            u32::try_from(pages).is_ok_and(|pages| unsafe { bridge::grow(pages) } >= 0)
        };
        pyworkers_emscripten::process::resize_heap(m.size(), requested, cx.heap_max, grow)
    })
    .unwrap_or(0)
}

/// `emscripten_get_heap_max()`.
#[export_name = "env.emscripten_get_heap_max"]
extern "C" fn get_heap_max() -> u32 {
    with_context(|_, cx| pyworkers_emscripten::process::heap_max(cx)).unwrap_or(0)
}
