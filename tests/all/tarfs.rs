//! Native `tarfs` beyond the WIT: the node API a file system layer builds on, and zero-copy reads. What the WIT
//! promises (edge-case archives, every error code, traversal) is the conformance suite's
//! (`host/src/conformance/tarfs`), run against this implementation and the component in `tests/all/conformance.rs`.

use std::sync::Arc;

use pyworkers::conformance::tarfs::Tar;
use pyworkers::tarfs::{Archive, EntryKind, ErrorCode};

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
fn paths_as_bytes() {
    let archive = Archive::open(Tar::new().file("a", b"a").bytes()).unwrap();
    let a = archive.resolve("a", true).unwrap();
    assert_eq!(archive.resolve_bytes(b"/a", true).unwrap(), a);
    assert_eq!(archive.resolve_bytes(b"a\xff", true).unwrap_err(), ErrorCode::InvalidPath);
    assert_eq!(archive.resolve_bytes(b"a\0", true).unwrap_err(), ErrorCode::InvalidPath);
}

#[test]
fn node_api_walks_one_component_at_a_time() {
    let bytes = Tar::new().file("d/f", b"x").symlink("l", "d/f").bytes();
    let archive = Archive::open(bytes).unwrap();
    let root = archive.root();
    assert_eq!(archive.node_kind(root), EntryKind::Directory);
    let d = archive.node_lookup(root, "d").unwrap();
    let f = archive.node_lookup(d, "f").unwrap();
    assert_eq!(archive.node_bytes(f).unwrap(), b"x");
    assert_eq!(archive.node_lookup(d, "missing").unwrap_err(), ErrorCode::NotFound);
    assert_eq!(archive.node_lookup(f, "x").unwrap_err(), ErrorCode::NotADirectory);
    let l = archive.node_lookup(root, "l").unwrap();
    assert_eq!(archive.node_link_target(l).unwrap(), "d/f");
    assert_eq!(archive.node_bytes(l).unwrap_err(), ErrorCode::InvalidPath, "resolve with follow first");
    assert_eq!(archive.node_bytes(d).unwrap_err(), ErrorCode::IsADirectory);
    assert!(archive.node_exists(f));
    assert!(!archive.node_exists(0) && !archive.node_exists(99));
}

#[test]
fn error_codes_print_as_their_wit_names() {
    let names: Vec<String> = ErrorCode::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        names,
        ["not-found", "not-a-directory", "is-a-directory", "escapes-root", "too-many-links", "invalid-path",
         "invalid-archive"]
    );
}
