use crate::layout::{Dirent, Fdstat, Iovec, Pollfd, Statfs, Timespec, Tm};
use crate::memory::offset;
use crate::{process, syscalls, time, wasi, Context, GuestMemory};
use pyworkers_vfs::{oflags, Errno, Fs, MemFs, Vfs};
use std::mem::{offset_of, size_of};

/// Bytes of guest memory each test gets.
const MEM: usize = 64 * 1024;
/// Read and write (`vfs::oflags` has no name for it).
const O_RDWR: i32 = 2;
/// Where tests put path strings.
const PATH: u32 = 1024;
/// Where tests put result buffers.
const BUF: u32 = 4096;

/// A syscall's answer for `e`.
fn neg(e: Errno) -> i32 {
    -i32::from(e.0)
}

/// A WASI function's answer for `e`.
fn pos(e: Errno) -> i32 {
    i32::from(e.0)
}

/// A guest with a writable `/tmp`.
struct Guest {
    mem: Vec<u8>,
    cx: Context,
}

impl Guest {
    fn new() -> Guest {
        let mut vfs = Vfs::new();
        vfs.mount("/tmp", Fs::Mem(MemFs::new(1 << 20)), true)
            .unwrap();
        Guest {
            mem: vec![0; MEM],
            cx: Context::new(vfs),
        }
    }

    /// Call `f` as the linker would: over the memory and the context.
    fn call<R>(&mut self, f: impl FnOnce(&mut Memory<'_>, &mut Context) -> R) -> R {
        f(&mut Memory::new(&mut self.mem), &mut self.cx)
    }

    /// `s` NUL-terminated at `at`.
    fn put_str(&mut self, at: u32, s: &str) -> u32 {
        let at_ = at as usize;
        self.mem[at_..at_ + s.len()].copy_from_slice(s.as_bytes());
        self.mem[at_ + s.len()] = 0;
        at
    }

    fn put(&mut self, at: u32, bytes: &[u8]) {
        self.mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    }

    fn bytes(&self, at: u32, len: usize) -> &[u8] {
        &self.mem[at as usize..at as usize + len]
    }

    fn u16_at(&self, at: u32) -> u16 {
        u16::from_le_bytes(self.bytes(at, 2).try_into().unwrap())
    }

    fn u32_at(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.bytes(at, 4).try_into().unwrap())
    }

    fn i64_at(&self, at: u32) -> i64 {
        i64::from_le_bytes(self.bytes(at, 8).try_into().unwrap())
    }

    /// Open `path` with `flags` through the import; the new fd.
    fn open(&mut self, path: &str, flags: i32) -> i32 {
        self.put_str(PATH, path);
        self.put(PATH - 8, &0o644u32.to_le_bytes());
        let fd =
            self.call(|m, cx| syscalls::openat(m, cx, syscalls::AT_FDCWD, PATH, flags, PATH - 8));
        assert!(fd >= 0, "open {path}: {fd}");
        fd
    }

    /// A file at `path` holding `data`.
    fn file(&mut self, path: &str, data: &[u8]) {
        let fd = self.open(path, oflags::O_WRONLY | oflags::O_CREAT | oflags::O_TRUNC);
        assert_eq!(self.cx.vfs.write(fd, data, None), Ok(data.len()));
        self.cx.vfs.close(fd).unwrap();
    }

    /// An iovec array at `at` of `(ptr, len)` pairs.
    fn iovecs(&mut self, at: u32, list: &[(u32, u32)]) {
        for (i, (ptr, len)) in list.iter().enumerate() {
            let v = Iovec {
                iov_base: (*ptr).into(),
                iov_len: (*len).into(),
            };
            self.call(|m, _| m.write(at + 8 * i as u32, &v)).unwrap();
        }
    }
}

#[test]
fn stat_layout_is_emscriptens_write_stat() {
    use crate::layout::Stat;
    // SYSCALLS.writeStat: HEAPU32[buf]=dev, [+4]=mode, [+8]=nlink, [+12]=uid, [+16]=gid, [+20]=rdev,
    // HEAP64[+24]=size, HEAP32[+32]=4096, [+36]=blocks, atime at +40/+48, mtime +56/+64, ctime +72/+80,
    // HEAP64[+88]=ino.
    let offsets = [
        (offset_of!(Stat, st_dev), 0),
        (offset_of!(Stat, st_mode), 4),
        (offset_of!(Stat, st_nlink), 8),
        (offset_of!(Stat, st_uid), 12),
        (offset_of!(Stat, st_gid), 16),
        (offset_of!(Stat, st_rdev), 20),
        (offset_of!(Stat, st_size), 24),
        (offset_of!(Stat, st_blksize), 32),
        (offset_of!(Stat, st_blocks), 36),
        (offset_of!(Stat, st_atim), 40),
        (offset_of!(Stat, st_mtim), 56),
        (offset_of!(Stat, st_ctim), 72),
        (offset_of!(Stat, st_ino), 88),
        (offset_of!(Timespec, tv_sec), 0),
        (offset_of!(Timespec, tv_nsec), 8),
    ];
    for (i, (ours, js)) in offsets.iter().enumerate() {
        assert_eq!(ours, js, "field {i}");
    }
    assert_eq!(size_of::<Stat>(), 96);
    assert_eq!(size_of::<Timespec>(), 16);
}

#[test]
fn fstat_writes_the_fields_where_the_guest_reads_them() {
    let mut g = Guest::new();
    g.file("/tmp/f", &[7; 1000]);
    let fd = g.open("/tmp/f", oflags::O_RDONLY);
    g.mem[BUF as usize..BUF as usize + 100].fill(0xAA);
    assert_eq!(g.call(|m, cx| syscalls::fstat64(m, cx, fd, BUF)), 0);
    let st = g.cx.vfs.stat_node(g.cx.vfs.file(fd).unwrap().node).unwrap();
    assert_eq!(g.u32_at(BUF), st.dev);
    assert_eq!(g.u32_at(BUF + 4), 0o100644);
    assert_eq!(g.u32_at(BUF + 8), 1);
    assert_eq!(g.u32_at(BUF + 12), 0, "uid");
    assert_eq!(g.i64_at(BUF + 24), 1000);
    assert_eq!(g.u32_at(BUF + 32), 4096);
    assert_eq!(g.u32_at(BUF + 36), 2, "512-byte blocks");
    let secs = (st.mtime_ms / 1000.0).floor() as i64;
    for at in [40, 56, 72] {
        assert_eq!(g.i64_at(BUF + at), secs);
        assert!(g.u32_at(BUF + at + 8) < 1_000_000_000);
        assert_eq!(g.u32_at(BUF + at + 12), 0, "padding is zeroed");
    }
    assert_eq!(g.i64_at(BUF + 88) as u64, st.ino);
    assert_eq!(
        g.mem[BUF as usize + 96],
        0xAA,
        "nothing past the struct is written"
    );
}

#[test]
fn small_struct_layouts_are_emscriptens() {
    // ___syscall_getdents64: HEAP64[+0]=id, HEAP64[+8]=next offset, HEAP16[+16]=280, HEAP8[+18]=type, name at
    // +19 (256 bytes), struct_size=280.
    assert_eq!(offset_of!(Dirent, d_ino), 0);
    assert_eq!(offset_of!(Dirent, d_off), 8);
    assert_eq!(offset_of!(Dirent, d_reclen), 16);
    assert_eq!(offset_of!(Dirent, d_type), 18);
    assert_eq!(offset_of!(Dirent, d_name), 19);
    assert_eq!(size_of::<Dirent>(), 280);
    // doReadv: HEAPU32[iov], HEAPU32[iov+4], iov+=8.
    assert_eq!(
        (offset_of!(Iovec, iov_base), offset_of!(Iovec, iov_len)),
        (0, 4)
    );
    assert_eq!(size_of::<Iovec>(), 8);
    // ___syscall_poll: fd at +0, HEAP16 events +4, revents +6, 8 per entry.
    assert_eq!(
        (
            offset_of!(Pollfd, fd),
            offset_of!(Pollfd, events),
            offset_of!(Pollfd, revents)
        ),
        (0, 4, 6)
    );
    // __localtime_js: sec, min, hour, mday, mon, year, wday, yday at +0..+28, isdst +32, gmtoff +36.
    let tm = [
        offset_of!(Tm, tm_sec),
        offset_of!(Tm, tm_min),
        offset_of!(Tm, tm_hour),
        offset_of!(Tm, tm_mday),
        offset_of!(Tm, tm_mon),
        offset_of!(Tm, tm_year),
        offset_of!(Tm, tm_wday),
        offset_of!(Tm, tm_yday),
        offset_of!(Tm, tm_isdst),
        offset_of!(Tm, tm_gmtoff),
    ];
    assert_eq!(tm, [0, 4, 8, 12, 16, 20, 24, 28, 32, 36]);
    // writeStatFs: bsize +4, frsize +60, blocks +8, bfree +16, bavail +24, files +32, ffree +40, fsid +48,
    // flags +64, namelen +56.
    let statfs = [
        offset_of!(Statfs, f_bsize),
        offset_of!(Statfs, f_blocks),
        offset_of!(Statfs, f_bfree),
        offset_of!(Statfs, f_bavail),
        offset_of!(Statfs, f_files),
        offset_of!(Statfs, f_ffree),
        offset_of!(Statfs, f_fsid),
        offset_of!(Statfs, f_namelen),
        offset_of!(Statfs, f_frsize),
        offset_of!(Statfs, f_flags),
    ];
    assert_eq!(statfs, [4, 8, 16, 24, 32, 40, 48, 56, 60, 64]);
    // _fd_fdstat_get: HEAP8[+0]=type, HEAP16[+2]=flags, HEAP64[+8], HEAP64[+16] rights.
    assert_eq!(
        [
            offset_of!(Fdstat, fs_filetype),
            offset_of!(Fdstat, fs_flags),
            offset_of!(Fdstat, fs_rights_base),
            offset_of!(Fdstat, fs_rights_inheriting)
        ],
        [0, 2, 8, 16]
    );
}

/// The `(d_ino, d_off, d_type, name)` of each record in `len` bytes at `BUF`.
fn records(g: &Guest, len: i32) -> Vec<(u64, i64, u8, String)> {
    assert_eq!(len % 280, 0, "whole records only");
    (0..len as u32 / 280)
        .map(|i| {
            let at = BUF + 280 * i;
            assert_eq!(g.u16_at(at + 16), 280, "d_reclen");
            let name = g.bytes(at + 19, 256);
            let end = name.iter().position(|&b| b == 0).unwrap();
            (
                g.i64_at(at) as u64,
                g.i64_at(at + 8),
                g.mem[at as usize + 18],
                String::from_utf8(name[..end].to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn getdents64_packs_whole_records_and_resumes() {
    let mut g = Guest::new();
    g.put_str(PATH, "/tmp/d");
    assert_eq!(
        g.call(|m, cx| syscalls::mkdirat(m, cx, syscalls::AT_FDCWD, PATH, 0o755)),
        0
    );
    for name in ["a", "b", "c"] {
        g.file(&format!("/tmp/d/{name}"), b"");
    }
    g.put_str(PATH, "/tmp/d/sub");
    g.call(|m, cx| syscalls::mkdirat(m, cx, syscalls::AT_FDCWD, PATH, 0o755));
    let fd = g.open("/tmp/d", oflags::O_RDONLY | oflags::O_DIRECTORY);

    // Room for two records and a bit: two are written, never a partial third.
    let n = g.call(|m, cx| syscalls::getdents64(m, cx, fd, BUF, 2 * 280 + 279));
    assert_eq!(n, 560);
    let first = records(&g, n);
    assert_eq!(
        first
            .iter()
            .map(|r| (r.1, r.2, r.3.as_str()))
            .collect::<Vec<_>>(),
        [(280, 4, "."), (560, 4, "..")]
    );
    assert_eq!(g.cx.vfs.file(fd).unwrap().pos, 560, "offset = next record");

    let n = g.call(|m, cx| syscalls::getdents64(m, cx, fd, BUF, 10 * 280));
    let rest = records(&g, n);
    assert_eq!(
        rest.iter()
            .map(|r| (r.1, r.2, r.3.as_str()))
            .collect::<Vec<_>>(),
        [
            (840, 8, "a"),
            (1120, 8, "b"),
            (1400, 8, "c"),
            (1680, 4, "sub")
        ]
    );
    let ino_a =
        g.cx.vfs
            .stat_at(syscalls::AT_FDCWD, "/tmp/d/a", false, false)
            .unwrap()
            .ino;
    assert_eq!(rest[0].0, ino_a);
    // At the end: 0, and the offset stays.
    assert_eq!(g.call(|m, cx| syscalls::getdents64(m, cx, fd, BUF, 280)), 0);
    assert_eq!(g.cx.vfs.file(fd).unwrap().pos, 1680);
    // Less than one record of room is EINVAL, as in Linux.
    g.cx.vfs.seek(fd, 0, 0).unwrap();
    assert_eq!(
        g.call(|m, cx| syscalls::getdents64(m, cx, fd, BUF, 279)),
        neg(Errno::INVAL)
    );
    // A seek back to a record's offset resumes there.
    g.cx.vfs.seek(fd, 3 * 280, 0).unwrap();
    let n = g.call(|m, cx| syscalls::getdents64(m, cx, fd, BUF, 280));
    assert_eq!(records(&g, n)[0].3, "b");
    // Not a directory.
    let f = g.open("/tmp/d/a", oflags::O_RDONLY);
    assert_eq!(
        g.call(|m, cx| syscalls::getdents64(m, cx, f, BUF, 280)),
        neg(Errno::NOTDIR)
    );
}

#[test]
fn getdents64_with_records_past_the_end_of_memory_is_efault() {
    let mut g = Guest::new();
    let fd = g.open("/tmp", oflags::O_RDONLY | oflags::O_DIRECTORY);
    // The first record fits, the second does not.
    let dirp = MEM as u32 - 300;
    assert_eq!(
        g.call(|m, cx| syscalls::getdents64(m, cx, fd, dirp, 2 * 280)),
        neg(Errno::FAULT)
    );
    assert_eq!(
        g.call(|m, cx| syscalls::getdents64(m, cx, fd, u32::MAX - 100, u32::MAX)),
        neg(Errno::FAULT)
    );
}

#[test]
fn readv_scatters_and_stops_at_the_first_short_buffer() {
    let mut g = Guest::new();
    g.file("/tmp/f", b"0123456789");
    let fd = g.open("/tmp/f", oflags::O_RDONLY);
    // 4 + 4 + 8 bytes of buffers for 10 bytes of file; the fourth buffer is never reached.
    let bufs = [(BUF, 4), (BUF + 100, 4), (BUF + 200, 8), (BUF + 300, 4)];
    g.iovecs(BUF - 64, &bufs);
    g.mem[BUF as usize + 300..BUF as usize + 304].copy_from_slice(b"keep");
    let pnum = BUF - 128;
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, BUF - 64, 4, pnum)),
        0
    );
    assert_eq!(g.u32_at(pnum), 10);
    assert_eq!(g.bytes(BUF, 4), b"0123");
    assert_eq!(g.bytes(BUF + 100, 4), b"4567");
    assert_eq!(&g.bytes(BUF + 200, 8)[..2], b"89");
    assert_eq!(g.bytes(BUF + 300, 4), b"keep");
    // pread from an offset leaves the fd's position alone.
    assert_eq!(
        g.call(|m, cx| wasi::fd_pread(m, cx, fd, BUF - 64, 1, 6, pnum)),
        0
    );
    assert_eq!((g.u32_at(pnum), g.bytes(BUF, 4)), (4, &b"6789"[..]));
    assert_eq!(g.cx.vfs.file(fd).unwrap().pos, 10);
}

#[test]
fn writev_gathers_in_order() {
    let mut g = Guest::new();
    let fd = g.open("/tmp/out", oflags::O_WRONLY | oflags::O_CREAT);
    g.put(BUF, b"ab");
    g.put(BUF + 50, b"cde");
    g.iovecs(BUF - 64, &[(BUF, 2), (BUF + 999, 0), (BUF + 50, 3)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_write(m, cx, fd, BUF - 64, 3, BUF - 128)),
        0
    );
    assert_eq!(g.u32_at(BUF - 128), 5);
    assert_eq!(g.cx.vfs.read_file("/tmp/out").unwrap(), b"abcde");
    // pwrite at an offset.
    assert_eq!(
        g.call(|m, cx| wasi::fd_pwrite(m, cx, fd, BUF - 64, 1, 1, BUF - 128)),
        0
    );
    assert_eq!(g.cx.vfs.read_file("/tmp/out").unwrap(), b"aabde");
}

#[test]
fn bad_pointers_are_efault_and_leave_state_alone() {
    let mut g = Guest::new();
    g.file("/tmp/f", b"data");
    let fd = g.open("/tmp/f", O_RDWR);
    let end = MEM as u32;
    let fault = neg(Errno::FAULT);
    // Path pointers off the end, or with no NUL before the end.
    assert_eq!(
        g.call(|m, cx| syscalls::stat64(m, cx, u32::MAX, BUF)),
        fault
    );
    g.mem[MEM - 4..].copy_from_slice(b"/tmp");
    assert_ne!(g.call(|m, cx| syscalls::stat64(m, cx, end - 4, BUF)), 0);
    // Result buffers that straddle the end, or wrap the address space.
    g.put_str(PATH, "/tmp/f");
    assert_eq!(
        g.call(|m, cx| syscalls::stat64(m, cx, PATH, end - 95)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| syscalls::fstat64(m, cx, fd, u32::MAX - 10)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| syscalls::getcwd(m, cx, u32::MAX, 100)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| syscalls::utimensat(m, cx, syscalls::AT_FDCWD, PATH, u32::MAX - 16, 0)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| syscalls::poll(m, cx, u32::MAX - 4, 1, 0)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| syscalls::poll(m, cx, end - 8, 2, 0)),
        fault,
        "the second pollfd is past the end"
    );
    // An fcntl argument pointer off the end.
    assert_eq!(
        g.call(|m, cx| syscalls::fcntl64(m, cx, fd, 0, u32::MAX - 1)),
        fault
    );
    // WASI answers with the positive errno.
    let fault = pos(Errno::FAULT);
    assert_eq!(
        g.call(|m, cx| wasi::fd_seek(m, cx, fd, 0, 0, u32::MAX - 3)),
        fault
    );
    assert_eq!(g.call(|m, cx| wasi::random_get(m, cx, u32::MAX, 2)), fault);
    assert_eq!(
        g.call(|m, cx| wasi::clock_time_get(m, cx, 0, 0, end - 4)),
        fault
    );
    g.cx.environ = vec!["A=1".into(), "B=2".into()];
    assert_eq!(
        g.call(|m, cx| wasi::environ_get(m, cx, u32::MAX - 2, BUF)),
        fault
    );
    assert_eq!(
        g.call(|m, cx| wasi::environ_get(m, cx, BUF, u32::MAX - 3)),
        fault
    );
    // The iovec array itself, or a buffer it names, out of range: nothing is read.
    let pos_before = g.cx.vfs.file(fd).unwrap().pos;
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, u32::MAX - 4, 1, BUF)),
        fault
    );
    g.iovecs(BUF - 64, &[(u32::MAX - 1, 4)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, BUF - 64, 1, BUF)),
        fault
    );
    assert_eq!(g.cx.vfs.file(fd).unwrap().pos, pos_before);
    // The count pointer off the end, after a successful write: EFAULT, as the guest cannot learn the count.
    g.iovecs(BUF - 64, &[(BUF, 1)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_write(m, cx, fd, BUF - 64, 1, end)),
        fault
    );
}

#[test]
fn lengths_and_offsets_that_overflow_are_refused() {
    let mut g = Guest::new();
    g.file("/tmp/f", b"data");
    let fd = g.open("/tmp/f", O_RDWR);
    // Buffers whose lengths sum past ssize_t, even if each is in range, and lists longer than IOV_MAX.
    g.iovecs(BUF - 64, &[(0, 0x7fff_ffff), (0, 0x7fff_ffff)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_write(m, cx, fd, BUF - 64, 2, BUF)),
        pos(Errno::INVAL)
    );
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, BUF - 64, u32::MAX, BUF)),
        pos(Errno::INVAL)
    );
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, 0, wasi::IOV_MAX + 1, BUF)),
        pos(Errno::INVAL)
    );
    // IOV_MAX entries that do not fit in memory: one bounds check, EFAULT.
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, MEM as u32 - 8, wasi::IOV_MAX, BUF)),
        pos(Errno::FAULT)
    );
    // A buffer that would wrap the address space (its length alone is valid), or end past memory.
    for (ptr, len) in [(u32::MAX - 3, 8), (MEM as u32 - 2, 4)] {
        g.iovecs(BUF - 64, &[(ptr, len)]);
        assert_eq!(
            g.call(|m, cx| wasi::fd_read(m, cx, fd, BUF - 64, 1, BUF)),
            pos(Errno::FAULT)
        );
    }
    // One length over ssize_t is EINVAL before any pointer is looked at.
    g.iovecs(BUF - 64, &[(BUF, u32::MAX - BUF + 1)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_read(m, cx, fd, BUF - 64, 1, BUF)),
        pos(Errno::INVAL)
    );
    // Offsets.
    g.iovecs(BUF - 64, &[(BUF, 4)]);
    assert_eq!(
        g.call(|m, cx| wasi::fd_pread(m, cx, fd, BUF - 64, 1, -1, BUF)),
        pos(Errno::INVAL)
    );
    assert_eq!(
        g.call(|m, cx| wasi::fd_seek(m, cx, fd, 0, 256, BUF)),
        pos(Errno::INVAL),
        "whence 256 is not SEEK_SET"
    );
    assert_eq!(
        g.call(|m, cx| wasi::fd_seek(m, cx, fd, i64::MAX, 2, BUF)),
        pos(Errno::INVAL)
    );
    assert_eq!(
        g.call(|m, cx| syscalls::fallocate(m, cx, fd, 0, i64::MAX, 1)),
        neg(Errno::FBIG)
    );
    assert_eq!(
        g.call(|m, cx| syscalls::ftruncate64(m, cx, fd, -1)),
        neg(Errno::INVAL)
    );
    // F_DUPFD with a negative lowest fd.
    g.put(BUF, &(-1i32).to_le_bytes());
    assert_eq!(
        g.call(|m, cx| syscalls::fcntl64(m, cx, fd, 0, BUF)),
        neg(Errno::INVAL)
    );
}

#[test]
fn utimensat_takes_the_second_timespec_and_checks_nanoseconds() {
    let mut g = Guest::new();
    g.file("/tmp/f", b"");
    g.put_str(PATH, "/tmp/f");
    let times = [
        Timespec {
            tv_sec: 1.into(),
            ..Timespec::default()
        },
        Timespec {
            tv_sec: 1_234_567_890.into(),
            tv_nsec: 500_000_000.into(),
            _pad: [0; 4],
        },
    ];
    g.call(|m, _| m.write(BUF, &times)).unwrap();
    let at = syscalls::AT_FDCWD;
    assert_eq!(
        g.call(|m, cx| syscalls::utimensat(m, cx, at, PATH, BUF, 0)),
        0
    );
    let st = g.cx.vfs.stat_at(at, "/tmp/f", true, false).unwrap();
    assert_eq!(st.mtime_ms, 1_234_567_890_500.0);
    // UTIME_OMIT keeps it; a nanosecond count of a second or more is EINVAL.
    for (nsec, want) in [
        (0x3fff_fffe_i32, 0),
        (1_000_000_000, neg(Errno::INVAL)),
        (-1, neg(Errno::INVAL)),
    ] {
        g.put(BUF + 24, &nsec.to_le_bytes());
        assert_eq!(
            g.call(|m, cx| syscalls::utimensat(m, cx, at, PATH, BUF, 0)),
            want
        );
        let st = g.cx.vfs.stat_at(at, "/tmp/f", true, false).unwrap();
        assert_eq!(st.mtime_ms, 1_234_567_890_500.0);
    }
}

#[test]
fn readlinkat_truncates_without_a_nul_and_getcwd_reports_range() {
    let mut g = Guest::new();
    g.put_str(PATH, "/tmp/some/target");
    g.put_str(PATH + 100, "/tmp/link");
    let at = syscalls::AT_FDCWD;
    assert_eq!(
        g.call(|m, cx| syscalls::symlinkat(m, cx, PATH, at, PATH + 100)),
        0
    );
    g.mem[BUF as usize..BUF as usize + 8].fill(b'#');
    assert_eq!(
        g.call(|m, cx| syscalls::readlinkat(m, cx, at, PATH + 100, BUF, 4)),
        4
    );
    assert_eq!(g.bytes(BUF, 5), b"/tmp#");
    assert_eq!(
        g.call(|m, cx| syscalls::readlinkat(m, cx, at, PATH + 100, BUF, 0)),
        neg(Errno::INVAL)
    );
    assert_eq!(
        g.call(|m, cx| syscalls::readlinkat(m, cx, at, PATH + 100, BUF, u32::MAX)),
        16,
        "a huge size is a size, not a negative number"
    );
    // getcwd: "/" plus NUL is 2 bytes.
    assert_eq!(
        g.call(|m, cx| syscalls::getcwd(m, cx, BUF, 1)),
        neg(Errno::RANGE)
    );
    assert_eq!(
        g.call(|m, cx| syscalls::getcwd(m, cx, BUF, 0)),
        neg(Errno::INVAL)
    );
    assert_eq!(g.call(|m, cx| syscalls::getcwd(m, cx, BUF, u32::MAX)), 2);
    assert_eq!(g.bytes(BUF, 2), b"/\0");
}

#[test]
fn poll_reports_ready_files_and_closed_descriptors() {
    let mut g = Guest::new();
    let entries = [
        Pollfd {
            fd: 1.into(),
            events: 4.into(), // POLLOUT
            revents: 0x7f.into(),
        },
        Pollfd {
            fd: 99.into(),
            events: 1.into(),
            revents: 0.into(),
        },
    ];
    g.call(|m, _| m.write(BUF, &entries)).unwrap();
    assert_eq!(g.call(|m, cx| syscalls::poll(m, cx, BUF, 2, 0)), 2);
    let out: [Pollfd; 2] = g.call(|m, _| m.read(BUF)).unwrap();
    assert_eq!((out[0].revents.get(), out[1].revents.get()), (4, 32));
    assert_eq!(g.call(|m, cx| syscalls::poll(m, cx, BUF, -1, 0)), 0);
}

#[test]
fn fdstat_and_environ_are_packed_as_wasi_defines() {
    let mut g = Guest::new();
    g.mem[BUF as usize..BUF as usize + 24].fill(0xff);
    let fd = g.open("/tmp", oflags::O_RDONLY | oflags::O_DIRECTORY);
    assert_eq!(g.call(|m, cx| wasi::fd_fdstat_get(m, cx, fd, BUF)), 0);
    assert_eq!(g.bytes(BUF, 24), {
        let mut want = [0u8; 24];
        want[0] = 3; // directory
        want
    });
    g.cx.environ = vec!["A=1".into(), "LONG=value".into()];
    assert_eq!(
        g.call(|m, cx| wasi::environ_sizes_get(m, cx, BUF, BUF + 4)),
        0
    );
    assert_eq!((g.u32_at(BUF), g.u32_at(BUF + 4)), (2, 4 + 11));
    assert_eq!(g.call(|m, cx| wasi::environ_get(m, cx, BUF, BUF + 100)), 0);
    assert_eq!((g.u32_at(BUF), g.u32_at(BUF + 4)), (BUF + 100, BUF + 104));
    assert_eq!(g.bytes(BUF + 100, 15), b"A=1\0LONG=value\0");
}

#[test]
fn calendar_fields_and_their_limits() {
    let mut g = Guest::new();
    // 2000-02-29T12:34:56Z, a Tuesday, day 59 of a leap year.
    g.call(|m, cx| time::localtime(m, cx, 951_827_696, BUF));
    let tm: Tm = g.call(|m, _| m.read(BUF)).unwrap();
    let fields = [
        tm.tm_sec, tm.tm_min, tm.tm_hour, tm.tm_mday, tm.tm_mon, tm.tm_year, tm.tm_wday, tm.tm_yday,
    ]
    .map(|f| f.get());
    assert_eq!(fields, [56, 34, 12, 29, 1, 100, 2, 59]);
    // Before the epoch.
    let tm = time::tm_of(-1).unwrap();
    assert_eq!(
        (
            tm.tm_year.get(),
            tm.tm_mon.get(),
            tm.tm_mday.get(),
            tm.tm_hour.get()
        ),
        (69, 11, 31, 23)
    );
    // mktime normalises: month 13 of 1999 is January 2000.
    let denormal = Tm {
        tm_year: 99.into(),
        tm_mon: 12.into(),
        tm_mday: 1.into(),
        ..Tm::default()
    };
    g.call(|m, _| m.write(BUF, &denormal)).unwrap();
    assert_eq!(g.call(|m, cx| time::mktime(m, cx, BUF)), 946_684_800);
    let tm: Tm = g.call(|m, _| m.read(BUF)).unwrap();
    assert_eq!(
        (tm.tm_year.get(), tm.tm_mon.get(), tm.tm_wday.get()),
        (100, 0, 6)
    );
    // Years that do not fit tm_year: localtime leaves the struct alone, mktime answers -1.
    g.mem[BUF as usize..BUF as usize + 40].fill(0x11);
    for secs in [i64::MAX, i64::MIN, 67_768_036_191_676_800] {
        g.call(|m, cx| time::localtime(m, cx, secs, BUF));
        assert!(g.bytes(BUF, 40).iter().all(|&b| b == 0x11), "{secs}");
    }
    let huge = Tm {
        tm_year: i32::MAX.into(),
        tm_mon: 12.into(),
        tm_mday: 1.into(),
        ..Tm::default()
    };
    g.call(|m, _| m.write(BUF, &huge)).unwrap();
    assert_eq!(g.call(|m, cx| time::mktime(m, cx, BUF)), -1);
    assert_eq!(g.call(|m, cx| time::mktime(m, cx, u32::MAX - 8)), -1);
    // tzset: UTC, and a bad pointer is ignored rather than trapping.
    g.call(|m, cx| time::tzset(m, cx, BUF, BUF + 4, BUF + 8, BUF + 32));
    assert_eq!((g.u32_at(BUF), g.bytes(BUF + 8, 4)), (0, &b"UTC\0"[..]));
    g.call(|m, cx| time::tzset(m, cx, u32::MAX, u32::MAX, u32::MAX, u32::MAX));
}

#[test]
fn heap_growth_never_underflows_or_passes_the_cap() {
    const PAGE: u64 = 65536;
    let max = 2 << 30;
    // Growing 100 pages asks 20% (+20 pages) first, then just what fits.
    assert_eq!(
        process::heap_growth(100 * PAGE, 101 * PAGE, max),
        Some((20, 1))
    );
    // A request below the current size needs nothing (this used to underflow).
    let (_, least) = process::heap_growth(100 * PAGE, 10, max).unwrap();
    assert_eq!(least, 0);
    // Over the cap: refused; at the cap, the 20% step is clipped to it.
    assert_eq!(process::heap_growth(100 * PAGE, max + 1, max), None);
    assert_eq!(process::heap_growth(max - PAGE, max, max), Some((1, 1)));
    // Sizes near the top of u64 saturate instead of wrapping.
    let (_, least) = process::heap_growth(u64::MAX - 10, u32::MAX as u64, u64::MAX).unwrap();
    assert_eq!(least, 0);
}

#[test]
fn resize_heap_tries_the_preferred_step_then_the_least() {
    const PAGE: u64 = 65536;
    let mut asked = Vec::new();
    // The preferred step refused (as an engine at its limit refuses), the least granted.
    let grew = process::resize_heap(100 * PAGE, 101 * PAGE as u32, 2 << 30, |pages| {
        asked.push(pages);
        pages == 1
    });
    assert_eq!((grew, asked), (1, vec![20, 1]));
    // Over the cap nothing is asked for; every step refused is 0.
    assert_eq!(process::resize_heap(PAGE, 3 * PAGE as u32, 2 * PAGE, |_| panic!("asked")), 0);
    assert_eq!(process::resize_heap(PAGE, 2 * PAGE as u32, 4 * PAGE, |_| false), 0);
}

#[test]
fn unsupported_imports_fail_the_way_their_callers_report() {
    use crate::unsupported::{classify, Failure};
    // Sockets: ENOSYS, so Python raises OSError; the resolver: EAI_FAIL.
    assert_eq!(classify("__syscall_socket").code(), -i32::from(Errno::NOSYS.0));
    assert_eq!(classify("getaddrinfo"), Failure::Code(-4));
    // No JavaScript objects exist, and no JavaScript socket wants a call.
    assert_eq!(classify("JsvFunction_Check"), Failure::No);
    assert_eq!(classify("_maybe_connect_async"), Failure::No);
    assert_eq!(classify("_emscripten_dlopen_js"), Failure::Dl);
    // Everything else raises in Python, naming the import and what is missing.
    let bridge = classify("JsProxy_GetAttr_js");
    assert_eq!(bridge.code(), 0);
    assert_eq!(
        bridge.message("JsProxy_GetAttr_js").unwrap(),
        "pyworkers has no JavaScript bridge: `JsProxy_GetAttr_js` is not available"
    );
    assert!(classify("ffi_call_js").message("ffi_call_js").unwrap().contains("libffi closures"));
    assert_eq!(classify("getaddrinfo").message("getaddrinfo"), None);
    // What has nothing to do without JavaScript answers a constant, never a Python exception.
    assert_eq!(classify("__syscall_getuid32_js"), Failure::Code(0));
    assert_eq!(classify("_mmap_js").code(), -i32::from(Errno::NODEV.0));
    for name in ["_munmap_js", "_setitimer_js", "_try_fcntl64", "emscripten_runtime_keepalive_push", "__hiwire_deduplicate_get", "_Py_CheckEmscriptenSignals_Helper"] {
        assert_eq!((name, classify(name).code(), classify(name).message(name)), (name, 0, None));
    }
}

#[test]
fn offsets_are_checked() {
    assert_eq!(offset(u32::MAX - 1, 1), Ok(u32::MAX));
    assert_eq!(offset(u32::MAX, 1), Err(Errno::FAULT));
    assert_eq!(offset(0, u64::MAX), Err(Errno::FAULT));
    assert_eq!(
        crate::memory::element::<Dirent>(0, u64::MAX / 2),
        Err(Errno::FAULT)
    );
    let mut mem = vec![0u8; 16];
    let mut m = Memory::new(&mut mem);
    assert_eq!(m.read::<Iovec>(8), Ok(Iovec::default()));
    assert_eq!(m.read::<Iovec>(9), Err(Errno::FAULT));
    assert_eq!(m.write(u32::MAX, &Iovec::default()), Err(Errno::FAULT));
    assert_eq!(m.iovecs(0, 3), Err(Errno::FAULT));
    assert_eq!(m.write_cstr(12, "long string", 100), Err(Errno::FAULT));
    assert_eq!(m.write_cstr(12, "long string", 4), Ok(3));
    assert_eq!(m.cstr(u32::MAX), Err(Errno::FAULT));
}
