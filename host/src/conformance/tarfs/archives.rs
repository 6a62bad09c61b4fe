//! Building the suite's archives: with `tar::Builder` (GNU format unless said otherwise), or block by block where
//! the builder refuses to write what a hostile or broken archive contains (names climbing out of the root, odd
//! entry types, bad checksums). Panics only on a bug in the suite itself: everything built here is fixed input.

use tar::{EntryType, Header};

use super::{ErrorCode, Opened, Session};

/// The modification time of every member built here.
pub const MTIME: u64 = 1_700_000_000;

/// An archive under construction.
pub struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Tar {
        Tar::new()
    }
}

impl Tar {
    /// An empty archive.
    pub fn new() -> Tar {
        Tar { builder: tar::Builder::new(Vec::new()) }
    }

    fn header(kind: EntryType, size: usize, mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size as u64);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        header
    }

    /// A regular file, mode `0o644`.
    pub fn file(self, path: &str, data: &[u8]) -> Tar {
        self.file_with_mode(path, data, 0o644)
    }

    /// A regular file with the header's mode set to `mode` as given (type bits and all).
    pub fn file_with_mode(mut self, path: &str, data: &[u8], mode: u32) -> Tar {
        let mut header = Tar::header(EntryType::Regular, data.len(), mode);
        self.builder.append_data(&mut header, path, data).expect("appending a file");
        self
    }

    /// A file whose long name goes into the ustar prefix field rather than an extension entry.
    pub fn ustar_file(mut self, path: &str, data: &[u8]) -> Tar {
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        header.set_path(path).expect("a name that fits the ustar prefix");
        header.set_cksum();
        self.builder.append(&header, data).expect("appending a ustar file");
        self
    }

    /// A directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Tar {
        let mut header = Tar::header(EntryType::Directory, 0, mode);
        self.builder.append_data(&mut header, path, &[][..]).expect("appending a directory");
        self
    }

    /// A symbolic link to `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> Tar {
        let mut header = Tar::header(EntryType::Symlink, 0, 0o777);
        self.builder.append_link(&mut header, path, target).expect("appending a symlink");
        self
    }

    /// A hard link to the earlier member `target`.
    pub fn hardlink(mut self, path: &str, target: &str) -> Tar {
        let mut header = Tar::header(EntryType::Link, 0, 0o644);
        self.builder.append_link(&mut header, path, target).expect("appending a hard link");
        self
    }

    /// A pax extended header describing the next member.
    pub fn pax(mut self, records: &[(&str, &str)]) -> Tar {
        let data = pax_records(records);
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(data.len() as u64);
        header.set_path("PaxHeaders/next").expect("a short name");
        header.set_cksum();
        self.builder.append(&header, &data[..]).expect("appending a pax header");
        self
    }

    /// Blocks written by hand; `bytes` is whole 512-byte blocks.
    pub fn raw(mut self, bytes: &[u8]) -> Tar {
        assert_eq!(bytes.len() % 512, 0, "raw tar data is whole blocks");
        self.builder.get_mut().extend_from_slice(bytes);
        self
    }

    /// Bytes written so far (no end-of-archive marker yet).
    pub fn len(&self) -> usize {
        self.builder.get_ref().len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finished archive, with its end-of-archive marker.
    pub fn bytes(self) -> Vec<u8> {
        self.builder.into_inner().expect("finishing the archive")
    }

    /// Open the finished archive in `session`; it must open.
    pub fn open(self, session: &Session) -> anyhow::Result<Opened<'_>> {
        session.open(self.bytes()).ok()
    }

    /// Open the finished archive in `session`; it must be refused, and this is the code.
    pub fn open_err(self, session: &Session) -> anyhow::Result<ErrorCode> {
        session.open(self.bytes()).err()
    }
}

/// pax records (`"<len> <key>=<value>\n"`, where `<len>` counts itself).
pub fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (key, value) in records {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while len.to_string().len() + body.len() != len {
            len = len.to_string().len() + body.len();
        }
        data.extend_from_slice(format!("{len}{body}").as_bytes());
    }
    data
}

/// A ustar header block written by hand, for members `tar::Builder` refuses to write.
pub fn raw_header(name: &[u8], type_flag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut block = [0u8; 512];
    block[..name.len()].copy_from_slice(name);
    block[100..108].copy_from_slice(b"0000644\0");
    block[108..116].copy_from_slice(b"0000000\0");
    block[116..124].copy_from_slice(b"0000000\0");
    block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    block[136..148].copy_from_slice(format!("{MTIME:011o}\0").as_bytes());
    block[156] = type_flag;
    block[157..157 + link.len()].copy_from_slice(link);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    set_checksum(&mut block);
    block
}

/// Recompute a header block's checksum after editing it.
pub fn set_checksum(block: &mut [u8]) {
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block[..512].iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A raw member: header plus data padded to whole blocks.
pub fn raw_member(name: &[u8], type_flag: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut out = raw_header(name, type_flag, data.len() as u64, link).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}
