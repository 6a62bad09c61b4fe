//! The `tarfs` properties, each a function over fresh instances. Most build an archive with [`Tar`], open it and
//! check what the WIT promises about it; [`every_error_code`] checks that each `error-code` is reachable.

use super::archives::{pax_records, raw_header, raw_member, set_checksum, Tar, MTIME};
use super::{EntryKind, ErrorCode, Session, Tarfs};
use crate::conformance::check::{check, check_eq, check_ne};
use crate::conformance::{Case, Check, Fresh};
use anyhow::Context;
use tar::{EntryType, Header};

/// The longest path the WIT accepts, in bytes.
const MAX_PATH_LEN: usize = 4096;

/// The suite, in report order.
pub fn cases() -> &'static [Case<dyn Tarfs>] {
    &[
        Case { name: "empty-archives", about: "empty input, zero blocks and a bare end marker are an empty root", run: empty_input_and_zero_blocks_are_empty_archives },
        Case { name: "file-metadata", about: "files report kind, size, masked mode, mtime, distinct inodes and contents", run: files_have_header_metadata_and_contents },
        Case { name: "read-ranges", about: "reads at offsets are exact, short at end of file, empty past it", run: reads_at_offsets_and_past_end_of_file },
        Case { name: "empty-files", about: "an empty file stats as size 0 and reads nothing", run: empty_files },
        Case { name: "directories", about: "explicit and implied directories; is-a-directory, not-a-directory", run: directories_explicit_and_implied },
        Case { name: "directory-after-files", about: "a directory member after its files keeps them and sets the mode", run: directory_entry_after_its_files_keeps_them },
        Case { name: "read-dir-order", about: "read-dir is sorted by name, with kinds and lstat inodes", run: read_dir_is_sorted_with_kinds_and_inodes },
        Case { name: "path-normalisation", about: "leading /, ., // and .. inside the tree are normalised", run: paths_are_normalised },
        Case { name: "traversal", about: ".. above the root is escapes-root", run: traversal_above_the_root_is_refused },
        Case { name: "invalid-paths", about: "NUL bytes and paths over 4096 bytes are invalid-path", run: invalid_paths },
        Case { name: "gnu-long-names", about: "GNU long names and long link targets", run: gnu_long_names_and_long_links },
        Case { name: "ustar-prefix", about: "long names in the ustar prefix field", run: ustar_prefix_names },
        Case { name: "pax-headers", about: "pax path, linkpath and mtime override the header", run: pax_headers_override_path_linkpath_mtime_and_size },
        Case { name: "pax-size", about: "a pax size overrides the header size", run: pax_size_overrides_header_size },
        Case { name: "pax-global-headers", about: "pax global headers and volume labels are not members", run: pax_global_headers_and_volume_labels_are_skipped },
        Case { name: "symlinks", about: "relative, chained and directory symlinks; lstat and read-link", run: symlinks_relative_and_chained },
        Case { name: "symlink-escapes", about: "absolute symlinks and ones climbing out are escapes-root", run: symlinks_out_of_the_root_are_refused },
        Case { name: "symlink-loops", about: "loops are too-many-links; 40 hops resolve, 41 do not", run: symlink_loops_and_hop_limit },
        Case { name: "empty-link-targets", about: "an empty link target is invalid-archive", run: empty_link_targets_make_the_archive_invalid },
        Case { name: "hard-links", about: "hard links share the node; dangling ones are invalid-archive", run: hard_links_share_the_target_node },
        Case { name: "replaced-members", about: "a later member replaces an earlier one of the same name", run: later_members_replace_earlier_ones },
        Case { name: "member-names", about: "absolute, ./ and lexical .. member names land inside the root", run: member_names_are_placed_inside_the_root },
        Case { name: "hostile-member-names", about: "member names climbing above the root are invalid-archive", run: member_names_climbing_above_the_root_make_the_archive_invalid },
        Case { name: "root-member", about: "a ./ member sets the root; a non-directory root is invalid-archive", run: the_root_member },
        Case { name: "below-non-directory", about: "members below a file or symlink are invalid-archive", run: members_below_a_non_directory_make_the_archive_invalid },
        Case { name: "unsupported-types", about: "devices, FIFOs, sparse and unknown types are invalid-archive", run: unsupported_member_types_make_the_archive_invalid },
        Case { name: "non-utf8-names", about: "non-UTF-8 names and targets are invalid-archive", run: non_utf8_names_make_the_archive_invalid },
        Case { name: "truncation", about: "a cut anywhere but a member boundary is invalid-archive", run: truncated_archives_are_invalid_at_every_cut_but_member_boundaries },
        Case { name: "size-past-end", about: "a member whose size runs past the end is invalid-archive", run: declared_size_past_the_end_is_invalid },
        Case { name: "garbage", about: "garbage is invalid-archive; bytes after the end marker are ignored", run: garbage_is_invalid },
        Case { name: "bad-checksums", about: "a wrong or unparseable header checksum is invalid-archive", run: bad_checksums_are_invalid },
        Case { name: "handles", about: "archives open side by side are independent; a closed one is gone", run: handles },
        Case { name: "every-error-code", about: "each error-code of the WIT is answered where it applies", run: every_error_code },
    ]
}

fn empty_input_and_zero_blocks_are_empty_archives(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    for data in [
        Vec::new(),
        vec![0u8; 512],
        vec![0u8; 1024],
        Tar::new().bytes(),
    ] {
        let archive = s.open(data).ok()?;
        check!(archive.read_dir("").ok()?.is_empty());
        check!(archive.read_dir("/").ok()?.is_empty());
        let root = archive.stat("/").ok()?;
        check_eq!(root.kind, EntryKind::Directory);
        check_eq!(root.size, 0);
        check_eq!(archive.stat("anything").err()?, ErrorCode::NotFound);
    }
    Ok(())
}

fn files_have_header_metadata_and_contents(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file_with_mode("bin/tool", b"#!/bin/sh\necho hi\n", 0o100755)
        .file_with_mode("notes.txt", b"hello", 0o4640)
        .open(&s)?;

    let tool = archive.stat("bin/tool").ok()?;
    check_eq!(tool.kind, EntryKind::File);
    check_eq!(tool.size, 18);
    check_eq!(tool.mode, 0o755, "file type bits are masked off");
    check_eq!(tool.mtime, MTIME);
    let notes = archive.stat("notes.txt").ok()?;
    check_eq!(
        notes.mode, 0o640,
        "setuid/setgid/sticky bits are masked off"
    );
    check_ne!(notes.ino, tool.ino);
    check_ne!(notes.ino, archive.ino("")?);

    check_eq!(
        archive.read("bin/tool", 0, 1 << 20).ok()?,
        b"#!/bin/sh\necho hi\n"
    );
    check_eq!(archive.read("notes.txt", 0, 5).ok()?, b"hello");
    Ok(())
}

fn reads_at_offsets_and_past_end_of_file(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
    let archive = Tar::new().file("big.bin", &data).open(&s)?;

    check_eq!(archive.read("big.bin", 0, 10).ok()?, &data[..10]);
    check_eq!(archive.read("big.bin", 600, 700).ok()?, &data[600..1300]);
    check_eq!(
        archive.read("big.bin", 1990, 100).ok()?,
        &data[1990..],
        "short read at end of file"
    );
    check!(
        archive.read("big.bin", 2000, 10).ok()?.is_empty(),
        "read at end of file"
    );
    check!(
        archive.read("big.bin", 5000, 10).ok()?.is_empty(),
        "read past end of file"
    );
    check!(archive
        .read("big.bin", u64::MAX, u64::MAX)
        .ok()?
        .is_empty());
    check_eq!(
        archive.read("big.bin", 1999, u64::MAX).ok()?,
        &data[1999..]
    );
    check!(archive.read("big.bin", 10, 0).ok()?.is_empty());
    Ok(())
}

fn empty_files(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new().file("empty", b"").file("after", b"x").open(&s)?;
    let stat = archive.stat("empty").ok()?;
    check_eq!(stat.kind, EntryKind::File);
    check_eq!(stat.size, 0);
    check!(archive.read("empty", 0, 100).ok()?.is_empty());
    check_eq!(archive.read("after", 0, 100).ok()?, b"x");
    Ok(())
}

fn directories_explicit_and_implied(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file("implied/deeper/file.txt", b"1")
        .dir("explicit", 0o700)
        .file("explicit/inner.txt", b"2")
        .open(&s)?;

    for dir in ["implied", "implied/deeper"] {
        let stat = archive.stat(dir).ok()?;
        check_eq!(stat.kind, EntryKind::Directory, "{dir}");
        check_eq!(stat.mode, 0o755, "implied directories get 0o755");
        check_eq!(stat.size, 0);
    }
    let explicit = archive.stat("explicit").ok()?;
    check_eq!(explicit.mode, 0o700);
    check_eq!(explicit.mtime, MTIME);

    check_eq!(archive.names("")?, ["explicit", "implied"]);
    check_eq!(archive.names("implied")?, ["deeper"]);
    check_eq!(archive.names("implied/deeper")?, ["file.txt"]);
    check_eq!(archive.names("explicit")?, ["inner.txt"]);

    check_eq!(archive.read("implied", 0, 1).err()?, ErrorCode::IsADirectory);
    check_eq!(
        archive.read_dir("implied/deeper/file.txt").err()?,
        ErrorCode::NotADirectory
    );
    check_eq!(archive.read_link("implied").err()?, ErrorCode::InvalidPath);
    Ok(())
}

fn directory_entry_after_its_files_keeps_them(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file("d/x", b"x")
        .dir("d", 0o711)
        .file("d/y", b"y")
        .open(&s)?;
    check_eq!(archive.names("d")?, ["x", "y"]);
    check_eq!(archive.stat("d").ok()?.mode, 0o711);
    Ok(())
}

fn read_dir_is_sorted_with_kinds_and_inodes(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file("zeta", b"")
        .file("alpha", b"")
        .symlink("Mid", "alpha")
        .dir("beta", 0o755)
        .file("beta/ignored", b"")
        .open(&s)?;

    let entries = archive.read_dir("/").ok()?;
    let listed: Vec<(&str, EntryKind)> =
        entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    check_eq!(
        listed,
        [
            ("Mid", EntryKind::Symlink),
            ("alpha", EntryKind::File),
            ("beta", EntryKind::Directory),
            ("zeta", EntryKind::File),
        ]
    );
    for entry in &entries {
        check_eq!(entry.ino, archive.lstat(&entry.name).ok()?.ino);
    }
    let mut inos: Vec<u64> = entries.iter().map(|e| e.ino).collect();
    inos.sort();
    inos.dedup();
    check_eq!(inos.len(), 4);
    Ok(())
}

fn paths_are_normalised(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new().file("a/b/c.txt", b"c").open(&s)?;
    let expected = archive.ino("a/b/c.txt")?;
    for path in [
        "/a/b/c.txt",
        "a//b/./c.txt",
        "./a/b/c.txt",
        "a/b/../b/c.txt",
        "//a/./b//c.txt",
        "a/../a/b/c.txt",
    ] {
        check_eq!(archive.ino(path)?, expected, "{path}");
    }
    let root = archive.lstat("/").ok()?.ino;
    for path in ["", "/", ".", "./", "a/..", "a/b/../.."] {
        check_eq!(archive.ino(path)?, root, "{path}");
    }
    check_eq!(archive.ino("a/b/")?, archive.ino("a/b")?);

    check_eq!(archive.stat("a/missing").err()?, ErrorCode::NotFound);
    check_eq!(archive.stat("missing/c.txt").err()?, ErrorCode::NotFound);
    check_eq!(archive.stat("a/b/c.txt/").err()?, ErrorCode::NotADirectory);
    check_eq!(archive.stat("a/b/c.txt/.").err()?, ErrorCode::NotADirectory);
    check_eq!(archive.stat("a/b/c.txt/x").err()?, ErrorCode::NotADirectory);
    check_eq!(archive.stat("a/b/c.txt/..").err()?, ErrorCode::NotADirectory);
    Ok(())
}

fn traversal_above_the_root_is_refused(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new().file("a/b/c.txt", b"c").file("x", b"x").open(&s)?;
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
        check_eq!(archive.stat(path).err()?, expected, "{path}");
        check_eq!(archive.lstat(path).err()?, expected, "{path}");
        check_eq!(archive.read(path, 0, 10).err()?, expected, "{path}");
    }
    Ok(())
}

fn invalid_paths(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new().file("a", b"a").open(&s)?;
    check_eq!(archive.stat("a\0").err()?, ErrorCode::InvalidPath);
    check_eq!(archive.stat("\0/a").err()?, ErrorCode::InvalidPath);

    let at_limit = format!("/{}a", "./".repeat((MAX_PATH_LEN - 2) / 2));
    check_eq!(at_limit.len(), MAX_PATH_LEN);
    check_eq!(archive.ino(&at_limit)?, archive.ino("a")?);
    let too_long = format!("/{at_limit}");
    check_eq!(archive.stat(&too_long).err()?, ErrorCode::InvalidPath);
    Ok(())
}

fn gnu_long_names_and_long_links(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let dir = "d".repeat(60);
    let long = format!("{dir}/{}/{}.py", "e".repeat(70), "f".repeat(90));
    let target = format!("../../{dir}/{}", "t".repeat(150));
    let archive = Tar::new()
        .file(&long, b"long name")
        .file(&format!("{dir}/{}", "t".repeat(150)), b"target")
        .symlink(&format!("{dir}/x/link"), &target)
        .bytes();
    check!(long.len() > 200);
    check_eq!(
        archive[156], b'L',
        "the builder wrote a GNU long-name entry"
    );
    check!(
        archive.chunks(512).any(|block| block[156] == b'K'),
        "and a GNU long-link entry"
    );

    let archive = s.open(archive).ok()?;
    check_eq!(archive.read(&long, 0, 100).ok()?, b"long name");
    check_eq!(
        archive.names(&dir)?,
        ["e".repeat(70), "t".repeat(150), "x".to_string()]
    );
    let link = format!("{dir}/x/link");
    check_eq!(archive.read_link(&link).ok()?, target);
    check_eq!(archive.read(&link, 0, 100).ok()?, b"target");
    Ok(())
}

fn ustar_prefix_names(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let long = format!("{}/{}", "p".repeat(120), "n".repeat(90));
    let archive = Tar::new().ustar_file(&long, b"prefixed").bytes();
    check_eq!(&archive[257..263], b"ustar\0");
    check_ne!(archive[345], 0, "the name used the ustar prefix field");
    let archive = s.open(archive).ok()?;
    check_eq!(archive.read(&long, 0, 100).ok()?, b"prefixed");
    Ok(())
}

fn pax_headers_override_path_linkpath_mtime_and_size(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let long = format!("pax/{}/file.txt", "q".repeat(200));
    let link_target = format!("{}/file.txt", "q".repeat(200));
    let archive = Tar::new()
        .pax(&[("path", &long), ("mtime", "1600000000.75")])
        .file("placeholder", b"pax contents")
        .pax(&[("linkpath", &link_target)])
        .symlink("pax/link", "short-placeholder")
        .pax(&[("mtime", "-12.5"), ("comment", "ignored")])
        .file("old", b"")
        .open(&s)?;

    check_eq!(
        archive.stat("placeholder").err()?,
        ErrorCode::NotFound,
        "pax path replaces the header name"
    );
    let stat = archive.stat(&long).ok()?;
    check_eq!(stat.mtime, 1_600_000_000);
    check_eq!(archive.read(&long, 0, 100).ok()?, b"pax contents");
    check_eq!(archive.read_link("pax/link").ok()?, link_target);
    check_eq!(
        archive.lstat("pax/link").ok()?.size,
        link_target.len() as u64
    );
    check_eq!(archive.read("pax/link", 4, 100).ok()?, b"contents");
    check_eq!(
        archive.stat("old").ok()?.mtime,
        0,
        "times before the epoch clamp to 0"
    );
    Ok(())
}

fn pax_size_overrides_header_size(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::Regular);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_mtime(MTIME);
    header.set_path("sized")?;
    header.set_cksum();
    let mut data = b"12345".to_vec();
    data.resize(512, 0);
    let archive = Tar::new()
        .pax(&[("size", "5")])
        .raw(header.as_bytes())
        .raw(&data)
        .file("next", b"n")
        .open(&s)?;
    check_eq!(archive.read("sized", 0, 100).ok()?, b"12345");
    check_eq!(archive.read("next", 0, 100).ok()?, b"n");
    Ok(())
}

fn pax_global_headers_and_volume_labels_are_skipped(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let global = pax_records(&[("comment", "git archive")]);
    let archive = Tar::new()
        .raw(&raw_member(b"pax_global_header", b'g', &global, b""))
        .raw(&raw_member(b"VOLUME", b'V', b"", b""))
        .file("f", b"f")
        .open(&s)?;
    check_eq!(archive.names("")?, ["f"]);
    Ok(())
}

fn symlinks_relative_and_chained(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
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
        .open(&s)?;

    check_eq!(archive.read("lib/link", 0, 100).ok()?, b"payload");
    let followed = archive.stat("lib/link").ok()?;
    check_eq!(followed.kind, EntryKind::File);
    check_eq!(followed.size, 7);
    check_eq!(followed.ino, archive.ino("data/file.txt")?);
    let link = archive.lstat("lib/link").ok()?;
    check_eq!(link.kind, EntryKind::Symlink);
    check_eq!(link.size, "../data/file.txt".len() as u64);
    check_eq!(link.mode, 0o777);
    check_eq!(archive.read_link("lib/link").ok()?, "../data/file.txt");
    check_eq!(
        archive.read_link("data/file.txt").err()?,
        ErrorCode::InvalidPath
    );

    check_eq!(
        archive.read("a", 0, 100).ok()?,
        b"payload",
        "a -> b -> c -> file"
    );
    check_eq!(archive.read_link("a").ok()?, "./b");

    check_eq!(archive.names("dirlink")?, ["x"]);
    check_eq!(archive.read("dirlink/x", 0, 1).ok()?, b"x");
    check_eq!(
        archive.read("deep/sibling", 0, 1).ok()?,
        b"x",
        "relative to the link's directory"
    );
    check_eq!(archive.lstat("dirlink").ok()?.kind, EntryKind::Symlink);
    check_eq!(
        archive.lstat("dirlink/").ok()?.kind,
        EntryKind::Directory,
        "a trailing / follows"
    );
    check_eq!(
        archive.ino("dirlink/..")?,
        archive.ino("deep")?,
        ".. climbs from the link's target"
    );
    check_eq!(archive.read("dirlink", 0, 1).err()?, ErrorCode::IsADirectory);
    Ok(())
}

fn symlinks_out_of_the_root_are_refused(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
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
        .open(&s)?;

    for path in ["abs", "abs_inside", "up", "sub/up2", "hop", "abs/x", "up/"] {
        check_eq!(archive.stat(path).err()?, ErrorCode::EscapesRoot, "{path}");
        check_eq!(
            archive.read(path, 0, 1).err()?,
            ErrorCode::EscapesRoot,
            "{path}"
        );
    }
    // The links themselves are visible; only following them is refused.
    check_eq!(archive.lstat("abs").ok()?.kind, EntryKind::Symlink);
    check_eq!(archive.read_link("abs").ok()?, "/etc/passwd");
    check_eq!(archive.read("sub/ok", 0, 100).ok()?, b"inside");
    check_eq!(
        archive.stat("sub/dir_ok/../file").ok()?.ino,
        archive.ino("file")?
    );
    // `dir_ok/..` climbs from where `dir_ok` leads (`d`, so to the root), and the next `..` would leave it.
    check_eq!(archive.stat("sub/via").err()?, ErrorCode::EscapesRoot);
    Ok(())
}

fn symlink_loops_and_hop_limit(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
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
    let archive = tar.open(&s)?;

    for path in ["loop_a", "loop_b", "self", "dir_loop", "loop_a/x"] {
        check_eq!(archive.stat(path).err()?, ErrorCode::TooManyLinks, "{path}");
    }
    check_eq!(archive.lstat("loop_a").ok()?.kind, EntryKind::Symlink);
    check_eq!(
        archive.read("chain39", 0, 10).ok()?,
        b"end",
        "40 hops are allowed"
    );
    check_eq!(
        archive.read("chain40", 0, 10).err()?,
        ErrorCode::TooManyLinks,
        "41 are not"
    );
    Ok(())
}

fn empty_link_targets_make_the_archive_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let in_header = Tar::new().raw(&raw_member(b"empty_link", b'2', b"", b""));
    check_eq!(in_header.open_err(&s)?, ErrorCode::InvalidArchive);
    let in_pax = Tar::new()
        .pax(&[("linkpath", "")])
        .symlink("empty_link", "placeholder");
    check_eq!(in_pax.open_err(&s)?, ErrorCode::InvalidArchive);
    let hard = Tar::new().raw(&raw_member(b"empty_hard", b'1', b"", b""));
    check_eq!(hard.open_err(&s)?, ErrorCode::InvalidArchive);
    Ok(())
}

fn hard_links_share_the_target_node(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file("orig.txt", b"original")
        .hardlink("dir/copy.txt", "orig.txt")
        .symlink("sym", "orig.txt")
        .hardlink("sym2", "./sym")
        .file("orig.txt", b"replaced")
        .open(&s)?;
    check_eq!(archive.read("dir/copy.txt", 0, 100).ok()?, b"original");
    check_eq!(archive.read("orig.txt", 0, 100).ok()?, b"replaced");
    check_ne!(archive.ino("orig.txt")?, archive.ino("dir/copy.txt")?);
    check_eq!(archive.read_link("sym2").ok()?, "orig.txt");
    check_eq!(
        archive.lstat("sym2").ok()?.ino,
        archive.lstat("sym").ok()?.ino
    );

    let shared = Tar::new().file("a", b"a").hardlink("b", "a").open(&s)?;
    check_eq!(shared.ino("a")?, shared.ino("b")?);

    check_eq!(
        Tar::new().hardlink("dangling", "nowhere").open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        Tar::new()
            .hardlink("early", "later")
            .file("later", b"")
            .open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        Tar::new()
            .dir("d", 0o755)
            .hardlink("to_dir", "d")
            .open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        Tar::new()
            .file("a", b"")
            .raw(&raw_member(b"l", b'1', b"", b"../a"))
            .open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    Ok(())
}

fn later_members_replace_earlier_ones(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .file("same", b"first")
        .file("same", b"second")
        .file("was_file", b"f")
        .dir("was_file", 0o750)
        .file("was_dir/child", b"c")
        .file("was_dir", b"now a file")
        .symlink("was_link", "same")
        .file("was_link", b"plain")
        .open(&s)?;
    check_eq!(archive.read("same", 0, 100).ok()?, b"second");
    check_eq!(archive.stat("was_file").ok()?.kind, EntryKind::Directory);
    check_eq!(archive.stat("was_file").ok()?.mode, 0o750);
    check_eq!(archive.read("was_dir", 0, 100).ok()?, b"now a file");
    check_eq!(archive.stat("was_dir/child").err()?, ErrorCode::NotADirectory);
    check_eq!(archive.lstat("was_link").ok()?.kind, EntryKind::File);
    check_eq!(
        archive.names("")?,
        ["same", "was_dir", "was_file", "was_link"]
    );
    Ok(())
}

fn member_names_are_placed_inside_the_root(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new()
        .raw(&raw_member(b"/abs/file", b'0', b"abs", b""))
        .raw(&raw_member(b"./dot/./name", b'0', b"dot", b""))
        .raw(&raw_member(b"x/../lexical", b'0', b"lex", b""))
        .raw(&raw_member(b"//double//slash", b'0', b"dbl", b""))
        .raw(&raw_member(b"old-style-dir/", b'0', b"", b""))
        .open(&s)?;
    check_eq!(archive.read("abs/file", 0, 10).ok()?, b"abs");
    check_eq!(archive.read("dot/name", 0, 10).ok()?, b"dot");
    check_eq!(archive.read("lexical", 0, 10).ok()?, b"lex");
    check_eq!(archive.read("double/slash", 0, 10).ok()?, b"dbl");
    check_eq!(
        archive.stat("old-style-dir").ok()?.kind,
        EntryKind::Directory
    );
    check_eq!(
        archive.stat("x").err()?,
        ErrorCode::NotFound,
        "`x/..` is applied to the name, not the tree"
    );
    check_eq!(
        archive.names("")?,
        ["abs", "dot", "double", "lexical", "old-style-dir"]
    );
    Ok(())
}

fn member_names_climbing_above_the_root_make_the_archive_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
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
            .open_err(&s)?;
        check_eq!(
            error,
            ErrorCode::InvalidArchive,
            "{}",
            String::from_utf8_lossy(name)
        );
    }
    let pax = Tar::new()
        .pax(&[("path", "../../etc/passwd")])
        .file("placeholder", b"evil")
        .open_err(&s)?;
    check_eq!(pax, ErrorCode::InvalidArchive);
    Ok(())
}

fn the_root_member(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let archive = Tar::new().dir("./", 0o700).file("f", b"").open(&s)?;
    check_eq!(archive.stat("").ok()?.mode, 0o700);
    check_eq!(archive.names("")?, ["f"]);
    let file_as_root = Tar::new().raw(&raw_member(b".", b'0', b"x", b""));
    check_eq!(file_as_root.open_err(&s)?, ErrorCode::InvalidArchive);
    let link_as_root = Tar::new().raw(&raw_member(b".", b'2', b"", b"elsewhere"));
    check_eq!(link_as_root.open_err(&s)?, ErrorCode::InvalidArchive);
    Ok(())
}

fn members_below_a_non_directory_make_the_archive_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    check_eq!(
        Tar::new().file("f", b"").file("f/x", b"").open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        Tar::new()
            .dir("real", 0o755)
            .symlink("link", "real")
            .file("link/x", b"")
            .open_err(&s)?,
        ErrorCode::InvalidArchive
    );
    Ok(())
}

fn unsupported_member_types_make_the_archive_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    for type_flag in [b'3', b'4', b'6', b'S', b'D', b'M', b'Z'] {
        let error = Tar::new()
            .file("ok", b"")
            .raw(&raw_member(b"odd", type_flag, b"", b""))
            .open_err(&s)?;
        check_eq!(
            error,
            ErrorCode::InvalidArchive,
            "type {}",
            type_flag as char
        );
    }
    let pax_sparse = Tar::new()
        .pax(&[("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0")])
        .file("sparse", b"map");
    check_eq!(pax_sparse.open_err(&s)?, ErrorCode::InvalidArchive);
    Ok(())
}

fn non_utf8_names_make_the_archive_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let error = Tar::new()
        .raw(&raw_member(b"caf\xe9", b'0', b"", b""))
        .open_err(&s)?;
    check_eq!(error, ErrorCode::InvalidArchive);
    let error = Tar::new()
        .raw(&raw_member(b"l", b'2', b"", b"\xff"))
        .open_err(&s)?;
    check_eq!(error, ErrorCode::InvalidArchive);
    Ok(())
}

fn truncated_archives_are_invalid_at_every_cut_but_member_boundaries(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
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
    check_eq!(full.len(), end_of_members + 1024);

    let whole = s.open(full.clone()).ok()?;
    check_eq!(
        whole.names("")?,
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
        let result = s.open(full[..cut].to_vec());
        // Reading stops at the first zero block, so the second one may be cut anywhere.
        if boundaries.contains(&cut) || cut >= end_of_members + 512 {
            result.ok().with_context(|| format!("cut at member boundary {cut}"))?.close()?;
        } else {
            check_eq!(result.err()?, ErrorCode::InvalidArchive, "cut at {cut}");
            checked += 1;
        }
    }
    check!(checked > 4000);

    // A cut at a boundary keeps exactly the members before it.
    let first_two = s.open(full[..boundaries[2]].to_vec()).ok()?;
    check_eq!(first_two.names("")?, ["big.bin", "first.txt"]);
    check_eq!(first_two.read("big.bin", 0, 2000).ok()?, big);
    Ok(())
}

fn declared_size_past_the_end_is_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let mut header = raw_header(b"liar", b'0', 10_000, b"").to_vec();
    header.extend_from_slice(&[b'x'; 512]);
    header.extend_from_slice(&[0; 1024]);
    check_eq!(s.open(header).err()?, ErrorCode::InvalidArchive);

    let mut huge = raw_header(b"huge", b'0', 0, b"");
    // Base-256 size of 2^62 bytes.
    huge[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0]);
    set_checksum(&mut huge);
    let mut data = huge.to_vec();
    data.extend_from_slice(&[0; 1024]);
    check_eq!(s.open(data).err()?, ErrorCode::InvalidArchive);
    Ok(())
}

fn garbage_is_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    check_eq!(s.open(noise).err()?, ErrorCode::InvalidArchive);
    check_eq!(
        s.open(b"hello, world".to_vec()).err()?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        s.open(vec![b' '; 512]).err()?,
        ErrorCode::InvalidArchive
    );
    check_eq!(
        s.open(vec![0xff; 1024]).err()?,
        ErrorCode::InvalidArchive
    );

    // Garbage where the next header should be.
    let garbage_after = Tar::new().file("f", b"f").raw(&[0x5a; 512]).bytes();
    check_eq!(s.open(garbage_after).err()?, ErrorCode::InvalidArchive);
    // Bytes after the end-of-archive marker are not part of the archive (tar pads archives to record sizes).
    let mut trailing = Tar::new().file("f", b"f").bytes();
    trailing.extend_from_slice(&[0x5a; 700]);
    check_eq!(s.open(trailing).ok()?.names("")?, ["f"]);
    Ok(())
}

fn bad_checksums_are_invalid(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let good = Tar::new().file("f", b"contents").file("g", b"more").bytes();
    s.open(good.clone()).ok()?;

    let mut renamed = good.clone();
    renamed[0] = b'h';
    check_eq!(s.open(renamed).err()?, ErrorCode::InvalidArchive);

    let mut checksum = good.clone();
    checksum[150] = if checksum[150] == b'1' { b'2' } else { b'1' };
    check_eq!(s.open(checksum).err()?, ErrorCode::InvalidArchive);

    let mut second_header = good.clone();
    second_header[1024 + 130] ^= 1;
    check_eq!(s.open(second_header).err()?, ErrorCode::InvalidArchive);

    let mut unparseable = good;
    unparseable[148..156].copy_from_slice(b"zzzzzzz\0");
    check_eq!(s.open(unparseable).err()?, ErrorCode::InvalidArchive);
    Ok(())
}

fn handles(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    let one = Tar::new().file("name", b"first").open(&s)?;
    let two = Tar::new().file("name", b"second").dir("only-here", 0o755).open(&s)?;
    check_eq!(one.read("name", 0, 10).ok()?, b"first");
    check_eq!(two.read("name", 0, 10).ok()?, b"second");
    check_eq!(one.stat("only-here").err()?, ErrorCode::NotFound);
    one.close()?;
    check_eq!(two.names("")?, ["name", "only-here"], "the other archive after one is closed");
    let three = Tar::new().file("third", b"3").open(&s)?;
    check_eq!(three.read("third", 0, 10).ok()?, b"3");
    check_eq!(two.read("name", 0, 10).ok()?, b"second");
    Ok(())
}

fn every_error_code(fresh: Fresh<'_, dyn Tarfs>) -> Check {
    let s = Session::new(fresh()?);
    check_eq!(s.open(b"not a tar archive".to_vec()).err()?, ErrorCode::InvalidArchive);
    let archive = Tar::new()
        .file("dir/file", b"f")
        .symlink("loop", "loop")
        .symlink("out", "/etc/passwd")
        .open(&s)?;
    let cases = [
        (archive.stat("missing").err()?, ErrorCode::NotFound),
        (archive.read_dir("dir/file").err()?, ErrorCode::NotADirectory),
        (archive.read("dir", 0, 1).err()?, ErrorCode::IsADirectory),
        (archive.stat("../x").err()?, ErrorCode::EscapesRoot),
        (archive.read("out", 0, 1).err()?, ErrorCode::EscapesRoot),
        (archive.stat("loop").err()?, ErrorCode::TooManyLinks),
        (archive.stat("dir\0file").err()?, ErrorCode::InvalidPath),
        (archive.read_link("dir/file").err()?, ErrorCode::InvalidPath),
    ];
    for (got, want) in cases {
        check_eq!(got, want);
    }
    Ok(())
}
