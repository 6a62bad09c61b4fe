//! The policy for imports of capabilities pyworkers does not have: the JavaScript bridge (there is no JS engine),
//! sockets and name resolution (no network), asynchronous `dlopen` (JS promises), libffi closures, file `mmap`,
//! interval timers. Each fails the way its caller can report: an errno, a failure code, or a Python `RuntimeError`
//! naming what is missing. Never a trap on a path Python code can reach. Imports that have nothing to do without
//! JavaScript (keep-alive counters, the JS-object deduplication map) are answered here too, as constants.
//!
//! Only the decision lives here, so both embedders make the same one: the native host carries it out with linker
//! functions typed after each import, the Pyodide component with a module generated from Pyodide's import list.

use crate::Errno;

/// How an unsupported import answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Return `-errno` (syscalls).
    Errno(Errno),
    /// Return this code (resolver functions' `EAI_*`).
    Code(i32),
    /// "No"/NULL/nothing: there are no JavaScript objects, so every `*_Check` is false, no JS socket takes over a
    /// call, and the hooks that count or map JS objects have nothing to do.
    No,
    /// Record a `dlerror()` message ([`ASYNC_DLOPEN`]) and return NULL.
    Dl,
    /// Raise `RuntimeError` in Python ([`Failure::message`]) and return a zero/NULL result.
    Raise(&'static str),
}

/// The `dlerror()` text of [`Failure::Dl`].
pub const ASYNC_DLOPEN: &str =
    "pyworkers has no asynchronous dlopen (it needs JavaScript promises); use dlopen";

/// How the import `env.NAME` fails.
pub fn classify(name: &str) -> Failure {
    match name {
        // Every user is root in a sandbox with one user.
        "__syscall_getuid32_js" => Failure::Code(0),
        n if n.starts_with("__syscall_") => Failure::Errno(Errno::NOSYS),
        // Anonymous `mmap` never leaves libc; mapping a file is not supported. Unmapping/syncing what was never
        // mapped succeeds.
        "_mmap_js" => Failure::Errno(Errno::NODEV),
        "_munmap_js" | "_msync_js" => Failure::Code(0),
        // Interval timers would need a signal delivered into running wasm: accepted, never fire.
        "_setitimer_js" => Failure::Code(0),
        // Signals are never delivered asynchronously, so there is never one pending.
        "_Py_CheckEmscriptenSignals_Helper" => Failure::No,
        "emscripten_runtime_keepalive_push"
        | "emscripten_runtime_keepalive_pop"
        | "_emscripten_runtime_keepalive_clear"
        | "emscripten_debugger" => Failure::No,
        // Pyodide's JS-object deduplication map (called from a constructor): empty without JavaScript.
        n if n.starts_with("__hiwire_deduplicate_") => Failure::No,
        "getaddrinfo" | "getnameinfo" => Failure::Code(-4), // EAI_FAIL
        "getprotobyname" | "_emscripten_lookup_name" => Failure::Code(0),
        n if n.ends_with("_Check") || n == "is_comlink_proxy" => Failure::No,
        "_emscripten_dlopen_js" | "_dlsym_catchup_js" => Failure::Dl,
        // "Does a JavaScript socket want this call?" No: the caller goes on with the ordinary syscall.
        n if n.starts_with("_maybe_") || n.starts_with("_try_") => Failure::No,
        n if n.starts_with("ffi_") => Failure::Raise("libffi closures (ctypes callbacks)"),
        n if n.starts_with("emscripten_promise") => Failure::Raise("JavaScript promises"),
        _ => Failure::Raise("JavaScript bridge"),
    }
}

impl Failure {
    /// The integer every result of the import is set to (floats and references answer zero/null).
    pub fn code(self) -> i32 {
        match self {
            Failure::Errno(e) => -i32::from(e.0),
            Failure::Code(c) => c,
            Failure::No | Failure::Dl | Failure::Raise(_) => 0,
        }
    }

    /// The Python exception text of [`Failure::Raise`] for import `name`; `None` for the other answers.
    pub fn message(self, name: &str) -> Option<String> {
        match self {
            Failure::Raise(what) => Some(format!("pyworkers has no {what}: `{name}` is not available")),
            _ => None,
        }
    }
}
