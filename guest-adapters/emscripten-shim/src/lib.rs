//! The Emscripten ABI and the VFS as a core wasm module: the part of the Pyodide component that answers
//! `pyodide.asm.wasm`'s imports from inside the component (design: `guest-adapters/README.md`).
//!
//! It compiles the very functions the native host links (`pyworkers-emscripten`, `pyworkers-vfs`) and binds the
//! same import tables, as exports named `MODULE.NAME` (`env.__syscall_openat`, `wasi_snapshot_preview1.fd_write`)
//! so the component can hand Pyodide's code module exactly the imports it names, and none of them clashes with
//! the WASI imports of this module's own `std`.
//!
//! The shim has its own linear memory (its heap, the VFS's tables) and reaches Pyodide's through [`Bridge`]: three
//! imported functions of a tiny module that holds both memories and copies between them with `memory.copy`
//! (multi-memory). Its own memory is imported too (`build.rs`), so whoever assembles the component creates both
//! memories first and nothing is circular.
//!
//! Not here yet: the loader (the stdlib through `tarfs`, the worker, the seed through `entropy`) and the imports
//! that call back into Pyodide (`malloc`, signal handlers, `dlopen`). Until the loader exists, [`shim_init`]
//! starts an empty read-only root with a writable in-memory `/tmp`.

use pyworkers_emscripten::{Context, GuestMemory};
use pyworkers_vfs::{Errno, Fs, MemFs, Result, Vfs};
use std::cell::RefCell;

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
