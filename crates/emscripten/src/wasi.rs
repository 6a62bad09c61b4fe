//! The `wasi_snapshot_preview1` imports Emscripten uses for fd I/O, clocks, the environment and randomness. Each
//! is a plain function over the guest's memory and the context; unlike the `__syscall_*` family they return a
//! positive errno (0 = success). Scatter/gather follows `doReadv`/`doWritev` in `pyodide.asm.mjs`.

use crate::layout::{Fdstat, Iovec};
use crate::memory::{element, offset, EOVERFLOW};
use crate::{Context, GuestMemory};
use pyworkers_vfs::{Errno, NodeRef, Result};

/// Most buffers one `readv`/`writev` may name (Linux's `IOV_MAX`).
pub const IOV_MAX: u32 = 1024;

/// Fold a WASI body's result into the guest's convention: 0, or the errno.
fn wasi(body: impl FnOnce() -> Result<()>) -> i32 {
    match body() {
        Ok(()) => 0,
        Err(e) => i32::from(e.0),
    }
}

/// The iovec list at `iov`, checked as Linux checks it: at most [`IOV_MAX`] buffers whose lengths sum to a
/// valid `ssize_t`, so the byte count returned can never overflow.
fn iovec_list(m: &impl GuestMemory, iov: u32, count: u32) -> Result<Vec<Iovec>> {
    if count > IOV_MAX {
        return Err(Errno::INVAL);
    }
    let list = m.iovecs(iov, count)?;
    let total: u64 = list.iter().map(|v| u64::from(v.iov_len.get())).sum();
    if total > i32::MAX as u64 {
        return Err(Errno::INVAL);
    }
    Ok(list)
}

/// The file position after `n` more bytes at `at` (`None`: the fd's own position, which `vfs` advances).
fn advance(at: Option<u64>, n: usize) -> Result<Option<u64>> {
    at.map(|a| a.checked_add(n as u64).ok_or(EOVERFLOW))
        .transpose()
}

/// Read into the buffers of `iov` in order; stops at the first short read, as `readv` does.
pub fn readv(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    mut at: Option<u64>,
) -> Result<u32> {
    let mut total = 0u32;
    for v in iovec_list(m, iov, count)? {
        let len = v.iov_len.get();
        let n = m.produce(v.iov_base.get(), len, |buf| cx.vfs.read(fd, buf, at))?;
        // `iovec_list` bounds the sum of lengths, and `n` is at most `len`.
        total += n as u32;
        at = advance(at, n)?;
        if n < len as usize {
            break;
        }
    }
    Ok(total)
}

/// Write the buffers of `iov` in order; stops at the first short write, as `writev` does.
pub fn writev(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    mut at: Option<u64>,
) -> Result<u32> {
    let mut total = 0u32;
    for v in iovec_list(m, iov, count)? {
        let len = v.iov_len.get();
        let n = cx.vfs.write(fd, &m.bytes(v.iov_base.get(), len)?, at)?;
        total += n as u32;
        at = advance(at, n)?;
        if n < len as usize {
            break;
        }
    }
    Ok(total)
}

/// A guest `off_t` as a file position.
fn position(offset: i64) -> Result<u64> {
    u64::try_from(offset).map_err(|_| Errno::INVAL)
}

/// `fd_read(fd, iov, iovcnt, *nread)`.
pub fn fd_read(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    pnum: u32,
) -> i32 {
    wasi(|| {
        let n = readv(m, cx, fd, iov, count, None)?;
        m.write_u32(pnum, n)
    })
}

/// `fd_pread(fd, iov, iovcnt, offset, *nread)`.
pub fn fd_pread(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    offset: i64,
    pnum: u32,
) -> i32 {
    wasi(|| {
        let n = readv(m, cx, fd, iov, count, Some(position(offset)?))?;
        m.write_u32(pnum, n)
    })
}

/// `fd_write(fd, iov, iovcnt, *nwritten)`.
pub fn fd_write(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    pnum: u32,
) -> i32 {
    wasi(|| {
        let n = writev(m, cx, fd, iov, count, None)?;
        m.write_u32(pnum, n)
    })
}

/// `fd_pwrite(fd, iov, iovcnt, offset, *nwritten)`.
pub fn fd_pwrite(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    iov: u32,
    count: u32,
    offset: i64,
    pnum: u32,
) -> i32 {
    wasi(|| {
        let n = writev(m, cx, fd, iov, count, Some(position(offset)?))?;
        m.write_u32(pnum, n)
    })
}

/// `fd_seek(fd, offset, whence, *newoffset)`.
pub fn fd_seek(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    offset: i64,
    whence: i32,
    pnew: u32,
) -> i32 {
    wasi(|| {
        let whence = u8::try_from(whence).map_err(|_| Errno::INVAL)?;
        let pos = cx.vfs.seek(fd, offset, whence)?;
        m.write_u64(pnew, pos)
    })
}

/// `fd_close(fd)`.
pub fn fd_close(_: &mut impl GuestMemory, cx: &mut Context, fd: i32) -> i32 {
    wasi(|| cx.vfs.close(fd))
}

/// `fd_sync(fd)`: memory is the storage, so there is nothing to flush.
pub fn fd_sync(_: &mut impl GuestMemory, cx: &mut Context, fd: i32) -> i32 {
    wasi(|| cx.vfs.file(fd).map(|_| ()))
}

/// `fd_fdstat_get(fd, *fdstat)`.
pub fn fd_fdstat_get(m: &mut impl GuestMemory, cx: &mut Context, fd: i32, buf: u32) -> i32 {
    wasi(|| {
        let node = cx.vfs.file(fd)?.node;
        let st = cx.vfs.stat_node(node)?;
        // musl's isatty() asks for a character device here, so only a real terminal is one; a pipe or captured
        // stream is "unknown".
        let filetype = match node {
            NodeRef::Stdio(_) if cx.vfs.is_tty(fd)? => 2,
            NodeRef::Stdio(_) => 0,
            _ if st.is_dir() => 3,
            _ => 4, // regular file
        };
        m.write(
            buf,
            &Fdstat {
                fs_filetype: filetype,
                ..Fdstat::default()
            },
        )
    })
}

/// `environ_sizes_get(*count, *bufsize)`.
pub fn environ_sizes_get(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    pcount: u32,
    psize: u32,
) -> i32 {
    wasi(|| {
        let count = u32::try_from(cx.environ.len()).map_err(|_| EOVERFLOW)?;
        let size: usize = cx.environ.iter().map(|s| s.len() + 1).sum();
        m.write_u32(pcount, count)?;
        m.write_u32(psize, u32::try_from(size).map_err(|_| EOVERFLOW)?)
    })
}

/// `environ_get(*environ, *buf)`: the pointer array at `environ`, the NUL-terminated strings packed at `buf`.
pub fn environ_get(m: &mut impl GuestMemory, cx: &mut Context, environ: u32, buf: u32) -> i32 {
    wasi(|| {
        let mut at = buf;
        for (i, s) in cx.environ.iter().enumerate() {
            m.write_u32(element::<u32>(environ, i as u64)?, at)?;
            m.write_cstr(at, s, s.len() + 1)?;
            at = offset(at, s.len() as u64 + 1)?;
        }
        Ok(())
    })
}

/// Nanoseconds on clock `id`: 0 realtime, 1 monotonic, 2–3 CPU time (served by the monotonic clock).
pub(super) fn clock_ns(cx: &mut Context, id: i32) -> Result<u64> {
    match id {
        0 => Ok((cx.clock.realtime_ms() * 1e6) as u64),
        1..=3 => Ok(cx.clock.monotonic_ns()),
        _ => Err(Errno::INVAL),
    }
}

/// `clock_time_get(id, precision, *time)`.
pub fn clock_time_get(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    id: i32,
    _precision: i64,
    ptime: u32,
) -> i32 {
    wasi(|| m.write_u64(ptime, clock_ns(cx, id)?))
}

/// `clock_res_get(id, *resolution)`.
pub fn clock_res_get(m: &mut impl GuestMemory, _: &mut Context, id: i32, pres: u32) -> i32 {
    wasi(|| {
        let res = match id {
            0 => 1_000,
            1..=3 => 1,
            _ => return Err(Errno::INVAL),
        };
        m.write_u64(pres, res)
    })
}

/// `random_get(buf, len)`: every random byte the guest sees comes from the context's entropy (or its external
/// source, when set).
pub fn random_get(m: &mut impl GuestMemory, cx: &mut Context, buf: u32, len: u32) -> i32 {
    wasi(|| {
        m.produce(buf, len, |bytes| {
            match cx.external_entropy {
                Some(fill) => fill(bytes),
                None => cx.entropy.fill(bytes),
            }
            Ok(bytes.len())
        })
        .map(|_| ())
    })
}

