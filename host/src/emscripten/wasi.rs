//! The `wasi_snapshot_preview1` imports Emscripten uses for fd I/O, clocks, the environment and randomness.
//! WASI functions return a positive errno (0 = success), unlike the `__syscall_*` family.

use super::{with_memory, EmContext, EmscriptenView, GuestExit, GuestMemory, WASI};
use crate::vfs::{Errno, NodeRef, Result};
use wasmtime::{Caller, Linker};

fn wasi<T: EmscriptenView>(
    caller: &mut Caller<'_, T>,
    f: impl FnOnce(&mut GuestMemory<'_>, &mut EmContext) -> Result<()>,
) -> i32 {
    match with_memory(caller, f).unwrap_or(Err(Errno::FAULT)) {
        Ok(()) => 0,
        Err(e) => e.0 as i32,
    }
}

/// Read into the iovecs at `iov`; stops at the first short read, as readv does.
fn readv(
    m: &mut GuestMemory<'_>,
    cx: &mut EmContext,
    fd: i32,
    iov: i32,
    cnt: i32,
    mut at: Option<u64>,
) -> Result<u32> {
    let mut total = 0u32;
    for (ptr, len) in m.iovecs(iov as u32, cnt as u32)? {
        let n = cx.vfs.read(fd, m.slice_mut(ptr, len)?, at)?;
        total += n as u32;
        at = at.map(|a| a + n as u64);
        if n < len as usize {
            break;
        }
    }
    Ok(total)
}

fn writev(
    m: &mut GuestMemory<'_>,
    cx: &mut EmContext,
    fd: i32,
    iov: i32,
    cnt: i32,
    mut at: Option<u64>,
) -> Result<u32> {
    let mut total = 0u32;
    for (ptr, len) in m.iovecs(iov as u32, cnt as u32)? {
        let n = cx.vfs.write(fd, m.slice(ptr, len)?, at)?;
        total += n as u32;
        at = at.map(|a| a + n as u64);
    }
    Ok(total)
}

/// Nanoseconds on clock `id`: 0 realtime, 1 monotonic, 2–3 CPU time (served by the monotonic clock).
pub(super) fn clock_ns(cx: &mut EmContext, id: i32) -> Result<u64> {
    match id {
        0 => Ok((cx.clock.realtime_ms() * 1e6) as u64),
        1..=3 => Ok(cx.clock.monotonic_ns()),
        _ => Err(Errno::INVAL),
    }
}

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        WASI,
        "fd_read",
        |mut c: Caller<'_, T>, fd: i32, iov: i32, cnt: i32, pnum: i32| {
            wasi(&mut c, |m, cx| {
                let n = readv(m, cx, fd, iov, cnt, None)?;
                m.write_u32(pnum as u32, n)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_pread",
        |mut c: Caller<'_, T>, fd: i32, iov: i32, cnt: i32, off: i64, pnum: i32| {
            wasi(&mut c, |m, cx| {
                let n = readv(
                    m,
                    cx,
                    fd,
                    iov,
                    cnt,
                    Some(u64::try_from(off).map_err(|_| Errno::INVAL)?),
                )?;
                m.write_u32(pnum as u32, n)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: Caller<'_, T>, fd: i32, iov: i32, cnt: i32, pnum: i32| {
            wasi(&mut c, |m, cx| {
                let n = writev(m, cx, fd, iov, cnt, None)?;
                m.write_u32(pnum as u32, n)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_pwrite",
        |mut c: Caller<'_, T>, fd: i32, iov: i32, cnt: i32, off: i64, pnum: i32| {
            wasi(&mut c, |m, cx| {
                let n = writev(
                    m,
                    cx,
                    fd,
                    iov,
                    cnt,
                    Some(u64::try_from(off).map_err(|_| Errno::INVAL)?),
                )?;
                m.write_u32(pnum as u32, n)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "fd_seek",
        |mut c: Caller<'_, T>, fd: i32, off: i64, whence: i32, pnew: i32| {
            wasi(&mut c, |m, cx| {
                let pos = cx.vfs.seek(fd, off, whence as u8)?;
                m.write_u64(pnew as u32, pos)
            })
        },
    )?;
    linker.func_wrap(WASI, "fd_close", |mut c: Caller<'_, T>, fd: i32| {
        wasi(&mut c, |_, cx| cx.vfs.close(fd))
    })?;
    linker.func_wrap(WASI, "fd_sync", |mut c: Caller<'_, T>, fd: i32| {
        wasi(&mut c, |_, cx| cx.vfs.file(fd).map(|_| ()))
    })?;
    linker.func_wrap(
        WASI,
        "fd_fdstat_get",
        |mut c: Caller<'_, T>, fd: i32, buf: i32| {
            wasi(&mut c, |m, cx| {
                let node = cx.vfs.file(fd)?.node;
                let st = cx.vfs.stat_node(node)?;
                // musl's isatty() asks for a character device here, so only a real terminal is one; a pipe or
                // captured stream is "unknown".
                let filetype = match node {
                    NodeRef::Stdio(_) if cx.vfs.is_tty(fd)? => 2,
                    NodeRef::Stdio(_) => 0,
                    _ if st.is_dir() => 3,
                    _ => 4, // regular file
                };
                m.slice_mut(buf as u32, 24)?.fill(0);
                m.write_u8(buf as u32, filetype)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "environ_sizes_get",
        |mut c: Caller<'_, T>, pcount: i32, psize: i32| {
            wasi(&mut c, |m, cx| {
                m.write_u32(pcount as u32, cx.environ.len() as u32)?;
                m.write_u32(
                    psize as u32,
                    cx.environ.iter().map(|s| s.len() as u32 + 1).sum(),
                )
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "environ_get",
        |mut c: Caller<'_, T>, environ: i32, buf: i32| {
            wasi(&mut c, |m, cx| {
                let mut at = buf as u32;
                for (i, s) in cx.environ.iter().enumerate() {
                    m.write_u32(environ as u32 + 4 * i as u32, at)?;
                    m.write_cstr(at, s, s.len() + 1)?;
                    at += s.len() as u32 + 1;
                }
                Ok(())
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: Caller<'_, T>, id: i32, _precision: i64, ptime: i32| {
            wasi(&mut c, |m, cx| m.write_u64(ptime as u32, clock_ns(cx, id)?))
        },
    )?;
    linker.func_wrap(
        WASI,
        "clock_res_get",
        |mut c: Caller<'_, T>, id: i32, pres: i32| {
            wasi(&mut c, |m, _| {
                let res = match id {
                    0 => 1_000,
                    1..=3 => 1,
                    _ => return Err(Errno::INVAL),
                };
                m.write_u64(pres as u32, res)
            })
        },
    )?;
    linker.func_wrap(
        WASI,
        "random_get",
        |mut c: Caller<'_, T>, buf: i32, len: i32| {
            wasi(&mut c, |m, cx| {
                cx.entropy.fill(m.slice_mut(buf as u32, len as u32)?);
                Ok(())
            })
        },
    )?;
    linker.func_wrap(WASI, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        Err(GuestExit(code).into())
    })?;
    Ok(())
}
