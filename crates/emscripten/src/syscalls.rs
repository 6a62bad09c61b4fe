//! `__syscall_*` imports: file-system calls, translated onto [`Vfs`](pyworkers_vfs::Vfs). Each is a plain function
//! over the guest's memory and the context that returns what the guest sees: a value, or `-errno` (Emscripten's
//! convention). Struct layouts are [`layout`](super::layout)'s, checked against `SYSCALLS.writeStat` and
//! `___syscall_getdents64` in `pyodide.asm.mjs`. File-system policy belongs in `vfs`, not here.

use crate::layout::{Dirent, Pollfd, Stat, Statfs, Timespec};
use crate::memory::{element, EOVERFLOW};
use crate::{Context, GuestMemory};
use pyworkers_vfs::{Errno, FileStat, NodeRef, Result};
use zerocopy::FromZeros;

/// `AT_SYMLINK_NOFOLLOW`.
const AT_SYMLINK_NOFOLLOW: i32 = 0x100;
/// `AT_REMOVEDIR`.
const AT_REMOVEDIR: i32 = 0x200;
/// `AT_EMPTY_PATH`.
const AT_EMPTY_PATH: i32 = 0x1000;
/// `AT_FDCWD`.
pub const AT_FDCWD: i32 = -100;
/// Size of one `getdents64` record; also the unit of a directory's file offset, as in Emscripten.
const DIRENT_SIZE: u64 = std::mem::size_of::<Dirent>() as u64;
/// `utimensat` nanoseconds meaning "now".
const UTIME_NOW: i32 = 0x3fff_ffff;
/// `utimensat` nanoseconds meaning "leave unchanged".
const UTIME_OMIT: i32 = 0x3fff_fffe;

/// Fold a syscall body's result into the guest's convention: the value, or `-errno`.
fn sys(body: impl FnOnce() -> Result<i32>) -> i32 {
    match body() {
        Ok(v) => v,
        Err(e) => -i32::from(e.0),
    }
}

/// `st` in Emscripten's `struct stat`.
pub fn stat_of(st: &FileStat) -> Stat {
    // Whole milliseconds, as Emscripten's JS keeps them; a time beyond i64 seconds saturates (float casts do).
    let secs = (st.mtime_ms / 1000.0).floor();
    let time = Timespec {
        tv_sec: (secs as i64).into(),
        tv_nsec: (((st.mtime_ms - secs * 1000.0) * 1e6) as i32).into(),
        _pad: [0; 4],
    };
    Stat {
        st_dev: st.dev.into(),
        st_mode: st.mode.into(),
        st_nlink: st.nlink.into(),
        st_size: i64::try_from(st.size).unwrap_or(i64::MAX).into(),
        st_blksize: 4096.into(),
        st_blocks: i32::try_from(st.size.div_ceil(512))
            .unwrap_or(i32::MAX)
            .into(),
        st_atim: time,
        st_mtim: time,
        st_ctim: time,
        st_ino: st.ino.into(),
        ..Stat::default()
    }
}

/// Write `st` at `buf`.
fn write_stat(m: &mut impl GuestMemory, buf: u32, st: &FileStat) -> Result<i32> {
    m.write(buf, &stat_of(st)).map(|_| 0)
}

/// Write a `struct statfs` describing a small in-memory file system.
fn write_statfs(m: &mut impl GuestMemory, buf: u32) -> Result<i32> {
    let fs = Statfs {
        f_bsize: 4096.into(),
        f_blocks: (1 << 20).into(),
        f_bfree: (1 << 19).into(),
        f_bavail: (1 << 19).into(),
        f_files: (1 << 20).into(),
        f_ffree: (1 << 19).into(),
        f_namelen: 255.into(),
        f_frsize: 4096.into(),
        ..Statfs::default()
    };
    m.write(buf, &fs).map(|_| 0)
}

/// `openat(dirfd, path, flags, mode)`; `varargs` points at the mode when `flags` may create.
pub fn openat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    flags: i32,
    varargs: u32,
) -> i32 {
    sys(|| {
        let mode = if varargs != 0 {
            m.read_u32(varargs)?
        } else {
            0
        };
        cx.vfs
            .open_at(dirfd, &m.cstr(path)?, flags, mode & !cx.umask)
    })
}

/// `fstat(fd, buf)`.
pub fn fstat64(m: &mut impl GuestMemory, cx: &mut Context, fd: i32, buf: u32) -> i32 {
    sys(|| {
        let st = cx.vfs.stat_node(cx.vfs.file(fd)?.node)?;
        write_stat(m, buf, &st)
    })
}

/// `stat(path, buf)`.
pub fn stat64(m: &mut impl GuestMemory, cx: &mut Context, path: u32, buf: u32) -> i32 {
    sys(|| {
        let st = cx.vfs.stat_at(AT_FDCWD, &m.cstr(path)?, true, false)?;
        write_stat(m, buf, &st)
    })
}

/// `lstat(path, buf)`.
pub fn lstat64(m: &mut impl GuestMemory, cx: &mut Context, path: u32, buf: u32) -> i32 {
    sys(|| {
        let st = cx.vfs.stat_at(AT_FDCWD, &m.cstr(path)?, false, false)?;
        write_stat(m, buf, &st)
    })
}

/// `fstatat(dirfd, path, buf, flags)`.
pub fn newfstatat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    buf: u32,
    flags: i32,
) -> i32 {
    sys(|| {
        let st = cx.vfs.stat_at(
            dirfd,
            &m.cstr(path)?,
            flags & AT_SYMLINK_NOFOLLOW == 0,
            flags & AT_EMPTY_PATH != 0,
        )?;
        write_stat(m, buf, &st)
    })
}

/// `getdents64(fd, dirp, count)`: as many whole records as fit in `count` bytes, from the directory's offset on;
/// the offset then points past the last record written, so the next call resumes there.
pub fn getdents64(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    dirp: u32,
    count: u32,
) -> i32 {
    sys(|| {
        let entries = cx.vfs.dir_entries(fd)?;
        let start = usize::try_from(cx.vfs.file(fd)?.pos / DIRENT_SIZE).unwrap_or(usize::MAX);
        // The byte count returned must stay a positive i32, or the guest would read it as an errno.
        let room = (u64::from(count).min(i32::MAX as u64) / DIRENT_SIZE) as usize;
        if room == 0 {
            return Err(Errno::INVAL);
        }
        let mut written = 0u64;
        let mut next = start;
        for (i, entry) in entries.iter().skip(start).take(room).enumerate() {
            next = start + i + 1;
            let mut record = Dirent::new_zeroed();
            record.d_ino = entry.ino.into();
            record.d_off = (next as i64 * DIRENT_SIZE as i64).into();
            record.d_reclen = (DIRENT_SIZE as u16).into();
            record.d_type = entry.kind;
            // Truncated to 255 bytes + NUL, as Emscripten's `stringToUTF8(name, ..., 256)`.
            let name = &entry.name.as_bytes()[..entry.name.len().min(255)];
            record.d_name[..name.len()].copy_from_slice(name);
            m.write(element::<Dirent>(dirp, i as u64)?, &record)?;
            written += DIRENT_SIZE;
        }
        cx.vfs.file_mut(fd)?.pos = next as u64 * DIRENT_SIZE;
        Ok(written as i32)
    })
}

/// `getcwd(buf, size)`: returns the length including the NUL, as Emscripten's does.
pub fn getcwd(m: &mut impl GuestMemory, cx: &mut Context, buf: u32, size: u32) -> i32 {
    sys(|| {
        let cwd = cx.vfs.cwd();
        if size == 0 {
            return Err(Errno::INVAL);
        }
        let with_nul = cwd.len() + 1;
        if (size as usize) < with_nul {
            return Err(Errno::RANGE);
        }
        m.write_cstr(buf, cwd, with_nul)?;
        i32::try_from(with_nul).map_err(|_| Errno::RANGE)
    })
}

/// `chdir(path)`.
pub fn chdir(m: &mut impl GuestMemory, cx: &mut Context, path: u32) -> i32 {
    sys(|| cx.vfs.chdir(&m.cstr(path)?).map(|_| 0))
}

/// `fchdir(fd)`.
pub fn fchdir(_: &mut impl GuestMemory, cx: &mut Context, fd: i32) -> i32 {
    sys(|| {
        let path = cx.vfs.file(fd)?.path.clone();
        cx.vfs.chdir(&path).map(|_| 0)
    })
}

/// `fcntl(fd, cmd, ...)`; `varargs` points at the argument.
pub fn fcntl64(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    cmd: i32,
    varargs: u32,
) -> i32 {
    sys(|| {
        let file = cx.vfs.file(fd)?.clone();
        match cmd {
            // F_DUPFD, F_DUPFD_CLOEXEC
            0 | 1030 => {
                let min = usize::try_from(m.read_u32(varargs)? as i32).map_err(|_| Errno::INVAL)?;
                cx.vfs.insert_fd(file, min)
            }
            1 | 2 => Ok(0), // F_GETFD / F_SETFD: there is no exec to close on.
            3 => Ok(file.flags),
            4 => {
                let arg = m.read_u32(varargs)? as i32;
                // Only O_APPEND and O_NONBLOCK may change after open.
                let settable = pyworkers_vfs::oflags::O_APPEND | 0o4000;
                let f = cx.vfs.file_mut(fd)?;
                f.flags = (f.flags & !settable) | (arg & settable);
                Ok(0)
            }
            // F_GETLK: report "unlocked" (l_type = F_UNLCK); locks are per-process and there is one process.
            5 | 12 => {
                let flock = m.read_u32(varargs)?;
                m.write_u16(flock, 2)?;
                Ok(0)
            }
            6 | 7 | 13 | 14 => Ok(0), // F_SETLK / F_SETLKW
            _ => Err(Errno::INVAL),
        }
    })
}

/// `ioctl(fd, op, ...)`: only the terminal queries Python uses for `isatty()` answer.
pub fn ioctl(_: &mut impl GuestMemory, cx: &mut Context, fd: i32, op: i32, _varargs: u32) -> i32 {
    sys(|| match op {
        // TCGETS, TIOCGWINSZ and friends.
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
}

/// `faccessat(dirfd, path, amode, flags)`.
pub fn faccessat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    amode: i32,
    _flags: i32,
) -> i32 {
    sys(|| {
        if amode & !7 != 0 {
            return Err(Errno::INVAL);
        }
        let abs = cx.vfs.at_path(dirfd, &m.cstr(path)?, false)?;
        let node = cx.vfs.resolve(&abs, true)?;
        // W_OK on something the guest may not change is refused, as a read-only mount would be.
        if amode & 2 != 0 && !matches!(node, NodeRef::Mem { .. } | NodeRef::Stdio(_)) {
            return Err(Errno::ROFS);
        }
        Ok(0)
    })
}

/// `mkdirat(dirfd, path, mode)`.
pub fn mkdirat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    mode: u32,
) -> i32 {
    sys(|| {
        cx.vfs
            .mkdir_at(dirfd, &m.cstr(path)?, mode & !cx.umask)
            .map(|_| 0)
    })
}

/// `unlinkat(dirfd, path, flags)`.
pub fn unlinkat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    flags: i32,
) -> i32 {
    sys(|| {
        let dir = match flags {
            0 => false,
            AT_REMOVEDIR => true,
            _ => return Err(Errno::INVAL),
        };
        cx.vfs.unlink_at(dirfd, &m.cstr(path)?, dir).map(|_| 0)
    })
}

/// `rmdir(path)`.
pub fn rmdir(m: &mut impl GuestMemory, cx: &mut Context, path: u32) -> i32 {
    sys(|| cx.vfs.unlink_at(AT_FDCWD, &m.cstr(path)?, true).map(|_| 0))
}

/// `renameat(olddirfd, old, newdirfd, new)`.
pub fn renameat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    olddirfd: i32,
    old: u32,
    newdirfd: i32,
    new: u32,
) -> i32 {
    sys(|| {
        cx.vfs
            .rename_at(olddirfd, &m.cstr(old)?, newdirfd, &m.cstr(new)?)
            .map(|_| 0)
    })
}

/// `symlinkat(target, dirfd, path)`.
pub fn symlinkat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    target: u32,
    dirfd: i32,
    path: u32,
) -> i32 {
    sys(|| {
        cx.vfs
            .symlink_at(&m.cstr(target)?, dirfd, &m.cstr(path)?)
            .map(|_| 0)
    })
}

/// `readlinkat(dirfd, path, buf, size)`: the target, not NUL-terminated, truncated to `size`.
pub fn readlinkat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    buf: u32,
    size: u32,
) -> i32 {
    sys(|| {
        if size == 0 {
            return Err(Errno::INVAL);
        }
        let target = cx.vfs.readlink_at(dirfd, &m.cstr(path)?)?;
        let n = target.len().min(size as usize);
        m.write_bytes(buf, &target.as_bytes()[..n])?;
        i32::try_from(n).map_err(|_| EOVERFLOW)
    })
}

/// `ftruncate(fd, len)`.
pub fn ftruncate64(_: &mut impl GuestMemory, cx: &mut Context, fd: i32, len: i64) -> i32 {
    sys(|| {
        let len = u64::try_from(len).map_err(|_| Errno::INVAL)?;
        let node = cx.vfs.file(fd)?.node;
        cx.vfs.truncate_node(node, len).map(|_| 0)
    })
}

/// `truncate(path, len)`.
pub fn truncate64(m: &mut impl GuestMemory, cx: &mut Context, path: u32, len: i64) -> i32 {
    sys(|| {
        let len = u64::try_from(len).map_err(|_| Errno::INVAL)?;
        let abs = cx.vfs.at_path(AT_FDCWD, &m.cstr(path)?, false)?;
        let node = cx.vfs.resolve(&abs, true)?;
        cx.vfs.truncate_node(node, len).map(|_| 0)
    })
}

/// The modification time a `utimensat` `timespec` asks for, in milliseconds: `None` keeps it.
fn requested_mtime(t: &Timespec) -> Result<Option<f64>> {
    match t.tv_nsec.get() {
        UTIME_NOW => Ok(Some(pyworkers_vfs::now_ms())),
        UTIME_OMIT => Ok(None),
        n if (0..1_000_000_000).contains(&n) => {
            Ok(Some(t.tv_sec.get() as f64 * 1000.0 + f64::from(n) / 1e6))
        }
        _ => Err(Errno::INVAL),
    }
}

/// `utimensat(dirfd, path, times, flags)`; `times` is `[atime, mtime]` or NULL for "now". Only the
/// modification time is kept.
pub fn utimensat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    times: u32,
    flags: i32,
) -> i32 {
    sys(|| {
        let mtime = if times == 0 {
            Some(pyworkers_vfs::now_ms())
        } else {
            let [_atime, mtime] = m.read::<[Timespec; 2]>(times)?;
            requested_mtime(&mtime)?
        };
        let abs = cx.vfs.at_path(dirfd, &m.cstr(path)?, true)?;
        let node = cx.vfs.resolve(&abs, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        cx.vfs.utime_node(node, mtime).map(|_| 0)
    })
}

/// `fchmod(fd, mode)`.
pub fn fchmod(_: &mut impl GuestMemory, cx: &mut Context, fd: i32, mode: u32) -> i32 {
    sys(|| {
        let node = cx.vfs.file(fd)?.node;
        cx.vfs.chmod_node(node, mode).map(|_| 0)
    })
}

/// `chmod(path, mode)`.
pub fn chmod(m: &mut impl GuestMemory, cx: &mut Context, path: u32, mode: u32) -> i32 {
    sys(|| {
        let abs = cx.vfs.at_path(AT_FDCWD, &m.cstr(path)?, false)?;
        let node = cx.vfs.resolve(&abs, true)?;
        cx.vfs.chmod_node(node, mode).map(|_| 0)
    })
}

/// `fchmodat2(dirfd, path, mode, flags)`.
pub fn fchmodat2(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    mode: u32,
    flags: i32,
) -> i32 {
    sys(|| {
        let abs = cx.vfs.at_path(dirfd, &m.cstr(path)?, false)?;
        let node = cx.vfs.resolve(&abs, flags & AT_SYMLINK_NOFOLLOW == 0)?;
        cx.vfs.chmod_node(node, mode).map(|_| 0)
    })
}

/// `fchown(fd, uid, gid)`: there is one user; succeeds on an open fd and changes nothing.
pub fn fchown32(_: &mut impl GuestMemory, cx: &mut Context, fd: i32, _uid: i32, _gid: i32) -> i32 {
    sys(|| cx.vfs.file(fd).map(|_| 0))
}

/// `fchownat(dirfd, path, uid, gid, flags)`: succeeds on what exists and changes nothing.
pub fn fchownat(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    dirfd: i32,
    path: u32,
    _uid: i32,
    _gid: i32,
    flags: i32,
) -> i32 {
    sys(|| {
        cx.vfs
            .stat_at(
                dirfd,
                &m.cstr(path)?,
                flags & AT_SYMLINK_NOFOLLOW == 0,
                flags & AT_EMPTY_PATH != 0,
            )
            .map(|_| 0)
    })
}

/// `dup(fd)`.
pub fn dup(_: &mut impl GuestMemory, cx: &mut Context, fd: i32) -> i32 {
    sys(|| {
        let file = cx.vfs.file(fd)?.clone();
        cx.vfs.insert_fd(file, 0)
    })
}

/// `dup3(fd, newfd, flags)`.
pub fn dup3(_: &mut impl GuestMemory, cx: &mut Context, fd: i32, newfd: i32, _flags: i32) -> i32 {
    sys(|| {
        let file = cx.vfs.file(fd)?.clone();
        if fd == newfd {
            return Err(Errno::INVAL);
        }
        cx.vfs.set_fd(newfd, file).map(|_| newfd)
    })
}

/// `fdatasync(fd)`: memory is the storage, so there is nothing to flush.
pub fn fdatasync(_: &mut impl GuestMemory, cx: &mut Context, fd: i32) -> i32 {
    sys(|| cx.vfs.file(fd).map(|_| 0))
}

/// `posix_fadvise(fd, offset, len, advice)`: advice is accepted and ignored.
pub fn fadvise64(
    _: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    _offset: i64,
    _len: i64,
    _advice: i32,
) -> i32 {
    sys(|| cx.vfs.file(fd).map(|_| 0))
}

/// `fallocate(fd, mode, offset, len)`: grows the file to `offset + len` if it is shorter.
pub fn fallocate(
    _: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    mode: i32,
    offset: i64,
    len: i64,
) -> i32 {
    sys(|| {
        if mode != 0 {
            return Err(Errno::NOTSUP);
        }
        if offset < 0 || len <= 0 {
            return Err(Errno::INVAL);
        }
        // Linux answers EFBIG when the end would pass the largest file size.
        let want = offset.checked_add(len).ok_or(Errno::FBIG)? as u64;
        let node = cx.vfs.file(fd)?.node;
        if cx.vfs.stat_node(node)?.size < want {
            cx.vfs.truncate_node(node, want)?;
        }
        Ok(0)
    })
}

/// `statfs(path, buf)`; `size` is the guest's `sizeof(struct statfs)`.
pub fn statfs64(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    path: u32,
    _size: u32,
    buf: u32,
) -> i32 {
    sys(|| {
        cx.vfs.stat_at(AT_FDCWD, &m.cstr(path)?, true, false)?;
        write_statfs(m, buf)
    })
}

/// `fstatfs(fd, buf)`.
pub fn fstatfs64(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fd: i32,
    _size: u32,
    buf: u32,
) -> i32 {
    sys(|| {
        cx.vfs.file(fd)?;
        write_statfs(m, buf)
    })
}

/// `poll(fds, nfds, timeout)`: files and the standard streams are always ready, as in Emscripten's MEMFS; a
/// closed descriptor reports `POLLNVAL` whatever was asked, as on Linux.
pub fn poll(
    m: &mut impl GuestMemory,
    cx: &mut Context,
    fds: u32,
    nfds: i32,
    _timeout: i32,
) -> i32 {
    const POLLIN_POLLOUT: i16 = 1 | 4;
    const POLLNVAL: i16 = 32;
    sys(|| {
        let mut ready = 0;
        for i in 0..u64::try_from(nfds).unwrap_or(0) {
            let at = element::<Pollfd>(fds, i)?;
            let mut entry: Pollfd = m.read(at)?;
            let revents = if cx.vfs.file(entry.fd.get()).is_ok() {
                POLLIN_POLLOUT & entry.events.get()
            } else {
                POLLNVAL
            };
            if revents != 0 {
                ready += 1;
            }
            entry.revents = revents.into();
            m.write(at, &entry)?;
        }
        Ok(ready)
    })
}

/// `umask(mask)`: returns the previous mask.
pub fn umask(_: &mut impl GuestMemory, cx: &mut Context, mask: u32) -> i32 {
    std::mem::replace(&mut cx.umask, mask & 0o777) as i32
}

