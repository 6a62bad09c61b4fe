//! The guest's standard file-system layout, and mounts the user asks for.
//!
//! ```text
//! /lib/python314.zip   the standard library (read-only blob)
//! /lib/python3.14      the standard library with its bytecode (read-only tarfs), when one was built
//! /lib/pyworkers       the runtime's own Python (read-only tarfs, embedded in the binary)
//! /tmp                 writable, in memory
//! /home/pyworkers      writable, in memory; the home and starting directory
//! ```
//!
//! The standard mounts are *reserved*: a user's `--mount` may not replace, enter or cover them.

use super::{Fs, MemFs, Vfs};
use pyworkers_tarfs::Archive;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The guest's home directory.
pub const HOME: &str = "/home/pyworkers";

/// Bytes of file data each writable in-memory mount may hold.
pub const MEMFS_LIMIT: usize = 256 << 20;

/// Where the standard library zip is mounted.
pub const STDLIB_ZIP: &str = "/lib/python314.zip";

/// Where the standard library compiled to bytecode (`Runtime::ensure_stdlib_bytecode`) is mounted; `sys.path`
/// lists it before [`STDLIB_ZIP`], so its `.pyc` files win and its `.py` files serve tracebacks.
pub const STDLIB_BYTECODE: &str = "/lib/python3.14";

/// Where the runtime's own Python packages (`_pyworkers`, later `workers`) are mounted.
pub const PYWORKERS_LIB: &str = "/lib/pyworkers";

/// The standard layout over `stdlib_zip`, with `stdlib_bytecode` (if any) mounted at [`STDLIB_BYTECODE`] and the
/// runtime's own Python, the tar archive `runtime_lib`, at [`PYWORKERS_LIB`]. The caller passes the archive
/// because it is built into whoever embeds the file system (the host binary, or a component).
pub fn standard(
    stdlib_zip: pyworkers_tarfs::SharedBytes,
    stdlib_bytecode: Option<Arc<Archive>>,
    runtime_lib: &'static [u8],
) -> Result<Vfs> {
    let mut vfs = Vfs::new();
    let lib = Archive::open(runtime_lib)
        .map_err(|e| anyhow::anyhow!("embedded Python library: {e:?}"))?;
    let what = "building the file system";
    vfs.mount_reserved(STDLIB_ZIP, Fs::Blob(stdlib_zip), false)
        .context(what)?;
    if let Some(archive) = stdlib_bytecode {
        vfs.mount_reserved(STDLIB_BYTECODE, Fs::Tar(archive), false)
            .context(what)?;
    }
    vfs.mount_reserved(PYWORKERS_LIB, Fs::Tar(Arc::new(lib)), false)
        .context(what)?;
    vfs.mount_reserved("/tmp", Fs::Mem(MemFs::new(MEMFS_LIMIT)), true)
        .context(what)?;
    vfs.mount_reserved(HOME, Fs::Mem(MemFs::new(MEMFS_LIMIT)), true)
        .context(what)?;
    vfs.chdir(HOME)
        .with_context(|| format!("{what}: entering {HOME}"))?;
    Ok(vfs)
}

/// The guest's environment in the standard layout: its home, user, locale and time zone; nothing of the host's.
pub fn environment() -> Vec<String> {
    vec![
        format!("HOME={HOME}"),
        "USER=pyworkers".into(),
        "LOGNAME=pyworkers".into(),
        "PATH=/".into(),
        "LANG=C.UTF-8".into(),
        "TZ=UTC".into(),
    ]
}

/// A `SOURCE:GUEST_PATH` mount request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// A tar file or a directory on the host.
    pub source: PathBuf,
    /// Where it appears in the guest.
    pub guest: String,
}

impl std::str::FromStr for MountSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (source, guest) = s
            .rsplit_once(':')
            .context("expected SOURCE:GUEST_PATH, e.g. ./data.tar:/data")?;
        if !guest.starts_with('/') {
            bail!("guest path `{guest}` must be absolute");
        }
        if source.is_empty() {
            bail!("empty mount source in `{s}`");
        }
        Ok(MountSpec {
            source: source.into(),
            guest: guest.into(),
        })
    }
}

impl MountSpec {
    /// Read the source into a read-only archive. A directory is packed into a tar in memory at this moment:
    /// later host changes are not seen, and symlinks are kept as links (which tarfs confines to the archive).
    pub fn load(&self) -> Result<Archive> {
        let bytes = if self.source.is_dir() {
            pack_dir(&self.source)?
        } else {
            std::fs::read(&self.source)
                .with_context(|| format!("reading {}", self.source.display()))?
        };
        Archive::open(bytes).map_err(|e| {
            anyhow::anyhow!(
                "{} is not a valid tar archive ({e:?})",
                self.source.display()
            )
        })
    }

    /// Mount it into `vfs`.
    pub fn apply(&self, vfs: &mut Vfs) -> Result<()> {
        let archive = self.load()?;
        vfs.mount(&self.guest, Fs::Tar(Arc::new(archive)), false)
            .with_context(|| format!("mounting {}", self.source.display()))
    }
}

/// A tar archive of the directory `dir`.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", dir)
        .with_context(|| format!("packing {}", dir.display()))?;
    builder.into_inner().context("packing directory")
}
