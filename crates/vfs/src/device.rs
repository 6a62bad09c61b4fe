//! Character devices: a host object at one guest path (e.g. `/dev/pyworkers`), read and written as a stream.
//!
//! A request/response channel to the host is built on this: the guest writes one request frame, then reads the
//! reply. Devices belong to one instance: [`Vfs::fork`](super::Vfs::fork) keeps the path but not the device, so a
//! forked instance's opens fail with `ENXIO` until it mounts its own device at the same path.

use super::backend::{mode, Backend, DirEnt, FileStat, NodeKind};
use super::errno::{Errno, Result};
use std::sync::Mutex;

/// A host object behind a device path. Offsets mean nothing: every call continues the stream.
pub trait Device: Send {
    /// Take bytes the guest wrote; returns how many were taken.
    fn write(&mut self, data: &[u8]) -> Result<usize>;
    /// Give the guest up to `buf.len()` bytes; 0 is end of file.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize>;
}

/// The mount backend of one device. Reads arrive through `&self` like every backend's, so the device sits behind
/// a lock (uncontended: one instance runs on one thread), which also keeps the [`Vfs`](super::Vfs) `Sync`.
pub struct DeviceMount {
    device: Option<Mutex<Box<dyn Device>>>,
}

/// The only node of a device mount.
const NODE: u64 = 1;

impl DeviceMount {
    /// A mount serving `device`.
    pub fn new(device: Box<dyn Device>) -> DeviceMount {
        DeviceMount {
            device: Some(Mutex::new(device)),
        }
    }

    /// Whether a device is attached (a fork's copy has none).
    pub fn is_attached(&self) -> bool {
        self.device.is_some()
    }
}

/// A copy is detached: devices are per instance, never shared by a fork.
impl Clone for DeviceMount {
    fn clone(&self) -> DeviceMount {
        DeviceMount { device: None }
    }
}

impl Backend for DeviceMount {
    fn root(&self) -> u64 {
        NODE
    }

    fn lookup(&self, _dir: u64, _name: &str) -> Result<u64> {
        Err(Errno::NOTDIR)
    }

    fn kind(&self, _node: u64) -> Result<NodeKind> {
        Ok(NodeKind::CharDevice)
    }

    fn stat(&self, _node: u64) -> Result<FileStat> {
        Ok(FileStat {
            dev: 0,
            ino: NODE,
            mode: mode::S_IFCHR | 0o666,
            nlink: 1,
            size: 0,
            mtime_ms: 0.0,
        })
    }

    fn read(&self, _node: u64, _offset: u64, buf: &mut [u8]) -> Result<usize> {
        let device = self.device.as_ref().ok_or(Errno::NXIO)?;
        let mut device = device.lock().map_err(|_| Errno::IO)?;
        let n = device.read(buf)?;
        // A device claiming more than it was given must not make the caller slice past the buffer.
        if n > buf.len() {
            return Err(Errno::IO);
        }
        Ok(n)
    }

    fn read_dir(&self, _node: u64) -> Result<Vec<DirEnt>> {
        Err(Errno::NOTDIR)
    }

    fn read_link(&self, _node: u64) -> Result<&str> {
        Err(Errno::INVAL)
    }

    fn write(&mut self, _node: u64, _offset: u64, data: &[u8], _now_ms: f64) -> Result<usize> {
        let device = self.device.as_mut().ok_or(Errno::NXIO)?;
        let n = device.get_mut().map_err(|_| Errno::IO)?.write(data)?;
        if n > data.len() {
            return Err(Errno::IO);
        }
        Ok(n)
    }
}
