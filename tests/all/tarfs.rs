//! `tarfs`: archives built here with `tar::Builder`, or block by block where the builder refuses (hostile names,
//! odd entry types, corrupt headers), checked against the contract in `wit/tarfs.wit`.

use std::sync::Arc;

use pyworkers::bindings::tarfs::HostArchive;
use pyworkers::tarfs::{Archive, EntryKind, ErrorCode, TarfsView, MAX_PATH_LEN};
use tar::{EntryType, Header};
use wasmtime::component::{Resource, ResourceTable};

const MTIME: u64 = 1_700_000_000;

/// An archive under construction, written with `tar::Builder` in GNU format unless said otherwise.
struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Tar {
    fn new() -> Tar {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: EntryType, size: usize, mode: u32) -> Header {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size as u64);
        header.set_mode(mode);
        header.set_mtime(MTIME);
        header
    }

    fn file(self, path: &str, data: &[u8]) -> Tar {
        self.file_with_mode(path, data, 0o644)
    }

    fn file_with_mode(mut self, path: &str, data: &[u8], mode: u32) -> Tar {
        let mut header = Tar::header(EntryType::Regular, data.len(), mode);
        self.builder.append_data(&mut header, path, data).unwrap();
        self
    }

    /// A file whose long name goes into the ustar prefix field rather than an extension entry.
    fn ustar_file(mut self, path: &str, data: &[u8]) -> Tar {
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        header.set_path(path).unwrap();
        header.set_cksum();
        self.builder.append(&header, data).unwrap();
        self
    }

    fn dir(mut self, path: &str, mode: u32) -> Tar {
        let mut header = Tar::header(EntryType::Directory, 0, mode);
        self.builder
            .append_data(&mut header, path, &[][..])
            .unwrap();
        self
    }

    fn symlink(mut self, path: &str, target: &str) -> Tar {
        let mut header = Tar::header(EntryType::Symlink, 0, 0o777);
        self.builder.append_link(&mut header, path, target).unwrap();
        self
    }

    fn hardlink(mut self, path: &str, target: &str) -> Tar {
        let mut header = Tar::header(EntryType::Link, 0, 0o644);
        self.builder.append_link(&mut header, path, target).unwrap();
        self
    }

    /// A pax extended header describing the next member.
    fn pax(mut self, records: &[(&str, &str)]) -> Tar {
        let data = pax_records(records);
        let mut header = Header::new_ustar();
        header.set_entry_type(EntryType::XHeader);
        header.set_size(data.len() as u64);
        header.set_path("PaxHeaders/next").unwrap();
        header.set_cksum();
        self.builder.append(&header, &data[..]).unwrap();
        self
    }

    /// Blocks written by hand.
    fn raw(mut self, bytes: &[u8]) -> Tar {
        assert_eq!(bytes.len() % 512, 0);
        self.builder.get_mut().extend_from_slice(bytes);
        self
    }

    fn len(&self) -> usize {
        self.builder.get_ref().len()
    }

    fn bytes(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }

    fn open(self) -> Archive {
        Archive::open(self.bytes()).unwrap()
    }

    fn open_err(self) -> ErrorCode {
        match Archive::open(self.bytes()) {
            Ok(_) => panic!("archive opened but should be invalid"),
            Err(error) => error,
        }
    }
}

/// pax records (`"<len> <key>=<value>\n"`, where `<len>` counts itself).
fn pax_records(records: &[(&str, &str)]) -> Vec<u8> {
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
fn raw_header(name: &[u8], type_flag: u8, size: u64, link: &[u8]) -> [u8; 512] {
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

fn set_checksum(block: &mut [u8]) {
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block[..512].iter().map(|&b| u32::from(b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// A raw member: header plus data padded to whole blocks.
fn raw_member(name: &[u8], type_flag: u8, data: &[u8], link: &[u8]) -> Vec<u8> {
    let mut out = raw_header(name, type_flag, data.len() as u64, link).to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn names(archive: &Archive, path: &str) -> Vec<String> {
    archive
        .read_dir(path)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect()
}

fn ino(archive: &Archive, path: &str) -> u64 {
    archive.stat(path).unwrap().ino
}

fn err<T>(result: Result<T, ErrorCode>) -> ErrorCode {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(error) => error,
    }
}

#[test]
fn empty_input_and_zero_blocks_are_empty_archives() {
    for data in [
        Vec::new(),
        vec![0u8; 512],
        vec![0u8; 1024],
        Tar::new().bytes(),
    ] {
        let archive = Archive::open(data).unwrap();
        assert!(archive.read_dir("").unwrap().is_empty());
        assert!(archive.read_dir("/").unwrap().is_empty());
        let root = archive.stat("/").unwrap();
        assert_eq!(root.kind, EntryKind::Directory);
        assert_eq!(root.ino, archive.root());
        assert_eq!(root.size, 0);
        assert_eq!(err(archive.stat("anything")), ErrorCode::NotFound);
    }
}

#[test]
fn files_have_header_metadata_and_contents() {
    let archive = Tar::new()
        .file_with_mode("bin/tool", b"#!/bin/sh\necho hi\n", 0o100755)
        .file_with_mode("notes.txt", b"hello", 0o4640)
        .open();

    let tool = archive.stat("bin/tool").unwrap();
    assert_eq!(tool.kind, EntryKind::File);
    assert_eq!(tool.size, 18);
    assert_eq!(tool.mode, 0o755, "file type bits are masked off");
    assert_eq!(tool.mtime, MTIME);
    let notes = archive.stat("notes.txt").unwrap();
    assert_eq!(
        notes.mode, 0o640,
        "setuid/setgid/sticky bits are masked off"
    );
    assert_ne!(notes.ino, tool.ino);
    assert_ne!(notes.ino, archive.root());

    assert_eq!(
        archive.read("bin/tool", 0, 1 << 20).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(archive.read("notes.txt", 0, 5).unwrap(), b"hello");
}

#[test]
fn reads_at_offsets_and_past_end_of_file() {
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let archive = Tar::new().file("big.bin", &data).open();

    assert_eq!(archive.read("big.bin", 0, 10).unwrap(), &data[..10]);
    assert_eq!(archive.read("big.bin", 600, 700).unwrap(), &data[600..1300]);
    assert_eq!(
        archive.read("big.bin", 1990, 100).unwrap(),
        &data[1990..],
        "short read at end of file"
    );
    assert!(
        archive.read("big.bin", 2000, 10).unwrap().is_empty(),
        "read at end of file"
    );
    assert!(
        archive.read("big.bin", 5000, 10).unwrap().is_empty(),
        "read past end of file"
    );
    assert!(archive
        .read("big.bin", u64::MAX, u64::MAX)
        .unwrap()
        .is_empty());
    assert_eq!(
        archive.read("big.bin", 1999, u64::MAX).unwrap(),
        &data[1999..]
    );
    assert!(archive.read("big.bin", 10, 0).unwrap().is_empty());
}

#[test]
fn empty_files() {
    let archive = Tar::new().file("empty", b"").file("after", b"x").open();
    let stat = archive.stat("empty").unwrap();
    assert_eq!(stat.kind, EntryKind::File);
    assert_eq!(stat.size, 0);
    assert!(archive.read("empty", 0, 100).unwrap().is_empty());
    assert_eq!(archive.read("after", 0, 100).unwrap(), b"x");
}

#[test]
fn file_bytes_borrow_the_archive_data() {
    let data: Arc<[u8]> = Tar::new()
        .file("a/b.txt", b"borrowed, not copied")
        .bytes()
        .into();
    let archive = Archive::open(data.clone()).unwrap();
    let node = archive.resolve("a/b.txt", true).unwrap();
    let bytes = archive.node_bytes(node).unwrap();
    assert_eq!(bytes, b"borrowed, not copied");
    let range = data.as_ptr_range();
    assert!(
        range.contains(&bytes.as_ptr()),
        "node_bytes points into the archive bytes"
    );
    assert_eq!(archive.node_stat(node).ino, node);
    assert_eq!(archive.node_kind(node), EntryKind::File);
}

#[test]
fn directories_explicit_and_implied() {
    let archive = Tar::new()
        .file("implied/deeper/file.txt", b"1")
        .dir("explicit", 0o700)
        .file("explicit/inner.txt", b"2")
        .open();

    for dir in ["implied", "implied/deeper"] {
        let stat = archive.stat(dir).unwrap();
        assert_eq!(stat.kind, EntryKind::Directory, "{dir}");
        assert_eq!(stat.mode, 0o755, "implied directories get 0o755");
        assert_eq!(stat.size, 0);
    }
    let explicit = archive.stat("explicit").unwrap();
    assert_eq!(explicit.mode, 0o700);
    assert_eq!(explicit.mtime, MTIME);

    assert_eq!(names(&archive, ""), ["explicit", "implied"]);
    assert_eq!(names(&archive, "implied"), ["deeper"]);
    assert_eq!(names(&archive, "implied/deeper"), ["file.txt"]);
    assert_eq!(names(&archive, "explicit"), ["inner.txt"]);

    assert_eq!(err(archive.read("implied", 0, 1)), ErrorCode::IsADirectory);
    assert_eq!(
        err(archive.read_dir("implied/deeper/file.txt")),
        ErrorCode::NotADirectory
    );
    assert_eq!(err(archive.read_link("implied")), ErrorCode::InvalidPath);
}

#[test]
fn directory_entry_after_its_files_keeps_them() {
    let archive = Tar::new()
        .file("d/x", b"x")
        .dir("d", 0o711)
        .file("d/y", b"y")
        .open();
    assert_eq!(names(&archive, "d"), ["x", "y"]);
    assert_eq!(archive.stat("d").unwrap().mode, 0o711);
}

#[test]
fn read_dir_is_sorted_with_kinds_and_inodes() {
    let archive = Tar::new()
        .file("zeta", b"")
        .file("alpha", b"")
        .symlink("Mid", "alpha")
        .dir("beta", 0o755)
        .file("beta/ignored", b"")
        .open();

    let entries = archive.read_dir("/").unwrap();
    let listed: Vec<(&str, EntryKind)> =
        entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(
        listed,
        [
            ("Mid", EntryKind::Symlink),
            ("alpha", EntryKind::File),
            ("beta", EntryKind::Directory),
            ("zeta", EntryKind::File),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.ino, archive.lstat(&entry.name).unwrap().ino);
    }
    let mut inos: Vec<u64> = entries.iter().map(|e| e.ino).collect();
    inos.sort();
    inos.dedup();
    assert_eq!(inos.len(), 4);
}

#[test]
fn paths_are_normalised() {
    let archive = Tar::new().file("a/b/c.txt", b"c").open();
    let expected = ino(&archive, "a/b/c.txt");
    for path in [
        "/a/b/c.txt",
        "a//b/./c.txt",
        "./a/b/c.txt",
        "a/b/../b/c.txt",
        "//a/./b//c.txt",
        "a/../a/b/c.txt",
    ] {
        assert_eq!(ino(&archive, path), expected, "{path}");
    }
    for path in ["", "/", ".", "./", "a/..", "a/b/../.."] {
        assert_eq!(ino(&archive, path), archive.root(), "{path}");
    }
    assert_eq!(ino(&archive, "a/b/"), ino(&archive, "a/b"));

    assert_eq!(err(archive.stat("a/missing")), ErrorCode::NotFound);
    assert_eq!(err(archive.stat("missing/c.txt")), ErrorCode::NotFound);
    assert_eq!(err(archive.stat("a/b/c.txt/")), ErrorCode::NotADirectory);
    assert_eq!(err(archive.stat("a/b/c.txt/.")), ErrorCode::NotADirectory);
    assert_eq!(err(archive.stat("a/b/c.txt/x")), ErrorCode::NotADirectory);
    assert_eq!(err(archive.stat("a/b/c.txt/..")), ErrorCode::NotADirectory);
}

#[test]
fn traversal_above_the_root_is_refused() {
    let archive = Tar::new().file("a/b/c.txt", b"c").file("x", b"x").open();
    for path in [
        "..",
        "/..",
        "../../etc/passwd",
        "a/../../x",
        "a/b/../../../x",
        "./../x",
        "a/b/c.txt/../../../..",
    ] {
        let expected = if path.starts_with("a/b/c.txt") {
            ErrorCode::NotADirectory
        } else {
            ErrorCode::EscapesRoot
        };
        assert_eq!(err(archive.stat(path)), expected, "{path}");
        assert_eq!(err(archive.lstat(path)), expected, "{path}");
        assert_eq!(err(archive.read(path, 0, 10)), expected, "{path}");
    }
}

#[test]
fn invalid_paths() {
    let archive = Tar::new().file("a", b"a").open();
    assert_eq!(err(archive.stat("a\0")), ErrorCode::InvalidPath);
    assert_eq!(err(archive.stat("\0/a")), ErrorCode::InvalidPath);

    let at_limit = format!("/{}a", "./".repeat((MAX_PATH_LEN - 2) / 2));
    assert_eq!(at_limit.len(), MAX_PATH_LEN);
    assert_eq!(ino(&archive, &at_limit), ino(&archive, "a"));
    let too_long = format!("/{at_limit}");
    assert_eq!(err(archive.stat(&too_long)), ErrorCode::InvalidPath);

    assert_eq!(
        err(archive.resolve_bytes(b"a\xff", true)),
        ErrorCode::InvalidPath
    );
    assert_eq!(
        archive.resolve_bytes(b"/a", true).unwrap(),
        ino(&archive, "a")
    );
}

#[test]
fn gnu_long_names_and_long_links() {
    let dir = "d".repeat(60);
    let long = format!("{dir}/{}/{}.py", "e".repeat(70), "f".repeat(90));
    let target = format!("../../{dir}/{}", "t".repeat(150));
    let archive = Tar::new()
        .file(&long, b"long name")
        .file(&format!("{dir}/{}", "t".repeat(150)), b"target")
        .symlink(&format!("{dir}/x/link"), &target)
        .bytes();
    assert!(long.len() > 200);
    assert_eq!(
        archive[156], b'L',
        "the builder wrote a GNU long-name entry"
    );
    assert!(
        archive.chunks(512).any(|block| block[156] == b'K'),
        "and a GNU long-link entry"
    );

    let archive = Archive::open(archive).unwrap();
    assert_eq!(archive.read(&long, 0, 100).unwrap(), b"long name");
    assert_eq!(
        names(&archive, &dir),
        ["e".repeat(70), "t".repeat(150), "x".to_string()]
    );
    let link = format!("{dir}/x/link");
    assert_eq!(archive.read_link(&link).unwrap(), target);
    assert_eq!(archive.read(&link, 0, 100).unwrap(), b"target");
}

#[test]
fn ustar_prefix_names() {
    let long = format!("{}/{}", "p".repeat(120), "n".repeat(90));
    let archive = Tar::new().ustar_file(&long, b"prefixed").bytes();
    assert_eq!(&archive[257..263], b"ustar\0");
    assert_ne!(archive[345], 0, "the name used the ustar prefix field");
    let archive = Archive::open(archive).unwrap();
    assert_eq!(archive.read(&long, 0, 100).unwrap(), b"prefixed");
}

#[test]
fn pax_headers_override_path_linkpath_mtime_and_size() {
    let long = format!("pax/{}/file.txt", "q".repeat(200));
    let link_target = format!("{}/file.txt", "q".repeat(200));
    let archive = Tar::new()
        .pax(&[("path", &long), ("mtime", "1600000000.75")])
        .file("placeholder", b"pax contents")
        .pax(&[("linkpath", &link_target)])
        .symlink("pax/link", "short-placeholder")
        .pax(&[("mtime", "-12.5"), ("comment", "ignored")])
        .file("old", b"")
        .open();

    assert_eq!(
        err(archive.stat("placeholder")),
        ErrorCode::NotFound,
        "pax path replaces the header name"
    );
    let stat = archive.stat(&long).unwrap();
    assert_eq!(stat.mtime, 1_600_000_000);
    assert_eq!(archive.read(&long, 0, 100).unwrap(), b"pax contents");
    assert_eq!(archive.read_link("pax/link").unwrap(), link_target);
    assert_eq!(
        archive.lstat("pax/link").unwrap().size,
        link_target.len() as u64
    );
    assert_eq!(archive.read("pax/link", 4, 100).unwrap(), b"contents");
    assert_eq!(
        archive.stat("old").unwrap().mtime,
        0,
        "times before the epoch clamp to 0"
    );
}

#[test]
fn pax_size_overrides_header_size() {
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_mtime(MTIME);
    header.set_path("sized").unwrap();
    header.set_cksum();
    let mut data = b"12345".to_vec();
    data.resize(512, 0);
    let archive = Tar::new()
        .pax(&[("size", "5")])
        .raw(header.as_bytes())
        .raw(&data)
        .file("next", b"n")
        .open();
    assert_eq!(archive.read("sized", 0, 100).unwrap(), b"12345");
    assert_eq!(archive.read("next", 0, 100).unwrap(), b"n");
}

#[test]
fn pax_global_headers_and_volume_labels_are_skipped() {
    let global = pax_records(&[("comment", "git archive")]);
    let archive = Tar::new()
        .raw(&raw_member(b"pax_global_header", b'g', &global, b""))
        .raw(&raw_member(b"VOLUME", b'V', b"", b""))
        .file("f", b"f")
        .open();
    assert_eq!(names(&archive, ""), ["f"]);
}

#[test]
fn symlinks_relative_and_chained() {
    let archive = Tar::new()
        .file("data/file.txt", b"payload")
        .dir("deep/inner", 0o755)
        .file("deep/inner/x", b"x")
        .symlink("lib/link", "../data/file.txt")
        .symlink("c", "data/file.txt")
        .symlink("b", "c")
        .symlink("a", "./b")
        .symlink("dirlink", "deep/inner")
        .symlink("deep/sibling", "inner/x")
        .open();

    assert_eq!(archive.read("lib/link", 0, 100).unwrap(), b"payload");
    let followed = archive.stat("lib/link").unwrap();
    assert_eq!(followed.kind, EntryKind::File);
    assert_eq!(followed.size, 7);
    assert_eq!(followed.ino, ino(&archive, "data/file.txt"));
    let link = archive.lstat("lib/link").unwrap();
    assert_eq!(link.kind, EntryKind::Symlink);
    assert_eq!(link.size, "../data/file.txt".len() as u64);
    assert_eq!(link.mode, 0o777);
    assert_eq!(archive.read_link("lib/link").unwrap(), "../data/file.txt");
    assert_eq!(
        err(archive.read_link("data/file.txt")),
        ErrorCode::InvalidPath
    );

    assert_eq!(
        archive.read("a", 0, 100).unwrap(),
        b"payload",
        "a -> b -> c -> file"
    );
    assert_eq!(archive.read_link("a").unwrap(), "./b");

    assert_eq!(names(&archive, "dirlink"), ["x"]);
    assert_eq!(archive.read("dirlink/x", 0, 1).unwrap(), b"x");
    assert_eq!(
        archive.read("deep/sibling", 0, 1).unwrap(),
        b"x",
        "relative to the link's directory"
    );
    assert_eq!(archive.lstat("dirlink").unwrap().kind, EntryKind::Symlink);
    assert_eq!(
        archive.lstat("dirlink/").unwrap().kind,
        EntryKind::Directory,
        "a trailing / follows"
    );
    assert_eq!(
        ino(&archive, "dirlink/.."),
        ino(&archive, "deep"),
        ".. climbs from the link's target"
    );
    assert_eq!(err(archive.read("dirlink", 0, 1)), ErrorCode::IsADirectory);
}

#[test]
fn symlinks_out_of_the_root_are_refused() {
    let archive = Tar::new()
        .file("file", b"inside")
        .symlink("abs", "/etc/passwd")
        .symlink("abs_inside", "/file")
        .symlink("up", "../outside")
        .symlink("sub/up2", "../../file")
        .symlink("sub/ok", "../file")
        .dir("d", 0o755)
        .symlink("sub/dir_ok", "../d")
        .symlink("sub/via", "dir_ok/../../file")
        .symlink("hop", "sub/up2")
        .open();

    for path in ["abs", "abs_inside", "up", "sub/up2", "hop", "abs/x", "up/"] {
        assert_eq!(err(archive.stat(path)), ErrorCode::EscapesRoot, "{path}");
        assert_eq!(
            err(archive.read(path, 0, 1)),
            ErrorCode::EscapesRoot,
            "{path}"
        );
    }
    // The links themselves are visible; only following them is refused.
    assert_eq!(archive.lstat("abs").unwrap().kind, EntryKind::Symlink);
    assert_eq!(archive.read_link("abs").unwrap(), "/etc/passwd");
    assert_eq!(archive.read("sub/ok", 0, 100).unwrap(), b"inside");
    assert_eq!(
        archive.stat("sub/dir_ok/../file").unwrap().ino,
        ino(&archive, "file")
    );
    // `dir_ok/..` climbs from where `dir_ok` leads (`d`, so to the root), and the next `..` would leave it.
    assert_eq!(err(archive.stat("sub/via")), ErrorCode::EscapesRoot);
}

#[test]
fn symlink_loops_and_hop_limit() {
    let mut tar = Tar::new()
        .file("file", b"end")
        .symlink("loop_a", "loop_b")
        .symlink("loop_b", "loop_a")
        .symlink("self", "self")
        .symlink("dir_loop", "dir_loop/x")
        .symlink("chain0", "file");
    for i in 1..=40 {
        tar = tar.symlink(&format!("chain{i}"), &format!("chain{}", i - 1));
    }
    let archive = tar.open();

    for path in ["loop_a", "loop_b", "self", "dir_loop", "loop_a/x"] {
        assert_eq!(err(archive.stat(path)), ErrorCode::TooManyLinks, "{path}");
    }
    assert_eq!(archive.lstat("loop_a").unwrap().kind, EntryKind::Symlink);
    assert_eq!(
        archive.read("chain39", 0, 10).unwrap(),
        b"end",
        "40 hops are allowed"
    );
    assert_eq!(
        err(archive.read("chain40", 0, 10)),
        ErrorCode::TooManyLinks,
        "41 are not"
    );
}

#[test]
fn empty_link_targets_make_the_archive_invalid() {
    let in_header = Tar::new().raw(&raw_member(b"empty_link", b'2', b"", b""));
    assert_eq!(in_header.open_err(), ErrorCode::InvalidArchive);
    let in_pax = Tar::new()
        .pax(&[("linkpath", "")])
        .symlink("empty_link", "placeholder");
    assert_eq!(in_pax.open_err(), ErrorCode::InvalidArchive);
    let hard = Tar::new().raw(&raw_member(b"empty_hard", b'1', b"", b""));
    assert_eq!(hard.open_err(), ErrorCode::InvalidArchive);
}

#[test]
fn hard_links_share_the_target_node() {
    let archive = Tar::new()
        .file("orig.txt", b"original")
        .hardlink("dir/copy.txt", "orig.txt")
        .symlink("sym", "orig.txt")
        .hardlink("sym2", "./sym")
        .file("orig.txt", b"replaced")
        .open();
    assert_eq!(archive.read("dir/copy.txt", 0, 100).unwrap(), b"original");
    assert_eq!(archive.read("orig.txt", 0, 100).unwrap(), b"replaced");
    assert_ne!(ino(&archive, "orig.txt"), ino(&archive, "dir/copy.txt"));
    assert_eq!(archive.read_link("sym2").unwrap(), "orig.txt");
    assert_eq!(
        archive.lstat("sym2").unwrap().ino,
        archive.lstat("sym").unwrap().ino
    );

    let shared = Tar::new().file("a", b"a").hardlink("b", "a").open();
    assert_eq!(ino(&shared, "a"), ino(&shared, "b"));

    assert_eq!(
        Tar::new().hardlink("dangling", "nowhere").open_err(),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        Tar::new()
            .hardlink("early", "later")
            .file("later", b"")
            .open_err(),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        Tar::new()
            .dir("d", 0o755)
            .hardlink("to_dir", "d")
            .open_err(),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        Tar::new()
            .file("a", b"")
            .raw(&raw_member(b"l", b'1', b"", b"../a"))
            .open_err(),
        ErrorCode::InvalidArchive
    );
}

#[test]
fn later_members_replace_earlier_ones() {
    let archive = Tar::new()
        .file("same", b"first")
        .file("same", b"second")
        .file("was_file", b"f")
        .dir("was_file", 0o750)
        .file("was_dir/child", b"c")
        .file("was_dir", b"now a file")
        .symlink("was_link", "same")
        .file("was_link", b"plain")
        .open();
    assert_eq!(archive.read("same", 0, 100).unwrap(), b"second");
    assert_eq!(archive.stat("was_file").unwrap().kind, EntryKind::Directory);
    assert_eq!(archive.stat("was_file").unwrap().mode, 0o750);
    assert_eq!(archive.read("was_dir", 0, 100).unwrap(), b"now a file");
    assert_eq!(err(archive.stat("was_dir/child")), ErrorCode::NotADirectory);
    assert_eq!(archive.lstat("was_link").unwrap().kind, EntryKind::File);
    assert_eq!(
        names(&archive, ""),
        ["same", "was_dir", "was_file", "was_link"]
    );
}

#[test]
fn member_names_are_placed_inside_the_root() {
    let archive = Tar::new()
        .raw(&raw_member(b"/abs/file", b'0', b"abs", b""))
        .raw(&raw_member(b"./dot/./name", b'0', b"dot", b""))
        .raw(&raw_member(b"x/../lexical", b'0', b"lex", b""))
        .raw(&raw_member(b"//double//slash", b'0', b"dbl", b""))
        .raw(&raw_member(b"old-style-dir/", b'0', b"", b""))
        .open();
    assert_eq!(archive.read("abs/file", 0, 10).unwrap(), b"abs");
    assert_eq!(archive.read("dot/name", 0, 10).unwrap(), b"dot");
    assert_eq!(archive.read("lexical", 0, 10).unwrap(), b"lex");
    assert_eq!(archive.read("double/slash", 0, 10).unwrap(), b"dbl");
    assert_eq!(
        archive.stat("old-style-dir").unwrap().kind,
        EntryKind::Directory
    );
    assert_eq!(
        err(archive.stat("x")),
        ErrorCode::NotFound,
        "`x/..` is applied to the name, not the tree"
    );
    assert_eq!(
        names(&archive, ""),
        ["abs", "dot", "double", "lexical", "old-style-dir"]
    );
}

#[test]
fn member_names_climbing_above_the_root_make_the_archive_invalid() {
    for name in [
        &b"../evil"[..],
        b"a/../../evil",
        b"/../evil",
        b"..",
        b"./../x",
    ] {
        let error = Tar::new()
            .file("ok", b"")
            .raw(&raw_member(name, b'0', b"evil", b""))
            .open_err();
        assert_eq!(
            error,
            ErrorCode::InvalidArchive,
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    let pax = Tar::new()
        .pax(&[("path", "../../etc/passwd")])
        .file("placeholder", b"evil")
        .open_err();
    assert_eq!(pax, ErrorCode::InvalidArchive);
}

#[test]
fn the_root_member() {
    let archive = Tar::new().dir("./", 0o700).file("f", b"").open();
    assert_eq!(archive.stat("").unwrap().mode, 0o700);
    assert_eq!(names(&archive, ""), ["f"]);
    let file_as_root = Tar::new().raw(&raw_member(b".", b'0', b"x", b""));
    assert_eq!(file_as_root.open_err(), ErrorCode::InvalidArchive);
    let link_as_root = Tar::new().raw(&raw_member(b".", b'2', b"", b"elsewhere"));
    assert_eq!(link_as_root.open_err(), ErrorCode::InvalidArchive);
}

#[test]
fn members_below_a_non_directory_make_the_archive_invalid() {
    assert_eq!(
        Tar::new().file("f", b"").file("f/x", b"").open_err(),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        Tar::new()
            .dir("real", 0o755)
            .symlink("link", "real")
            .file("link/x", b"")
            .open_err(),
        ErrorCode::InvalidArchive
    );
}

#[test]
fn unsupported_member_types_make_the_archive_invalid() {
    for type_flag in [b'3', b'4', b'6', b'S', b'D', b'M', b'Z'] {
        let error = Tar::new()
            .file("ok", b"")
            .raw(&raw_member(b"odd", type_flag, b"", b""))
            .open_err();
        assert_eq!(
            error,
            ErrorCode::InvalidArchive,
            "type {}",
            type_flag as char
        );
    }
    let pax_sparse = Tar::new()
        .pax(&[("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")])
        .file("sparse", b"map");
    assert_eq!(pax_sparse.open_err(), ErrorCode::InvalidArchive);
}

#[test]
fn non_utf8_names_make_the_archive_invalid() {
    let error = Tar::new()
        .raw(&raw_member(b"caf\xe9", b'0', b"", b""))
        .open_err();
    assert_eq!(error, ErrorCode::InvalidArchive);
    let error = Tar::new()
        .raw(&raw_member(b"l", b'2', b"", b"\xff"))
        .open_err();
    assert_eq!(error, ErrorCode::InvalidArchive);
}

#[test]
fn truncated_archives_are_invalid_at_every_cut_but_member_boundaries() {
    let big: Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
    let mut boundaries = vec![0];
    let mut tar = Tar::new();
    for step in 0..5 {
        tar = match step {
            0 => tar.file("first.txt", b"hello"),
            1 => tar.file("big.bin", &big),
            2 => tar.file(&format!("{}/long", "l".repeat(120)), b"long name"),
            3 => tar
                .pax(&[("path", "pax-named")])
                .file("placeholder", b"pax"),
            _ => tar.symlink("link", "first.txt"),
        };
        boundaries.push(tar.len());
    }
    let end_of_members = tar.len();
    let full = tar.bytes();
    assert_eq!(full.len(), end_of_members + 1024);

    let whole = Archive::open(full.clone()).unwrap();
    assert_eq!(
        names(&whole, ""),
        [
            "big.bin",
            "first.txt",
            "link",
            "l".repeat(120).as_str(),
            "pax-named"
        ]
    );

    let mut checked = 0;
    for cut in 0..full.len() {
        let result = Archive::open(full[..cut].to_vec());
        // Reading stops at the first zero block, so the second one may be cut anywhere.
        if boundaries.contains(&cut) || cut >= end_of_members + 512 {
            assert!(result.is_ok(), "cut at member boundary {cut}");
        } else {
            assert_eq!(err(result), ErrorCode::InvalidArchive, "cut at {cut}");
            checked += 1;
        }
    }
    assert!(checked > 4000);

    // A cut at a boundary keeps exactly the members before it.
    let first_two = Archive::open(full[..boundaries[2]].to_vec()).unwrap();
    assert_eq!(names(&first_two, ""), ["big.bin", "first.txt"]);
    assert_eq!(first_two.read("big.bin", 0, 2000).unwrap(), big);
}

#[test]
fn declared_size_past_the_end_is_invalid() {
    let mut header = raw_header(b"liar", b'0', 10_000, b"").to_vec();
    header.extend_from_slice(&[b'x'; 512]);
    header.extend_from_slice(&[0; 1024]);
    assert_eq!(err(Archive::open(header)), ErrorCode::InvalidArchive);

    let mut huge = raw_header(b"huge", b'0', 0, b"");
    // Base-256 size of 2^62 bytes.
    huge[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    set_checksum(&mut huge);
    let mut data = huge.to_vec();
    data.extend_from_slice(&[0; 1024]);
    assert_eq!(err(Archive::open(data)), ErrorCode::InvalidArchive);
}

#[test]
fn garbage_is_invalid() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    assert_eq!(err(Archive::open(noise)), ErrorCode::InvalidArchive);
    assert_eq!(
        err(Archive::open(b"hello, world".to_vec())),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        err(Archive::open(vec![b' '; 512])),
        ErrorCode::InvalidArchive
    );
    assert_eq!(
        err(Archive::open(vec![0xff; 1024])),
        ErrorCode::InvalidArchive
    );

    // Garbage where the next header should be.
    let garbage_after = Tar::new().file("f", b"f").raw(&[0x5a; 512]).bytes();
    assert_eq!(err(Archive::open(garbage_after)), ErrorCode::InvalidArchive);
    // Bytes after the end-of-archive marker are not part of the archive (tar pads archives to record sizes).
    let mut trailing = Tar::new().file("f", b"f").bytes();
    trailing.extend_from_slice(&[0x5a; 700]);
    assert_eq!(names(&Archive::open(trailing).unwrap(), ""), ["f"]);
}

#[test]
fn bad_checksums_are_invalid() {
    let good = Tar::new().file("f", b"contents").file("g", b"more").bytes();
    assert!(Archive::open(good.clone()).is_ok());

    let mut renamed = good.clone();
    renamed[0] = b'h';
    assert_eq!(err(Archive::open(renamed)), ErrorCode::InvalidArchive);

    let mut checksum = good.clone();
    checksum[150] = if checksum[150] == b'1' { b'2' } else { b'1' };
    assert_eq!(err(Archive::open(checksum)), ErrorCode::InvalidArchive);

    let mut second_header = good.clone();
    second_header[1024 + 130] ^= 1;
    assert_eq!(err(Archive::open(second_header)), ErrorCode::InvalidArchive);

    let mut unparseable = good;
    unparseable[148..156].copy_from_slice(b"zzzzzzz\0");
    assert_eq!(err(Archive::open(unparseable)), ErrorCode::InvalidArchive);
}

/// Calls the `bindgen!`-generated host traits directly; conformance of a `tarfs` component comes with the
/// components issue.
#[test]
fn native_tarfs_implements_generated_host_traits_over_a_resource_table() {
    use pyworkers::bindings::tarfs as wit;
    let bytes = Tar::new()
        .file("dir/file.txt", b"through the trait")
        .symlink("link", "dir/file.txt")
        .bytes();
    let mut table = ResourceTable::new();
    let mut view = TarfsView { table: &mut table };

    assert_eq!(
        HostArchive::open(&mut view, b"not a tar archive".to_vec()).err().unwrap(),
        wit::ErrorCode::InvalidArchive
    );

    let handle = HostArchive::open(&mut view, bytes).unwrap();
    let rep = handle.rep();
    let borrow = || Resource::<Archive>::new_borrow(rep);

    let stat = HostArchive::stat(&mut view, borrow(), "/dir/file.txt".into()).unwrap();
    assert_eq!(stat.kind, wit::EntryKind::File);
    assert_eq!(stat.size, 17);
    let link = HostArchive::lstat(&mut view, borrow(), "link".into()).unwrap();
    assert_eq!(link.kind, wit::EntryKind::Symlink);
    let listing = HostArchive::read_dir(&mut view, borrow(), "".into()).unwrap();
    let listed: Vec<&str> = listing.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(listed, ["dir", "link"]);
    assert_eq!(
        HostArchive::read(&mut view, borrow(), "link".into(), 8, 3).unwrap(),
        b"the"
    );
    assert_eq!(
        HostArchive::read_link(&mut view, borrow(), "link".into()).unwrap(),
        "dir/file.txt"
    );
    assert_eq!(
        HostArchive::stat(&mut view, borrow(), "../x".into()).err().unwrap(),
        wit::ErrorCode::EscapesRoot
    );

    HostArchive::drop(&mut view, handle).unwrap();
    assert_eq!(
        HostArchive::stat(&mut view, borrow(), "dir".into()).err().unwrap(),
        wit::ErrorCode::InvalidArchive,
        "a dropped handle no longer reaches the archive"
    );
    assert!(table.is_empty());
}
