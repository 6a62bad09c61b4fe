//! `__syscall_*` imports: file-system calls, translated onto [`Vfs`](crate::vfs::Vfs). They return `-errno`.
//! Struct layouts follow Emscripten's `SYSCALLS.writeStat` and `getdents64` in `pyodide.asm.mjs`.

use super::{with_memory, EmContext, EmscriptenView, GuestMemory, ENV};
use crate::vfs::{Errno, FileStat, Result};
use wasmtime::{Caller, Linker};

/// `AT_SYMLINK_NOFOLLOW`.
const AT_SYMLINK_NOFOLLOW: i32 = 0x100;
/// `AT_REMOVEDIR`.
const AT_REMOVEDIR: i32 = 0x200;
/// `AT_EMPTY_PATH`.
const AT_EMPTY_PATH: i32 = 0x1000;
/// `AT_FDCWD`.
const AT_FDCWD: i32 = -100;
/// Size of one `struct dirent` as Emscripten lays it out.
const DIRENT_SIZE: u64 = 280;

/// Run a syscall body over memory + context and fold its result into the `-errno` convention.
fn sys<T: EmscriptenView>(
    caller: &mut Caller<'_, T>,
    f: impl FnOnce(&mut GuestMemory<'_>, &mut EmContext) -> Result<i32>,
) -> i32 {
    match with_memory(caller, f).unwrap_or(Err(Errno::FAULT)) {
        Ok(v) => v,
        Err(e) => -(e.0 as i32),
    }
}

/// Write `st` in Emscripten's 96-byte `struct stat` layout.
pub(super) fn write_stat(m: &mut GuestMemory<'_>, buf: u32, st: &FileStat) -> Result<i32> {
    m.slice_mut(buf, 96)?.fill(0);
    m.write_u32(buf, st.dev)?;
    m.write_u32(buf + 4, st.mode)?;
    m.write_u32(buf + 8, st.nlink)?;
    m.write_u64(buf + 24, st.size)?;
    m.write_u32(buf + 32, 4096)?;
    m.write_u32(buf + 36, st.size.div_ceil(512) as u32)?;
    let secs = (st.mtime_ms / 1000.0).floor();
    let nsec = ((st.mtime_ms - secs * 1000.0) * 1e6) as u32;
    for off in [40, 56, 72] {
        m.write_i64(buf + off, secs as i64)?;
        m.write_u32(buf + off + 8, nsec)?;
    }
    m.write_u64(buf + 88, st.ino)?;
    Ok(0)
}

/// Write a `struct statfs` describing a small in-memory file system.
fn write_statfs(m: &mut GuestMemory<'_>, buf: u32) -> Result<i32> {
    m.slice_mut(buf, 88)?.fill(0);
    m.write_u32(buf + 4, 4096)?; // f_bsize
    m.write_u64(buf + 8, 1 << 20)?; // f_blocks
    m.write_u64(buf + 16, 1 << 19)?; // f_bfree
    m.write_u64(buf + 24, 1 << 19)?; // f_bavail
    m.write_u64(buf + 32, 1 << 20)?; // f_files
    m.write_u64(buf + 40, 1 << 19)?; // f_ffree
    m.write_u32(buf + 56, 255)?; // f_namelen
    m.write_u32(buf + 60, 4096)?; // f_frsize
    Ok(0)
}

pub(super) fn add_to_linker<T: EmscriptenView>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.func_wrap(
        ENV,
        "__syscall_openat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, flags: i32, varargs: i32| {
            sys(&mut c, |m, cx| {
                let mode = if varargs != 0 {
                    m.read_u32(varargs as u32)?
                } else {
                    0
                };
                cx.vfs
                    .open_at(dirfd, m.cstr(path as u32)?, flags, mode & !cx.umask)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fstat64",
        |mut c: Caller<'_, T>, fd: i32, buf: i32| {
            sys(&mut c, |m, cx| {
                let st = cx.vfs.stat_node(cx.vfs.file(fd)?.node)?;
                write_stat(m, buf as u32, &st)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_stat64",
        |mut c: Caller<'_, T>, path: i32, buf: i32| {
            sys(&mut c, |m, cx| {
                let st = cx
                    .vfs
                    .stat_at(AT_FDCWD, m.cstr(path as u32)?, true, false)?;
                write_stat(m, buf as u32, &st)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_lstat64",
        |mut c: Caller<'_, T>, path: i32, buf: i32| {
            sys(&mut c, |m, cx| {
                let st = cx
                    .vfs
                    .stat_at(AT_FDCWD, m.cstr(path as u32)?, false, false)?;
                write_stat(m, buf as u32, &st)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_newfstatat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, buf: i32, flags: i32| {
            sys(&mut c, |m, cx| {
                let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
                let st = cx.vfs.stat_at(
                    dirfd,
                    m.cstr(path as u32)?,
                    follow,
                    flags & AT_EMPTY_PATH != 0,
                )?;
                write_stat(m, buf as u32, &st)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_getdents64",
        |mut c: Caller<'_, T>, fd: i32, dirp: i32, count: i32| {
            sys(&mut c, |m, cx| {
                let entries = cx.vfs.dir_entries(fd)?;
                let start = (cx.vfs.file(fd)?.pos / DIRENT_SIZE) as usize;
                let room = (count as u32 as u64 / DIRENT_SIZE) as usize;
                if room == 0 {
                    return Err(Errno::INVAL);
                }
                let mut written = 0u32;
                let mut idx = start;
                for entry in entries.iter().skip(start).take(room) {
                    idx += 1;
                    let at = dirp as u32 + written;
                    m.write_u64(at, entry.ino)?;
                    m.write_u64(at + 8, idx as u64 * DIRENT_SIZE)?;
                    m.write_u16(at + 16, DIRENT_SIZE as u16)?;
                    m.write_u8(at + 18, entry.kind)?;
                    m.write_cstr(at + 19, &entry.name, 256)?;
                    written += DIRENT_SIZE as u32;
                }
                cx.vfs.file_mut(fd)?.pos = idx as u64 * DIRENT_SIZE;
                Ok(written as i32)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_getcwd",
        |mut c: Caller<'_, T>, buf: i32, size: i32| {
            sys(&mut c, |m, cx| {
                let cwd = cx.vfs.cwd();
                if size == 0 {
                    return Err(Errno::INVAL);
                }
                if (size as u32 as usize) < cwd.len() + 1 {
                    return Err(Errno::RANGE);
                }
                m.write_cstr(buf as u32, cwd, cwd.len() + 1)?;
                Ok(cwd.len() as i32 + 1)
            })
        },
    )?;
    linker.func_wrap(ENV, "__syscall_chdir", |mut c: Caller<'_, T>, path: i32| {
        sys(&mut c, |m, cx| {
            cx.vfs.chdir(m.cstr(path as u32)?).map(|_| 0)
        })
    })?;
    linker.func_wrap(ENV, "__syscall_fchdir", |mut c: Caller<'_, T>, fd: i32| {
        sys(&mut c, |_, cx| {
            let path = cx.vfs.file(fd)?.path.clone();
            cx.vfs.chdir(&path).map(|_| 0)
        })
    })?;
    linker.func_wrap(
        ENV,
        "__syscall_fcntl64",
        |mut c: Caller<'_, T>, fd: i32, cmd: i32, varargs: i32| {
            sys(&mut c, |m, cx| {
                let file = cx.vfs.file(fd)?.clone();
                match cmd {
                    // F_DUPFD, F_DUPFD_CLOEXEC
                    0 | 1030 => {
                        let min = m.read_u32(varargs as u32)? as i32;
                        if min < 0 {
                            return Err(Errno::INVAL);
                        }
                        cx.vfs.insert_fd(file, min as usize)
                    }
                    1 | 2 => Ok(0), // F_GETFD / F_SETFD: there is no exec to close on.
                    3 => Ok(file.flags),
                    4 => {
                        let arg = m.read_u32(varargs as u32)? as i32;
                        // Only O_APPEND and O_NONBLOCK may change after open.
                        let settable = crate::vfs::oflags::O_APPEND | 0o4000;
                        let f = cx.vfs.file_mut(fd)?;
                        f.flags = (f.flags & !settable) | (arg & settable);
                        Ok(0)
                    }
                    // F_GETLK: report "unlocked"; locks are per-process and there is one process.
                    5 | 12 => {
                        let arg = m.read_u32(varargs as u32)?;
                        m.write_u16(arg, 2)?;
                        Ok(0)
                    }
                    6 | 7 | 13 | 14 => Ok(0), // F_SETLK / F_SETLKW
                    _ => Err(Errno::INVAL),
                }
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_ioctl",
        |mut c: Caller<'_, T>, fd: i32, op: i32, _varargs: i32| {
            sys(&mut c, |_, cx| match op {
                // TCGETS, TIOCGWINSZ and friends: only terminals answer; Python uses this for isatty().
                21505 | 21523 | 21509..=21512 => {
                    if cx.vfs.is_tty(fd)? {
                        Ok(0)
                    } else {
                        Err(Errno::NOTTY)
                    }
                }
                _ => {
                    cx.vfs.file(fd)?;
                    Err(Errno::NOTTY)
                }
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_faccessat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, amode: i32, _flags: i32| {
            sys(&mut c, |m, cx| {
                if amode & !7 != 0 {
                    return Err(Errno::INVAL);
                }
                let abs = cx.vfs.at_path(dirfd, m.cstr(path as u32)?, false)?;
                let node = cx.vfs.resolve(&abs, true)?;
                // W_OK on something the guest may not change is refused, as a read-only mount would be.
                if amode & 2 != 0
                    && !matches!(
                        node,
                        crate::vfs::NodeRef::Mem { .. } | crate::vfs::NodeRef::Stdio(_)
                    )
                {
                    return Err(Errno::ROFS);
                }
                Ok(0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_mkdirat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, mode: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs
                    .mkdir_at(dirfd, m.cstr(path as u32)?, mode as u32 & !cx.umask)
                    .map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_unlinkat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, flags: i32| {
            sys(&mut c, |m, cx| {
                let dir = match flags {
                    0 => false,
                    AT_REMOVEDIR => true,
                    _ => return Err(Errno::INVAL),
                };
                cx.vfs
                    .unlink_at(dirfd, m.cstr(path as u32)?, dir)
                    .map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(ENV, "__syscall_rmdir", |mut c: Caller<'_, T>, path: i32| {
        sys(&mut c, |m, cx| {
            cx.vfs
                .unlink_at(AT_FDCWD, m.cstr(path as u32)?, true)
                .map(|_| 0)
        })
    })?;
    linker.func_wrap(
        ENV,
        "__syscall_renameat",
        |mut c: Caller<'_, T>, od: i32, op: i32, nd: i32, np: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs
                    .rename_at(od, m.cstr(op as u32)?, nd, m.cstr(np as u32)?)
                    .map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_symlinkat",
        |mut c: Caller<'_, T>, target: i32, dirfd: i32, path: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs
                    .symlink_at(m.cstr(target as u32)?, dirfd, m.cstr(path as u32)?)
                    .map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_readlinkat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, buf: i32, size: i32| {
            sys(&mut c, |m, cx| {
                if size <= 0 {
                    return Err(Errno::INVAL);
                }
                let target = cx.vfs.readlink_at(dirfd, m.cstr(path as u32)?)?;
                // readlink does not NUL-terminate.
                let n = target.len().min(size as usize);
                m.slice_mut(buf as u32, n as u32)?
                    .copy_from_slice(&target.as_bytes()[..n]);
                Ok(n as i32)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_ftruncate64",
        |mut c: Caller<'_, T>, fd: i32, len: i64| {
            sys(&mut c, |_, cx| {
                if len < 0 {
                    return Err(Errno::INVAL);
                }
                let node = cx.vfs.file(fd)?.node;
                cx.vfs.truncate_node(node, len as u64).map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_truncate64",
        |mut c: Caller<'_, T>, path: i32, len: i64| {
            sys(&mut c, |m, cx| {
                if len < 0 {
                    return Err(Errno::INVAL);
                }
                let abs = cx.vfs.at_path(AT_FDCWD, m.cstr(path as u32)?, false)?;
                let node = cx.vfs.resolve(&abs, true)?;
                cx.vfs.truncate_node(node, len as u64).map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_utimensat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, times: i32, flags: i32| {
            sys(&mut c, |m, cx| {
                let abs = cx.vfs.at_path(dirfd, m.cstr(path as u32)?, true)?;
                let node = cx.vfs.resolve(&abs, flags & AT_SYMLINK_NOFOLLOW == 0)?;
                let mtime = if times == 0 {
                    Some(crate::vfs::now_ms())
                } else {
                    let secs = m.read_i64(times as u32 + 16)?;
                    let nsec = m.read_u32(times as u32 + 24)?;
                    match nsec {
                        0x3fff_ffff => Some(crate::vfs::now_ms()), // UTIME_NOW
                        0x3fff_fffe => None,                       // UTIME_OMIT
                        n => Some(secs as f64 * 1000.0 + n as f64 / 1e6),
                    }
                };
                cx.vfs.utime_node(node, mtime).map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fchmod",
        |mut c: Caller<'_, T>, fd: i32, mode: i32| {
            sys(&mut c, |_, cx| {
                let node = cx.vfs.file(fd)?.node;
                cx.vfs.chmod_node(node, mode as u32).map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_chmod",
        |mut c: Caller<'_, T>, path: i32, mode: i32| {
            sys(&mut c, |m, cx| {
                let abs = cx.vfs.at_path(AT_FDCWD, m.cstr(path as u32)?, false)?;
                let node = cx.vfs.resolve(&abs, true)?;
                cx.vfs.chmod_node(node, mode as u32).map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fchmodat2",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, mode: i32, flags: i32| {
            sys(&mut c, |m, cx| {
                let abs = cx.vfs.at_path(dirfd, m.cstr(path as u32)?, false)?;
                let node = cx.vfs.resolve(&abs, flags & AT_SYMLINK_NOFOLLOW == 0)?;
                cx.vfs.chmod_node(node, mode as u32).map(|_| 0)
            })
        },
    )?;
    // There is one user; ownership changes succeed on what exists and change nothing.
    linker.func_wrap(
        ENV,
        "__syscall_fchown32",
        |mut c: Caller<'_, T>, fd: i32, _u: i32, _g: i32| {
            sys(&mut c, |_, cx| cx.vfs.file(fd).map(|_| 0))
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fchownat",
        |mut c: Caller<'_, T>, dirfd: i32, path: i32, _u: i32, _g: i32, flags: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs
                    .stat_at(
                        dirfd,
                        m.cstr(path as u32)?,
                        flags & AT_SYMLINK_NOFOLLOW == 0,
                        flags & AT_EMPTY_PATH != 0,
                    )
                    .map(|_| 0)
            })
        },
    )?;
    linker.func_wrap(ENV, "__syscall_dup", |mut c: Caller<'_, T>, fd: i32| {
        sys(&mut c, |_, cx| {
            let file = cx.vfs.file(fd)?.clone();
            cx.vfs.insert_fd(file, 0)
        })
    })?;
    linker.func_wrap(
        ENV,
        "__syscall_dup3",
        |mut c: Caller<'_, T>, fd: i32, newfd: i32, _flags: i32| {
            sys(&mut c, |_, cx| {
                let file = cx.vfs.file(fd)?.clone();
                if fd == newfd {
                    return Err(Errno::INVAL);
                }
                cx.vfs.set_fd(newfd, file).map(|_| newfd)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fdatasync",
        |mut c: Caller<'_, T>, fd: i32| sys(&mut c, |_, cx| cx.vfs.file(fd).map(|_| 0)),
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fadvise64",
        |mut c: Caller<'_, T>, fd: i32, _o: i64, _l: i64, _a: i32| {
            sys(&mut c, |_, cx| cx.vfs.file(fd).map(|_| 0))
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fallocate",
        |mut c: Caller<'_, T>, fd: i32, mode: i32, off: i64, len: i64| {
            sys(&mut c, |_, cx| {
                if mode != 0 {
                    return Err(Errno::NOTSUP);
                }
                if off < 0 || len <= 0 {
                    return Err(Errno::INVAL);
                }
                let node = cx.vfs.file(fd)?.node;
                let want = (off + len) as u64;
                if cx.vfs.stat_node(node)?.size < want {
                    cx.vfs.truncate_node(node, want)?;
                }
                Ok(0)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_statfs64",
        |mut c: Caller<'_, T>, path: i32, _size: i32, buf: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs
                    .stat_at(AT_FDCWD, m.cstr(path as u32)?, true, false)?;
                write_statfs(m, buf as u32)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_fstatfs64",
        |mut c: Caller<'_, T>, fd: i32, _size: i32, buf: i32| {
            sys(&mut c, |m, cx| {
                cx.vfs.file(fd)?;
                write_statfs(m, buf as u32)
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "__syscall_poll",
        |mut c: Caller<'_, T>, fds: i32, nfds: i32, _timeout: i32| {
            // Files and the standard streams are always ready, as in Emscripten's MEMFS.
            sys(&mut c, |m, cx| {
                let mut ready = 0;
                for i in 0..nfds.max(0) as u32 {
                    let at = fds as u32 + 8 * i;
                    let fd = m.read_u32(at)? as i32;
                    let events =
                        u16::from_le_bytes(m.slice(at + 4, 2)?.try_into().unwrap_or_default());
                    let revents = if cx.vfs.file(fd).is_ok() {
                        5 & events
                    } else {
                        32
                    }; // POLLIN|POLLOUT, or POLLNVAL
                    if revents != 0 {
                        ready += 1;
                    }
                    m.write_u16(at + 6, revents)?;
                }
                Ok(ready)
            })
        },
    )?;
    linker.func_wrap(ENV, "__syscall_getuid32_js", || 0i32)?;
    linker.func_wrap(
        ENV,
        "__syscall_umask_js",
        |mut c: Caller<'_, T>, mask: i32| {
            let cx = c.data_mut().em();
            std::mem::replace(&mut cx.umask, mask as u32 & 0o777) as i32
        },
    )?;
    // `_try_*`: Pyodide asks whether a JS socket wants this call; there are none.
    linker.func_wrap(ENV, "_try_fcntl64", |_: i32, _: i32, _: i32, _: i32| 0i32)?;
    linker.func_wrap(ENV, "_try_shutdown", |_: i32, _: i32, _: i32| 0i32)?;
    // mmap of files is not supported (anonymous mmap never reaches the host).
    linker.func_wrap(
        ENV,
        "_mmap_js",
        |_: i32, _: i32, _: i32, _: i32, _: i64, _: i32, _: i32| -(Errno::NODEV.0 as i32),
    )?;
    linker.func_wrap(
        ENV,
        "_munmap_js",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64| 0i32,
    )?;
    linker.func_wrap(
        ENV,
        "_msync_js",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i64| 0i32,
    )?;
    Ok(())
}
