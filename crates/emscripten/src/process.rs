//! Process-level imports: exit and abort, heap growth, program name, signals, logging, and the Pyodide runtime
//! hooks that have a meaning without JavaScript.

use crate::{Context, GuestMemory};

/// Bytes in one wasm page.
const PAGE: u64 = 65536;

/// Pages to add to a memory of `current` bytes so it holds `requested`: first the preferred step (at least 20%
/// more, as Emscripten grows, so repeated small growths stay cheap), then the least that fits, for when the
/// preferred step cannot be had. `None` if `requested` is over `max`.
pub fn heap_growth(current: u64, requested: u64, max: u64) -> Option<(u64, u64)> {
    if requested > max {
        return None;
    }
    let have = current / PAGE;
    let target = requested.max(current.saturating_add(current / 5).min(max));
    Some((
        target.div_ceil(PAGE).saturating_sub(have),
        requested.div_ceil(PAGE).saturating_sub(have),
    ))
}

/// `emscripten_resize_heap(requested)` for a memory of `current` bytes: the preferred step of [`heap_growth`],
/// else the least that fits, each tried with `grow(pages)` (true if the memory grew). 1 if it grew, 0 if not.
/// The engine's half — how a memory grows — is the caller's: wasmtime's `Memory::grow` on the host, a bridge
/// call in the component.
pub fn resize_heap(current: u64, requested: u32, max: u64, mut grow: impl FnMut(u64) -> bool) -> i32 {
    let Some((preferred, least)) = heap_growth(current, u64::from(requested), max) else {
        return 0;
    };
    i32::from(grow(preferred) || grow(least))
}

/// `emscripten_get_heap_max()`: the cap [`resize_heap`] grows within, as the guest's 32-bit size.
pub fn heap_max(cx: &Context) -> u32 {
    cx.heap_max.min(u64::from(u32::MAX)) as u32
}

/// `_emscripten_get_progname(buf, len)`: the program name, truncated to fit.
pub fn get_progname(m: &mut impl GuestMemory, cx: &mut Context, buf: u32, len: i32) {
    let len = usize::try_from(len).unwrap_or(0);
    // The import returns nothing: a bad buffer just stays unwritten.
    let _ = m.write_cstr(buf, &cx.program, len);
}

/// `emscripten_log_impl_js(message)`: one line on standard error.
pub fn log(m: &mut impl GuestMemory, cx: &mut Context, message: u32) {
    let line = m.cstr_lossy(message) + "\n";
    // Logging has no way to report its own failure.
    let _ = cx.vfs.write(2, line.as_bytes(), None);
}

/// `_emscripten_log_formatted(flags, message)`: the flags choose a JS console method; here all go to stderr.
pub fn log_formatted(m: &mut impl GuestMemory, cx: &mut Context, _flags: i32, message: u32) {
    log(m, cx, message)
}

