//! The import tables: which import of `pyodide.asm.wasm` each plain function of this crate serves, with the
//! import's guest-facing parameters. One list, bound by every embedder — the native host turns each entry into a
//! wasmtime linker definition, the Pyodide component's shim into a core-wasm export — so the two cannot disagree
//! on a name, a signature or which function answers.
//!
//! Each macro takes a binder macro and the tokens to put first, and calls the binder once with
//! `HEAD... MODULE, -> RETURN, no_memory: ANSWER; "name" => function[param: type, ...]; ...`, where `ANSWER` is what
//! the import returns if it runs before the guest's memory is reachable (an `EFAULT` in the family's convention).
//! Every function is called as `function(&mut impl GuestMemory, &mut Context, params...) -> RETURN`.
//! [`all_imports!`] calls the binder once per table.

/// The `__syscall_*` imports of Emscripten's libc.
#[macro_export]
macro_rules! syscall_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "env", -> i32, no_memory: -i32::from($crate::Errno::FAULT.0);
            "__syscall_openat" => $crate::syscalls::openat[dirfd: i32, path: u32, flags: i32, varargs: u32];
            "__syscall_fstat64" => $crate::syscalls::fstat64[fd: i32, buf: u32];
            "__syscall_stat64" => $crate::syscalls::stat64[path: u32, buf: u32];
            "__syscall_lstat64" => $crate::syscalls::lstat64[path: u32, buf: u32];
            "__syscall_newfstatat" => $crate::syscalls::newfstatat[dirfd: i32, path: u32, buf: u32, flags: i32];
            "__syscall_getdents64" => $crate::syscalls::getdents64[fd: i32, dirp: u32, count: u32];
            "__syscall_getcwd" => $crate::syscalls::getcwd[buf: u32, size: u32];
            "__syscall_chdir" => $crate::syscalls::chdir[path: u32];
            "__syscall_fchdir" => $crate::syscalls::fchdir[fd: i32];
            "__syscall_fcntl64" => $crate::syscalls::fcntl64[fd: i32, cmd: i32, varargs: u32];
            "__syscall_ioctl" => $crate::syscalls::ioctl[fd: i32, op: i32, varargs: u32];
            "__syscall_faccessat" => $crate::syscalls::faccessat[dirfd: i32, path: u32, amode: i32, flags: i32];
            "__syscall_mkdirat" => $crate::syscalls::mkdirat[dirfd: i32, path: u32, mode: u32];
            "__syscall_unlinkat" => $crate::syscalls::unlinkat[dirfd: i32, path: u32, flags: i32];
            "__syscall_rmdir" => $crate::syscalls::rmdir[path: u32];
            "__syscall_renameat" => $crate::syscalls::renameat[olddirfd: i32, old: u32, newdirfd: i32, new: u32];
            "__syscall_symlinkat" => $crate::syscalls::symlinkat[target: u32, dirfd: i32, path: u32];
            "__syscall_readlinkat" => $crate::syscalls::readlinkat[dirfd: i32, path: u32, buf: u32, size: u32];
            "__syscall_ftruncate64" => $crate::syscalls::ftruncate64[fd: i32, len: i64];
            "__syscall_truncate64" => $crate::syscalls::truncate64[path: u32, len: i64];
            "__syscall_utimensat" => $crate::syscalls::utimensat[dirfd: i32, path: u32, times: u32, flags: i32];
            "__syscall_fchmod" => $crate::syscalls::fchmod[fd: i32, mode: u32];
            "__syscall_chmod" => $crate::syscalls::chmod[path: u32, mode: u32];
            "__syscall_fchmodat2" => $crate::syscalls::fchmodat2[dirfd: i32, path: u32, mode: u32, flags: i32];
            "__syscall_fchown32" => $crate::syscalls::fchown32[fd: i32, uid: i32, gid: i32];
            "__syscall_fchownat" => $crate::syscalls::fchownat[dirfd: i32, path: u32, uid: i32, gid: i32, flags: i32];
            "__syscall_dup" => $crate::syscalls::dup[fd: i32];
            "__syscall_dup3" => $crate::syscalls::dup3[fd: i32, newfd: i32, flags: i32];
            "__syscall_fdatasync" => $crate::syscalls::fdatasync[fd: i32];
            "__syscall_fadvise64" => $crate::syscalls::fadvise64[fd: i32, offset: i64, len: i64, advice: i32];
            "__syscall_fallocate" => $crate::syscalls::fallocate[fd: i32, mode: i32, offset: i64, len: i64];
            "__syscall_statfs64" => $crate::syscalls::statfs64[path: u32, size: u32, buf: u32];
            "__syscall_fstatfs64" => $crate::syscalls::fstatfs64[fd: i32, size: u32, buf: u32];
            "__syscall_poll" => $crate::syscalls::poll[fds: u32, nfds: i32, timeout: i32];
            "__syscall_umask_js" => $crate::syscalls::umask[mask: u32];
        }
    };
}

/// The `wasi_snapshot_preview1` fd, environment, clock and random imports.
#[macro_export]
macro_rules! wasi_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "wasi_snapshot_preview1", -> i32, no_memory: i32::from($crate::Errno::FAULT.0);
            "fd_read" => $crate::wasi::fd_read[fd: i32, iov: u32, count: u32, pnum: u32];
            "fd_pread" => $crate::wasi::fd_pread[fd: i32, iov: u32, count: u32, offset: i64, pnum: u32];
            "fd_write" => $crate::wasi::fd_write[fd: i32, iov: u32, count: u32, pnum: u32];
            "fd_pwrite" => $crate::wasi::fd_pwrite[fd: i32, iov: u32, count: u32, offset: i64, pnum: u32];
            "fd_seek" => $crate::wasi::fd_seek[fd: i32, offset: i64, whence: i32, pnew: u32];
            "fd_close" => $crate::wasi::fd_close[fd: i32];
            "fd_sync" => $crate::wasi::fd_sync[fd: i32];
            "fd_fdstat_get" => $crate::wasi::fd_fdstat_get[fd: i32, buf: u32];
            "environ_sizes_get" => $crate::wasi::environ_sizes_get[pcount: u32, psize: u32];
            "environ_get" => $crate::wasi::environ_get[environ: u32, buf: u32];
            "clock_time_get" => $crate::wasi::clock_time_get[id: i32, precision: i64, ptime: u32];
            "clock_res_get" => $crate::wasi::clock_res_get[id: i32, pres: u32];
            "random_get" => $crate::wasi::random_get[buf: u32, len: u32];
        }
    };
}

/// The calendar imports (`_tzset_js`, `_localtime_js`, `_gmtime_js`).
#[macro_export]
macro_rules! calendar_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "env", -> (), no_memory: ();
            "_tzset_js" => $crate::time::tzset[timezone: u32, daylight: u32, std_name: u32, dst_name: u32];
            "_localtime_js" => $crate::time::localtime[secs: i64, tm: u32];
            "_gmtime_js" => $crate::time::localtime[secs: i64, tm: u32];
        }
    };
}

/// `_mktime_js` and `_timegm_js`.
#[macro_export]
macro_rules! mktime_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "env", -> i64, no_memory: -1;
            "_mktime_js" => $crate::time::mktime[tm: u32];
            "_timegm_js" => $crate::time::mktime[tm: u32];
        }
    };
}

/// The clock imports that answer in milliseconds (the guest's `Date.now()` and `performance.now()`), from the
/// context's clock, so they and `clock_time_get` always agree.
#[macro_export]
macro_rules! clock_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "env", -> f64, no_memory: 0.0;
            "emscripten_date_now" => $crate::time::date_now[];
            "emscripten_get_now" => $crate::time::get_now[];
        }
    };
}

/// The program-name and logging imports.
#[macro_export]
macro_rules! log_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $bind! { $($head)* "env", -> (), no_memory: ();
            "_emscripten_get_progname" => $crate::process::get_progname[buf: u32, len: i32];
            "_emscripten_log_formatted" => $crate::process::log_formatted[flags: i32, message: u32];
            "emscripten_log_impl_js" => $crate::process::log[message: u32];
        }
    };
}

/// Every table above, each passed to the same binder.
#[macro_export]
macro_rules! all_imports {
    ($bind:ident ! { $($head:tt)* }) => {
        $crate::syscall_imports!($bind! { $($head)* });
        $crate::wasi_imports!($bind! { $($head)* });
        $crate::calendar_imports!($bind! { $($head)* });
        $crate::mktime_imports!($bind! { $($head)* });
        $crate::clock_imports!($bind! { $($head)* });
        $crate::log_imports!($bind! { $($head)* });
    };
}
