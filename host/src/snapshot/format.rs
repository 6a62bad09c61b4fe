//! The snapshot file: magic, format version, a Cap'n Proto message (`schema/snapshot.capnp`), then a SHA-256 of
//! all of it. Reading validates in an order that gives the most useful message first: not a snapshot at all, a
//! format this build cannot read, a damaged file, then what it was made for.

use super::snapshot_capnp::{global, hash_seed, mem_node, snapshot};
use crate::runtime::split::GlobalValue;
use super::Kind;
use crate::vfs::{MemData, MemNode};
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// First bytes of every snapshot file.
pub const MAGIC: &[u8; 8] = b"PYWSNAP\0";
/// The format this build writes and reads. 2: the state holds only Pyodide's mutable globals (`runtime::split`).
pub const FORMAT_VERSION: u32 = 2;
/// Magic, version, 4 reserved bytes: the message that follows starts 8-byte aligned.
const HEADER_LEN: usize = 16;

/// How the string hash seed was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashSeed {
    /// Pinned by the user (`--hash-seed`): reproducible, public.
    Pinned(u32),
    /// Drawn from live entropy when the snapshot was made.
    PerSnapshot,
}

/// The worker a dedicated snapshot was prepared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// SHA-256 of the worker archive.
    pub bundle_sha256: String,
    /// Its top-level module.
    pub module: String,
    /// Where it was mounted.
    pub mount: String,
}

/// An fd that was open at capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdState {
    /// The descriptor number.
    pub fd: i32,
    /// The path it was opened by.
    pub path: String,
    /// Open flags.
    pub flags: i32,
    /// Offset.
    pub pos: u64,
    /// 0–2 for a standard stream, -1 otherwise.
    pub stdio: i8,
}

/// Host state outside linear memory.
#[derive(Debug, Clone)]
pub struct HostState {
    /// Current directory.
    pub cwd: String,
    /// Environment.
    pub environ: Vec<String>,
    /// Program name.
    pub program: String,
    /// Monotonic clock at capture.
    pub monotonic_ns: u64,
    /// Entropy source state.
    pub entropy: crate::entropy::EntropyState,
    /// File-mode creation mask.
    pub umask: u32,
    /// Writable in-memory mounts: path → (byte limit, nodes).
    pub memfs: Vec<(String, usize, Vec<Option<MemNode>>)>,
    /// Open fds.
    pub fds: Vec<FdState>,
    /// Function-table slot of the call trampoline.
    pub trampoline_index: u32,
    /// What the dynamic linker loaded.
    pub dylink: crate::emscripten::dylink::Record,
}

/// Everything a snapshot file holds.
#[derive(Debug, Clone)]
pub struct SnapshotData {
    /// Baseline or dedicated.
    pub kind: Kind,
    /// SHA-256 of the converted Pyodide module.
    pub pyodide_sha256: String,
    /// The pyworkers version that wrote it.
    pub pyworkers_version: String,
    /// The worker, for a dedicated snapshot.
    pub worker: Option<WorkerInfo>,
    /// Hash-seed policy.
    pub hash_seed: HashSeed,
    /// SHA-256 of the stdlib bytecode archive mounted while preparing (empty if none).
    pub stdlib_bytecode_sha256: String,
    /// Host-side state.
    pub host: HostState,
    /// Memory size in pages.
    pub memory_pages: u32,
    /// Non-zero memory: (offset, bytes).
    pub segments: Vec<(u32, Vec<u8>)>,
    /// Every global, by index.
    pub globals: Vec<GlobalValue>,
    /// SHA-256 of the file this was read from (its trailing checksum), hex; empty for state not yet written.
    pub file_sha256: String,
    /// Whether [`segments`](Self::segments) was left out when reading (see [`Decode::Metadata`]).
    pub segments_elided: bool,
    /// The file this was read from, if any (to read the segments after all).
    pub origin: Option<std::path::PathBuf>,
}

/// How much of a snapshot file [`SnapshotData::decode_with`] reads and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// Check the file's checksum and the payload's, and copy the memory segments.
    Full,
    /// Skip both checksums and the memory segments: for a file whose checksum an earlier read already verified
    /// (see `snapshot::read`), whose memory is already compiled into a cached state module.
    Metadata,
}

impl SnapshotData {
    /// SHA-256 over the memory and globals, the part that defines the pre-initialised module.
    pub fn payload_sha256(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.memory_pages.to_le_bytes());
        for (offset, data) in &self.segments {
            h.update(offset.to_le_bytes());
            h.update((data.len() as u64).to_le_bytes());
            h.update(data);
        }
        for g in &self.globals {
            h.update(format!("{g:?};").as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Serialise to the file format.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut message = capnp::message::Builder::new_default();
        let mut root = message.init_root::<snapshot::Builder>();
        root.set_magic(std::str::from_utf8(&MAGIC[..7]).unwrap_or("PYWSNAP"));
        root.set_format_version(FORMAT_VERSION);
        root.set_kind(match self.kind {
            Kind::Baseline => super::snapshot_capnp::Kind::Baseline,
            Kind::Dedicated => super::snapshot_capnp::Kind::Dedicated,
        });
        root.set_pyodide_sha256(&self.pyodide_sha256);
        root.set_pyworkers_version(&self.pyworkers_version);
        if let Some(w) = &self.worker {
            root.set_worker_bundle_sha256(&w.bundle_sha256);
            root.set_worker_module(&w.module);
            root.set_worker_mount(&w.mount);
        }
        match self.hash_seed {
            HashSeed::Pinned(n) => root.reborrow().init_hash_seed().set_pinned(n),
            HashSeed::PerSnapshot => root.reborrow().init_hash_seed().set_per_snapshot(()),
        }
        root.set_stdlib_bytecode_sha256(&self.stdlib_bytecode_sha256);
        root.set_payload_sha256(self.payload_sha256());
        {
            let h = &self.host;
            let mut host = root.reborrow().init_host();
            host.set_cwd(&h.cwd);
            host.set_program(&h.program);
            host.set_monotonic_ns(h.monotonic_ns);
            host.set_umask(h.umask);
            host.set_trampoline_index(h.trampoline_index);
            {
                let d = &h.dylink;
                let mut libs = host.reborrow().init_libraries(d.libraries.len() as u32);
                for (i, l) in d.libraries.iter().enumerate() {
                    let mut b = libs.reborrow().get(i as u32);
                    b.set_name(&l.placement.name);
                    b.set_sha256(&l.placement.sha256);
                    b.set_memory_base(l.placement.memory_base);
                    b.set_memory_size(l.placement.memory_size);
                    b.set_table_base(l.placement.table_base);
                    b.set_table_size(l.placement.table_size);
                    b.set_global(l.placement.global);
                    let mut hs = b.init_handles(l.handles.len() as u32);
                    for (j, h) in l.handles.iter().enumerate() {
                        hs.set(j as u32, *h);
                    }
                }
                let mut slots = host.reborrow().init_table_slots(d.slots.len() as u32);
                for (i, t) in d.slots.iter().enumerate() {
                    let mut b = slots.reborrow().get(i as u32);
                    b.set_slot(t.slot);
                    b.set_library(t.library.map_or(-1, |l| l as i32));
                    b.set_symbol(&t.symbol);
                }
                let mut got = host.reborrow().init_got(d.got.len() as u32);
                for (i, (symbol, value, resolved)) in d.got.iter().enumerate() {
                    let mut b = got.reborrow().get(i as u32);
                    b.set_symbol(symbol);
                    b.set_value(*value);
                    b.set_resolved(*resolved);
                }
            }
            {
                let mut env = host.reborrow().init_environ(h.environ.len() as u32);
                for (i, e) in h.environ.iter().enumerate() {
                    env.set(i as u32, e);
                }
            }
            {
                let mut e = host.reborrow().init_entropy();
                e.set_live(matches!(
                    h.entropy.mode,
                    crate::entropy::Mode::Live
                ));
                e.set_seed(&h.entropy.seed);
                e.set_word_pos(&h.entropy.word_pos.to_le_bytes());
            }
            {
                let mut mounts = host.reborrow().init_memfs(h.memfs.len() as u32);
                for (i, (path, limit, nodes)) in h.memfs.iter().enumerate() {
                    let mut m = mounts.reborrow().get(i as u32);
                    m.set_path(path);
                    m.set_limit(*limit as u64);
                    let mut list = m.init_nodes(nodes.len() as u32);
                    for (j, node) in nodes.iter().enumerate() {
                        let mut n = list.reborrow().get(j as u32);
                        let Some(node) = node else {
                            n.set_free(());
                            continue;
                        };
                        n.set_mode(node.mode);
                        n.set_mtime_ms(node.mtime_ms);
                        n.set_nlink(node.nlink);
                        match &node.data {
                            MemData::File(bytes) => n.set_file(&bytes[..]),
                            MemData::Symlink(t) => n.set_symlink(t),
                            MemData::Dir(children) => {
                                let mut d = n.init_dir(children.len() as u32);
                                for (k, (name, id)) in children.iter().enumerate() {
                                    let mut e = d.reborrow().get(k as u32);
                                    e.set_name(name);
                                    e.set_node(*id as u32);
                                }
                            }
                        }
                    }
                }
            }
            let mut fds = host.init_fds(h.fds.len() as u32);
            for (i, f) in h.fds.iter().enumerate() {
                let mut fd = fds.reborrow().get(i as u32);
                fd.set_fd(f.fd as u32);
                fd.set_path(&f.path);
                fd.set_flags(f.flags);
                fd.set_pos(f.pos);
                fd.set_stdio(f.stdio);
            }
        }
        {
            let mut memory = root.reborrow().init_memory();
            memory.set_pages(self.memory_pages);
            let mut segs = memory.init_segments(self.segments.len() as u32);
            for (i, (offset, data)) in self.segments.iter().enumerate() {
                let mut s = segs.reborrow().get(i as u32);
                s.set_offset(*offset);
                s.set_data(data);
            }
        }
        let mut globals = root.init_globals(self.globals.len() as u32);
        for (i, g) in self.globals.iter().enumerate() {
            let mut out = globals.reborrow().get(i as u32);
            match *g {
                GlobalValue::I32(v) => out.set_i32(v),
                GlobalValue::I64(v) => out.set_i64(v),
                GlobalValue::F32(v) => out.set_f32(v),
                GlobalValue::F64(v) => out.set_f64(v),
                GlobalValue::Keep => out.set_keep(()),
            }
        }
        let mut out = Vec::with_capacity(
            self.segments.iter().map(|s| s.1.len() + 16).sum::<usize>() + (1 << 16),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // keeps the message 8-byte aligned, as Cap'n Proto reads it in place
        capnp::serialize::write_message(&mut out, &message)?;
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Parse and check a snapshot file. Errors say what is wrong: not a snapshot, another format version, a
    /// damaged (truncated or altered) file, or malformed content.
    pub fn decode(bytes: &[u8]) -> Result<SnapshotData> {
        Self::decode_with(bytes, Decode::Full)
    }

    /// The trailing checksum of a snapshot file, hex, without checking it (`None` if too short to have one).
    pub fn file_checksum(bytes: &[u8]) -> Option<String> {
        (bytes.len() >= HEADER_LEN + 32).then(|| hex::encode(&bytes[bytes.len() - 32..]))
    }

    /// [`decode`](Self::decode), reading as much as `mode` says.
    pub fn decode_with(bytes: &[u8], mode: Decode) -> Result<SnapshotData> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            bail!("not a pyworkers snapshot (wrong magic bytes)");
        }
        if bytes.len() < HEADER_LEN + 32 {
            bail!("snapshot file is truncated ({} bytes)", bytes.len());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            bail!("snapshot format version {version} is not supported by this pyworkers (reads version {FORMAT_VERSION}); make the snapshot again");
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if mode == Decode::Full && Sha256::digest(body).as_slice() != digest {
            bail!("snapshot file is damaged: its checksum does not match (truncated or modified); make the snapshot again");
        }
        let options = capnp::message::ReaderOptions {
            traversal_limit_in_words: Some(body.len() * 2 + 1024),
            nesting_limit: 64,
        };
        let mut slice = &body[HEADER_LEN..];
        let message = capnp::serialize::read_message_from_flat_slice(&mut slice, options)
            .context("reading snapshot metadata")?;
        let root = message
            .get_root::<snapshot::Reader>()
            .context("reading snapshot metadata")?;
        let mut data = decode_root(root, mode).context("snapshot metadata is malformed")?;
        data.file_sha256 = hex::encode(digest);
        Ok(data)
    }
}

fn text(t: capnp::Result<capnp::text::Reader<'_>>) -> Result<String> {
    Ok(t?.to_str()?.to_string())
}

fn decode_root(root: snapshot::Reader<'_>, mode: Decode) -> Result<SnapshotData> {
    if text(root.get_magic())?.as_bytes() != &MAGIC[..7]
        || root.get_format_version() != FORMAT_VERSION
    {
        bail!("inner magic/version mismatch");
    }
    let kind = match root.get_kind()? {
        super::snapshot_capnp::Kind::Baseline => Kind::Baseline,
        super::snapshot_capnp::Kind::Dedicated => Kind::Dedicated,
    };
    let worker = match text(root.get_worker_bundle_sha256())? {
        s if s.is_empty() => None,
        bundle_sha256 => Some(WorkerInfo {
            bundle_sha256,
            module: text(root.get_worker_module())?,
            mount: text(root.get_worker_mount())?,
        }),
    };
    let hash_seed = match root.get_hash_seed()?.which()? {
        hash_seed::Pinned(n) => HashSeed::Pinned(n),
        hash_seed::PerSnapshot(()) => HashSeed::PerSnapshot,
    };
    let h = root.get_host()?;
    let e = h.get_entropy()?;
    let seed: [u8; 32] = e
        .get_seed()?
        .try_into()
        .context("entropy seed must be 32 bytes")?;
    let word_pos = u128::from_le_bytes(
        e.get_word_pos()?
            .try_into()
            .context("entropy position must be 16 bytes")?,
    );
    let mut memfs = Vec::new();
    for m in h.get_memfs()? {
        let mut nodes = Vec::new();
        for n in m.get_nodes()? {
            let data = match n.which()? {
                mem_node::Free(()) => {
                    nodes.push(None);
                    continue;
                }
                mem_node::File(bytes) => MemData::File(bytes?.to_vec()),
                mem_node::Symlink(t) => MemData::Symlink(t?.to_str()?.to_string()),
                mem_node::Dir(entries) => {
                    let mut children = BTreeMap::new();
                    for e in entries? {
                        children.insert(text(e.get_name())?, e.get_node() as usize);
                    }
                    MemData::Dir(children)
                }
            };
            nodes.push(Some(MemNode {
                data,
                mode: n.get_mode(),
                mtime_ms: n.get_mtime_ms(),
                nlink: n.get_nlink(),
            }));
        }
        memfs.push((text(m.get_path())?, m.get_limit() as usize, nodes));
    }
    let mut fds = Vec::new();
    for f in h.get_fds()? {
        fds.push(FdState {
            fd: f.get_fd() as i32,
            path: text(f.get_path())?,
            flags: f.get_flags(),
            pos: f.get_pos(),
            stdio: f.get_stdio(),
        });
    }
    let mut dylink = crate::emscripten::dylink::Record::default();
    for l in h.get_libraries()? {
        dylink.libraries.push(crate::emscripten::dylink::LibraryRecord {
            placement: crate::emscripten::dylink::Placement {
                name: text(l.get_name())?,
                sha256: text(l.get_sha256())?,
                memory_base: l.get_memory_base(),
                memory_size: l.get_memory_size(),
                table_base: l.get_table_base(),
                table_size: l.get_table_size(),
                global: l.get_global(),
            },
            handles: l.get_handles()?.iter().collect(),
        });
    }
    for t in h.get_table_slots()? {
        dylink.slots.push(crate::emscripten::dylink::SlotRecord {
            slot: t.get_slot(),
            library: u32::try_from(t.get_library()).ok(),
            symbol: text(t.get_symbol())?,
        });
    }
    for g in h.get_got()? {
        dylink.got.push((text(g.get_symbol())?, g.get_value(), g.get_resolved()));
    }
    let host = HostState {
        cwd: text(h.get_cwd())?,
        environ: h
            .get_environ()?
            .iter()
            .map(|t| Ok(t?.to_str()?.to_string()))
            .collect::<Result<_>>()?,
        program: text(h.get_program())?,
        monotonic_ns: h.get_monotonic_ns(),
        entropy: crate::entropy::EntropyState {
            mode: if e.get_live() {
                crate::entropy::Mode::Live
            } else {
                crate::entropy::Mode::Deterministic
            },
            seed,
            word_pos,
        },
        umask: h.get_umask(),
        memfs,
        fds,
        trampoline_index: h.get_trampoline_index(),
        dylink,
    };
    let memory = root.get_memory()?;
    let segments = match mode {
        Decode::Metadata => Vec::new(),
        Decode::Full => memory
            .get_segments()?
            .iter()
            .map(|s| Ok((s.get_offset(), s.get_data()?.to_vec())))
            .collect::<Result<Vec<_>>>()?,
    };
    let globals = root
        .get_globals()?
        .iter()
        .map(|g| {
            Ok(match g.which()? {
                global::I32(v) => GlobalValue::I32(v),
                global::I64(v) => GlobalValue::I64(v),
                global::F32(v) => GlobalValue::F32(v),
                global::F64(v) => GlobalValue::F64(v),
                global::Keep(()) => GlobalValue::Keep,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let data = SnapshotData {
        kind,
        pyodide_sha256: text(root.get_pyodide_sha256())?,
        pyworkers_version: text(root.get_pyworkers_version())?,
        worker,
        hash_seed,
        stdlib_bytecode_sha256: text(root.get_stdlib_bytecode_sha256())?,
        host,
        memory_pages: memory.get_pages(),
        segments,
        globals,
        file_sha256: String::new(),
        segments_elided: mode == Decode::Metadata,
        origin: None,
    };
    if mode == Decode::Full && data.payload_sha256() != text(root.get_payload_sha256())? {
        bail!("payload checksum mismatch");
    }
    let limit = data.memory_pages as u64 * 65536;
    if data
        .segments
        .iter()
        .any(|(o, d)| *o as u64 + d.len() as u64 > limit)
    {
        bail!("a memory segment lies outside the snapshot's memory");
    }
    Ok(data)
}
