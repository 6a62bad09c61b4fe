//! The guest structs the imports read and write, laid out as Emscripten's musl defines them for wasm32.
//!
//! Fields are little-endian, byte-aligned types (wasm is little-endian whatever the host is), so each struct's
//! padding is an explicit field and its size and offsets are exactly the guest's; `const` assertions pin the sizes
//! and the unit tests pin every offset against what `pyodide.asm.mjs` writes. These are plain data: no behaviour.

use zerocopy::little_endian::{I16, I32, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `struct timespec`: `time_t` is 64-bit and `long` 32-bit on wasm32, padded to 8-byte alignment.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Timespec {
    /// Seconds.
    pub tv_sec: I64,
    /// Nanoseconds.
    pub tv_nsec: I32,
    /// Alignment padding.
    pub _pad: [u8; 4],
}

/// `struct stat` (= `stat64`), 96 bytes; Emscripten's `SYSCALLS.writeStat` fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    /// Device.
    pub st_dev: U32,
    /// Type and permission bits.
    pub st_mode: U32,
    /// Link count.
    pub st_nlink: U32,
    /// Owner.
    pub st_uid: U32,
    /// Group.
    pub st_gid: U32,
    /// Device number of a device file.
    pub st_rdev: U32,
    /// Size in bytes.
    pub st_size: I64,
    /// Preferred I/O block size.
    pub st_blksize: I32,
    /// 512-byte blocks allocated.
    pub st_blocks: I32,
    /// Access time.
    pub st_atim: Timespec,
    /// Modification time.
    pub st_mtim: Timespec,
    /// Status change time.
    pub st_ctim: Timespec,
    /// Inode.
    pub st_ino: U64,
}

/// `struct dirent` as `getdents64` packs it: 275 bytes of fields padded to 280, one record per entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Dirent {
    /// Inode.
    pub d_ino: U64,
    /// Offset of the next record (what `lseek` on the directory takes).
    pub d_off: I64,
    /// Size of this record.
    pub d_reclen: U16,
    /// File type (`DT_*`).
    pub d_type: u8,
    /// NUL-terminated name.
    pub d_name: [u8; 256],
    /// Padding to 8-byte alignment.
    pub _pad: [u8; 5],
}

/// `struct iovec`: one buffer of a scatter/gather list.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Iovec {
    /// Guest address of the buffer.
    pub iov_base: U32,
    /// Its length.
    pub iov_len: U32,
}

/// The fields of `struct tm` the `_*time_js` imports read and write (musl's trailing `__tm_zone` pointer is
/// libc's to set, so it is not part of this view).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Tm {
    /// Seconds, 0–60.
    pub tm_sec: I32,
    /// Minutes, 0–59.
    pub tm_min: I32,
    /// Hours, 0–23.
    pub tm_hour: I32,
    /// Day of the month, 1–31.
    pub tm_mday: I32,
    /// Month, 0–11.
    pub tm_mon: I32,
    /// Years since 1900.
    pub tm_year: I32,
    /// Day of the week, 0 = Sunday.
    pub tm_wday: I32,
    /// Day of the year, 0–365.
    pub tm_yday: I32,
    /// Daylight saving in effect.
    pub tm_isdst: I32,
    /// Seconds east of UTC (`long`, 32-bit on wasm32).
    pub tm_gmtoff: I32,
}

/// `struct statfs`, 88 bytes; Emscripten's `SYSCALLS.writeStatFs` fills it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Statfs {
    /// File-system type.
    pub f_type: U32,
    /// Block size.
    pub f_bsize: U32,
    /// Blocks in total.
    pub f_blocks: U64,
    /// Free blocks.
    pub f_bfree: U64,
    /// Free blocks for unprivileged users.
    pub f_bavail: U64,
    /// Inodes in total.
    pub f_files: U64,
    /// Free inodes.
    pub f_ffree: U64,
    /// File-system id.
    pub f_fsid: [U32; 2],
    /// Longest file name.
    pub f_namelen: U32,
    /// Fragment size.
    pub f_frsize: U32,
    /// Mount flags.
    pub f_flags: U32,
    /// Reserved.
    pub f_spare: [U32; 4],
    /// Padding to 8-byte alignment.
    pub _pad: [u8; 4],
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Pollfd {
    /// The descriptor.
    pub fd: I32,
    /// Events asked for.
    pub events: I16,
    /// Events that happened.
    pub revents: I16,
}

/// WASI `fdstat`, 24 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Fdstat {
    /// WASI file type.
    pub fs_filetype: u8,
    /// Padding.
    pub _pad0: u8,
    /// Descriptor flags.
    pub fs_flags: U16,
    /// Padding.
    pub _pad1: [u8; 4],
    /// Rights.
    pub fs_rights_base: U64,
    /// Rights inherited by descriptors opened through this one.
    pub fs_rights_inheriting: U64,
}

const _: () = {
    assert!(std::mem::size_of::<Timespec>() == 16);
    assert!(std::mem::size_of::<Stat>() == 96);
    assert!(std::mem::size_of::<Dirent>() == 280);
    assert!(std::mem::size_of::<Iovec>() == 8);
    assert!(std::mem::size_of::<Tm>() == 40);
    assert!(std::mem::size_of::<Statfs>() == 88);
    assert!(std::mem::size_of::<Pollfd>() == 8);
    assert!(std::mem::size_of::<Fdstat>() == 24);
};
