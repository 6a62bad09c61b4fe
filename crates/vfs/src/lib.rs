//! The guest's file system: a mount table of read-only [`tarfs`](pyworkers_tarfs) archives, single read-only files,
//! character devices and writable [`MemFs`] trees, plus the fd table and the current directory.
//!
//! Everything the guest can name resolves inside this table; host files reach the guest only as archives or
//! byte buffers mounted on purpose, so no guest path can escape to the host. This module owns policy (what is
//! writable, what exists, how a path resolves); it knows nothing about pointers or the Emscripten ABI.
//!
//! One file per job: [`backend`] (the trait every mounted file system implements) with [`memfs`], `tar`, `blob`
//! and [`device`] behind it; [`mounts`] (the mount table), [`fds`] (the fd table), [`path`] (resolution),
//! `ops` (the [`Vfs`] and its operations), `stdio` (the standard streams), [`layout`] (the standard layout).
//!
//! ```
//! use pyworkers_vfs::{oflags, Fs, MemFs, Vfs, AT_FDCWD};
//!
//! let mut vfs = Vfs::new();
//! vfs.mount("/tmp", Fs::Mem(MemFs::new(1 << 20)), true).unwrap();
//! let fd = vfs.open_at(AT_FDCWD, "/tmp/a", oflags::O_CREAT | oflags::O_WRONLY, 0o644).unwrap();
//! vfs.write(fd, b"hi", None).unwrap();
//! vfs.close(fd).unwrap();
//! assert_eq!(vfs.read_file("/tmp/a").unwrap(), b"hi");
//! ```

pub mod backend;
mod blob;
pub mod device;
pub mod errno;
pub mod fds;
pub mod layout;
pub mod memfs;
pub mod mounts;
mod ops;
pub mod path;
mod stdio;
mod tar;

pub use backend::{mode, Backend, DirEnt, FileStat, NewNode, NodeKind};
pub use device::{Device, DeviceMount};
pub use errno::{Errno, Result};
pub use fds::{oflags, OpenFile, MAX_FDS};
pub use memfs::{MemData, MemFs, MemNode, MemNodeId};
pub use mounts::{Fs, Mount, MountError, NodeRef};
pub use ops::{now_ms, Vfs, AT_FDCWD};
pub use path::Resolved;
pub use stdio::{Input, Output, Sink};
