//! The guest file system through its host API (no interpreter): rename, limits, unlinked-but-open files, the
//! mount table's rules, path resolution through symlinks, devices and output sinks.

use pyworkers::vfs::layout::{self, MountSpec};
use pyworkers::vfs::memfs::{MAX_FILE_SIZE, MAX_NODES};
use pyworkers::vfs::oflags::{O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, O_WRONLY};
use pyworkers::vfs::{mode, Device, Errno, Fs, MemFs, MountError, NodeRef, Output, Vfs, AT_FDCWD};
use std::sync::{Arc, Mutex};

const CWD: i32 = AT_FDCWD;

/// A Vfs with a writable memfs of `limit` bytes at `/tmp`.
fn tmp_vfs(limit: usize) -> Vfs {
    let mut vfs = Vfs::new();
    vfs.mount("/tmp", Fs::Mem(MemFs::new(limit)), true).unwrap();
    vfs
}

/// The standard layout over a stand-in stdlib zip (a blob: its bytes are never parsed here).
fn standard() -> Vfs {
    layout::standard(Arc::new(&b"not really a zip"[..]), None, pyworkers::PYWORKERS_LIB_TAR).unwrap()
}

fn write_file(vfs: &mut Vfs, path: &str, data: &[u8]) {
    let fd = vfs.open_at(CWD, path, O_CREAT | O_WRONLY, 0o644).unwrap();
    assert_eq!(vfs.write(fd, data, None).unwrap(), data.len());
    vfs.close(fd).unwrap();
}

fn tmp_memfs(vfs: &Vfs) -> &MemFs {
    let m = vfs.mounts().iter().find(|m| m.path == "/tmp").unwrap();
    match &m.fs {
        Fs::Mem(fs) => fs,
        _ => panic!("/tmp is not a memfs"),
    }
}

fn names(vfs: &mut Vfs, dir: &str) -> Vec<String> {
    let fd = vfs.open_at(CWD, dir, O_RDONLY | O_DIRECTORY, 0).unwrap();
    let mut out: Vec<String> = vfs
        .dir_entries(fd)
        .unwrap()
        .iter()
        .map(|e| e.name.clone())
        .filter(|n| n != "." && n != "..")
        .collect();
    vfs.close(fd).unwrap();
    out.sort();
    out
}

#[test]
fn rename_refuses_what_posix_refuses_and_changes_nothing() {
    let mut vfs = tmp_vfs(1 << 20);
    vfs.mkdir_at(CWD, "/tmp/full", 0o755).unwrap();
    write_file(&mut vfs, "/tmp/full/keep", b"kept");
    vfs.mkdir_at(CWD, "/tmp/dir", 0o755).unwrap();
    vfs.mkdir_at(CWD, "/tmp/dir/sub", 0o755).unwrap();
    write_file(&mut vfs, "/tmp/file", b"file");

    let cases = [
        ("/tmp/dir", "/tmp/full", Errno::NOTEMPTY),
        ("/tmp/dir", "/tmp/file", Errno::NOTDIR),
        ("/tmp/file", "/tmp/full", Errno::ISDIR),
        ("/tmp/dir", "/tmp/dir/sub/inside", Errno::INVAL),
        ("/tmp/dir", "/tmp/dir/sub", Errno::INVAL),
    ];
    for (from, to, errno) in cases {
        assert_eq!(
            vfs.rename_at(CWD, from, CWD, to),
            Err(errno),
            "{from} -> {to}"
        );
    }
    assert_eq!(names(&mut vfs, "/tmp"), ["dir", "file", "full"]);
    assert_eq!(names(&mut vfs, "/tmp/dir"), ["sub"]);
    assert_eq!(vfs.read_file("/tmp/full/keep").unwrap(), b"kept");
    assert_eq!(vfs.read_file("/tmp/file").unwrap(), b"file");

    // Onto itself: nothing happens, the file is still there.
    vfs.rename_at(CWD, "/tmp/file", CWD, "/tmp/file").unwrap();
    assert_eq!(vfs.read_file("/tmp/file").unwrap(), b"file");

    // What POSIX allows: a file over a file, a directory over an empty directory.
    write_file(&mut vfs, "/tmp/other", b"other");
    vfs.rename_at(CWD, "/tmp/other", CWD, "/tmp/file").unwrap();
    assert_eq!(vfs.read_file("/tmp/file").unwrap(), b"other");
    vfs.mkdir_at(CWD, "/tmp/empty", 0o755).unwrap();
    vfs.rename_at(CWD, "/tmp/dir", CWD, "/tmp/empty").unwrap();
    assert_eq!(names(&mut vfs, "/tmp"), ["empty", "file", "full"]);
    assert_eq!(names(&mut vfs, "/tmp/empty"), ["sub"]);
    // Across mounts: EXDEV, as on Linux.
    let mut std = standard();
    write_file(&mut std, "/tmp/x", b"x");
    assert_eq!(
        std.rename_at(CWD, "/tmp/x", CWD, "/home/pyworkers/x"),
        Err(Errno::XDEV)
    );
}

#[test]
fn mkdir_rmdir_loop_reuses_slots() {
    let mut vfs = tmp_vfs(1 << 20);
    for i in 0..100_000 {
        let name = format!("/tmp/d{}", i % 7);
        vfs.mkdir_at(CWD, &name, 0o755).unwrap();
        vfs.unlink_at(CWD, &name, true).unwrap();
    }
    let fs = tmp_memfs(&vfs);
    assert!(
        fs.nodes().len() <= 2,
        "node table grew to {}",
        fs.nodes().len()
    );
    assert_eq!((fs.live_nodes(), fs.used()), (1, 0));
}

#[test]
fn full_memfs_is_enospc_and_names_count() {
    // Names are charged: 100 bytes hold few long-named directories and no host memory grows past that.
    let mut vfs = tmp_vfs(100);
    let mut made = 0;
    let err = loop {
        match vfs.mkdir_at(CWD, &format!("/tmp/{made:0>30}"), 0o755) {
            Ok(()) => made += 1,
            Err(e) => break e,
        }
    };
    assert_eq!((err, made), (Errno::NOSPC, 3));
    assert!(tmp_memfs(&vfs).used() <= 100);

    // File data past the tree's limit: ENOSPC; one file past the largest file size: EFBIG.
    let mut vfs = tmp_vfs(1000);
    let fd = vfs.open_at(CWD, "/tmp/f", O_CREAT | O_RDWR, 0o644).unwrap();
    assert_eq!(vfs.write(fd, &[1; 2000], None), Err(Errno::NOSPC));
    assert_eq!(vfs.write(fd, b"x", Some(MAX_FILE_SIZE)), Err(Errno::FBIG));
    assert_eq!(vfs.write(fd, &[1; 900], None), Ok(900));
    assert_eq!(
        vfs.truncate_node(vfs.file(fd).unwrap().node, 5000),
        Err(Errno::NOSPC)
    );
}

#[test]
fn node_count_is_capped() {
    let mut vfs = tmp_vfs(usize::MAX);
    let mut made = 0usize;
    let err = loop {
        match vfs.mkdir_at(CWD, &format!("/tmp/{made}"), 0o755) {
            Ok(()) => made += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Errno::NOSPC);
    assert_eq!(made, MAX_NODES - 1, "the root is a node too");
    // Freeing one makes room for exactly one.
    vfs.unlink_at(CWD, "/tmp/0", true).unwrap();
    vfs.mkdir_at(CWD, "/tmp/again", 0o755).unwrap();
    assert_eq!(vfs.mkdir_at(CWD, "/tmp/more", 0o755), Err(Errno::NOSPC));
    assert_eq!(tmp_memfs(&vfs).nodes().len(), MAX_NODES);
}

#[test]
fn create_write_close_unlink_cycles_do_not_grow() {
    let mut vfs = tmp_vfs(1 << 20);
    // Keep some files open throughout, so the work is not trivially empty.
    let held: Vec<i32> = (0..50)
        .map(|i| {
            vfs.open_at(CWD, &format!("/tmp/held{i}"), O_CREAT | O_RDWR, 0o644)
                .unwrap()
        })
        .collect();
    let table = tmp_memfs(&vfs).nodes().len();
    for i in 0..80_000 {
        let fd = vfs
            .open_at(CWD, "/tmp/cycle", O_CREAT | O_RDWR, 0o644)
            .unwrap();
        vfs.write(fd, format!("payload {i}").as_bytes(), None)
            .unwrap();
        vfs.close(fd).unwrap();
        vfs.unlink_at(CWD, "/tmp/cycle", false).unwrap();
    }
    assert_eq!(tmp_memfs(&vfs).nodes().len(), table + 1);
    assert_eq!(held.len(), 50);
}

#[test]
fn unlinked_file_stays_readable_until_last_close() {
    let mut vfs = tmp_vfs(1 << 20);
    write_file(&mut vfs, "/tmp/f", b"still here");
    let a = vfs.open_at(CWD, "/tmp/f", O_RDONLY, 0).unwrap();
    let b = vfs.insert_fd(vfs.file(a).unwrap().clone(), 0).unwrap(); // dup
    vfs.unlink_at(CWD, "/tmp/f", false).unwrap();
    assert_eq!(vfs.stat_at(CWD, "/tmp/f", true, false), Err(Errno::NOENT));
    let live = tmp_memfs(&vfs).live_nodes();
    vfs.close(a).unwrap();
    let mut buf = [0; 32];
    let n = vfs.read(b, &mut buf, None).unwrap();
    assert_eq!(&buf[..n], b"still here");
    assert_eq!(tmp_memfs(&vfs).live_nodes(), live);
    vfs.close(b).unwrap();
    assert_eq!(tmp_memfs(&vfs).live_nodes(), live - 1);
    assert_eq!(tmp_memfs(&vfs).used(), 0);
}

#[test]
fn runtime_mounts_are_reserved() {
    let mut vfs = standard();
    let tar = || {
        Fs::Tar(Arc::new(
            pyworkers::tarfs::Archive::open(Vec::new()).unwrap(),
        ))
    };
    for at in [
        "/lib/python314.zip",
        "/lib/pyworkers",
        "/tmp",
        "/home/pyworkers",
    ] {
        let err = vfs.mount(at, tar(), false).unwrap_err();
        assert!(matches!(err, MountError::Reserved { .. }), "{at}: {err}");
        assert!(err.to_string().contains(at), "{err}");
    }
    for (at, reserved) in [
        ("/tmp/x", "/tmp"),
        ("/lib", "/lib/python314.zip"),
        ("/home", "/home/pyworkers"),
    ] {
        let err = vfs.mount(at, tar(), false).unwrap_err();
        assert_eq!(
            err,
            MountError::Reserved {
                path: at.into(),
                reserved: reserved.into()
            }
        );
    }
    assert_eq!(vfs.mount("/", tar(), false), Err(MountError::Root));
    vfs.mount("/data", tar(), false).unwrap();
    let err = vfs.mount("/data/", tar(), false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot mount at /data: something is already mounted there"
    );
    // The same through the CLI's mount spec, whose message names the path.
    let dir = tempfile::tempdir().unwrap();
    let spec: MountSpec = format!("{}:/lib/python3.14/x", dir.path().display())
        .parse()
        .unwrap();
    let mut with_bytecode = standard();
    with_bytecode
        .mount_reserved("/lib/python3.14", tar(), false)
        .unwrap();
    let err = format!("{:#}", spec.apply(&mut with_bytecode).unwrap_err());
    assert!(err.contains("/lib/python3.14"), "{err}");
}

#[test]
fn mount_indices_stay_put_for_open_fds() {
    let mut vfs = standard();
    write_file(&mut vfs, "/tmp/f", b"tmp file");
    let fd = vfs.open_at(CWD, "/tmp/f", O_RDONLY, 0).unwrap();
    let before = vfs.file(fd).unwrap().node;
    for i in 0..5 {
        let data: Arc<[u8]> = Arc::from(format!("blob {i}").as_bytes());
        vfs.mount(&format!("/blob{i}"), Fs::Blob(Arc::new(data)), false)
            .unwrap();
    }
    assert_eq!(vfs.file(fd).unwrap().node, before);
    let mut buf = [0; 16];
    let n = vfs.read(fd, &mut buf, None).unwrap();
    assert_eq!(&buf[..n], b"tmp file");
    // Swapping the tree under an open fd would make its node id name another file.
    assert_eq!(vfs.replace_memfs("/tmp", MemFs::new(10)), Err(Errno::BUSY));
    vfs.close(fd).unwrap();
    vfs.replace_memfs("/tmp", MemFs::new(10)).unwrap();
    assert_eq!(vfs.read_file("/tmp/f"), Err(Errno::NOENT));
}

#[test]
fn dotdot_after_a_symlink_climbs_from_the_target() {
    let mut vfs = standard();
    vfs.symlink_at("/lib/pyworkers", CWD, "/tmp/l").unwrap();
    let up = vfs.walk("/tmp/l/..", true).unwrap();
    assert_eq!(up.path, "/lib");
    assert_eq!(up.node, vfs.resolve("/lib", true).unwrap());
    assert_eq!(names(&mut vfs, "/tmp/l/.."), names(&mut vfs, "/lib"));
    // Relative links, and `..` in a link's target, resolve from the link's directory.
    vfs.mkdir_at(CWD, "/tmp/a", 0o755).unwrap();
    vfs.mkdir_at(CWD, "/tmp/a/b", 0o755).unwrap();
    write_file(&mut vfs, "/tmp/a/file", b"a's file");
    vfs.symlink_at("a/b", CWD, "/tmp/rel").unwrap();
    assert_eq!(vfs.read_file("/tmp/rel/../file").unwrap(), b"a's file");
    vfs.symlink_at("../file", CWD, "/tmp/a/b/up").unwrap();
    assert_eq!(vfs.read_file("/tmp/rel/up").unwrap(), b"a's file");
    // chdir through a link lands in the real directory, as getcwd reports on Linux.
    vfs.chdir("/tmp/l").unwrap();
    assert_eq!(vfs.cwd(), "/lib/pyworkers");
    vfs.chdir("..").unwrap();
    assert_eq!(vfs.cwd(), "/lib");
    // `..` after a file is not a directory; `..` at the root stays there.
    assert_eq!(vfs.resolve("/tmp/a/file/..", true), Err(Errno::NOTDIR));
    assert_eq!(vfs.walk("/../..", true).unwrap().path, "/");
}

#[test]
fn symlink_depth_is_limited() {
    let mut vfs = tmp_vfs(1 << 20);
    write_file(&mut vfs, "/tmp/end", b"end");
    // A chain of exactly 40 links resolves; 41 is ELOOP.
    vfs.symlink_at("/tmp/end", CWD, "/tmp/l0").unwrap();
    for i in 1..41 {
        vfs.symlink_at(&format!("/tmp/l{}", i - 1), CWD, &format!("/tmp/l{i}"))
            .unwrap();
    }
    assert_eq!(vfs.read_file("/tmp/l39").unwrap(), b"end");
    assert_eq!(vfs.read_file("/tmp/l40"), Err(Errno::LOOP));
    vfs.symlink_at("/tmp/pong", CWD, "/tmp/ping").unwrap();
    vfs.symlink_at("ping", CWD, "/tmp/pong").unwrap();
    assert_eq!(vfs.resolve("/tmp/ping", true), Err(Errno::LOOP));
    assert_eq!(vfs.resolve("/tmp/ping/x", false), Err(Errno::LOOP));
    // Not following the final link finds the link itself.
    let st = vfs.stat_at(CWD, "/tmp/ping", false, false).unwrap();
    assert_eq!(st.mode & mode::S_IFMT, mode::S_IFLNK);
}

#[test]
fn archive_links_stay_inside_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("top.txt"), "top").unwrap();
    std::os::unix::fs::symlink("../top.txt", dir.path().join("a/up")).unwrap();
    std::os::unix::fs::symlink("../../etc", dir.path().join("a/out")).unwrap();
    let tar = layout::pack_dir(dir.path()).unwrap();
    let archive = pyworkers::tarfs::Archive::open(tar).unwrap();
    let mut vfs = standard();
    vfs.mount("/site", Fs::Tar(Arc::new(archive)), false)
        .unwrap();
    assert_eq!(vfs.read_file("/site/a/up").unwrap(), b"top");
    assert_eq!(vfs.resolve("/site/a/out", true), Err(Errno::ACCES));
    // A `..` the guest wrote (not a link's) may leave the mount, as on any file system.
    assert_eq!(vfs.walk("/site/a/../..", true).unwrap().path, "/");
}

/// Answers each write with the bytes reversed, one reply per request.
struct Reverser {
    reply: Vec<u8>,
}

impl Device for Reverser {
    fn write(&mut self, data: &[u8]) -> pyworkers::vfs::Result<usize> {
        self.reply = data.iter().rev().copied().collect();
        Ok(data.len())
    }

    fn read(&mut self, buf: &mut [u8]) -> pyworkers::vfs::Result<usize> {
        let n = buf.len().min(self.reply.len());
        buf[..n].copy_from_slice(&self.reply[..n]);
        self.reply.drain(..n);
        Ok(n)
    }
}

#[test]
fn device_answers_requests_and_is_not_forked() {
    let mut vfs = standard();
    vfs.mount_device("/dev/pyworkers", Box::new(Reverser { reply: Vec::new() }))
        .unwrap();
    let st = vfs.stat_at(CWD, "/dev/pyworkers", true, false).unwrap();
    assert_eq!(st.mode & mode::S_IFMT, mode::S_IFCHR);
    let fd = vfs.open_at(CWD, "/dev/pyworkers", O_RDWR, 0).unwrap();
    assert!(matches!(vfs.file(fd).unwrap().node, NodeRef::Device { .. }));
    assert_eq!(vfs.write(fd, b"request", None), Ok(7));
    let mut buf = [0; 16];
    let n = vfs.read(fd, &mut buf, None).unwrap();
    assert_eq!(&buf[..n], b"tseuqer");
    assert_eq!(vfs.read(fd, &mut buf, None), Ok(0));
    assert_eq!(vfs.seek(fd, 0, 0), Err(Errno::SPIPE));
    assert_eq!(vfs.read(fd, &mut buf, Some(0)), Err(Errno::SPIPE));
    // Not a directory, and nothing can be made inside it.
    assert_eq!(vfs.resolve("/dev/pyworkers/x", true), Err(Errno::NOTDIR));

    // A fork keeps the path but not the device, until it mounts its own there.
    let mut fork = vfs.fork();
    assert_eq!(fork.read(fd, &mut buf, None), Err(Errno::NXIO));
    assert_eq!(
        fork.open_at(CWD, "/dev/pyworkers", O_RDWR, 0),
        Err(Errno::NXIO)
    );
    fork.mount_device("/dev/pyworkers", Box::new(Reverser { reply: Vec::new() }))
        .unwrap();
    assert_eq!(fork.write(fd, b"ab", None), Ok(2));
    let n = fork.read(fd, &mut buf, None).unwrap();
    assert_eq!(&buf[..n], b"ba");
    // The original's device is its own.
    assert_eq!(vfs.read(fd, &mut buf, None), Ok(0));
    // Two attached devices cannot share a path.
    let err = vfs
        .mount_device("/dev/pyworkers", Box::new(Reverser { reply: Vec::new() }))
        .unwrap_err();
    assert!(matches!(err, MountError::Occupied { .. }), "{err}");
}

#[test]
fn output_sink_gets_each_write() {
    let seen = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let mut vfs = Vfs::new();
    let sink = seen.clone();
    vfs.stdout = Output::Sink(Box::new(move |b: &[u8]| {
        sink.lock().unwrap().push(b.to_vec())
    }));
    let sink = seen.clone();
    vfs.stderr = Output::Sink(Box::new(move |b: &[u8]| {
        sink.lock().unwrap().push([b"err:", b].concat())
    }));
    assert_eq!(vfs.write(1, b"line one\npart", None), Ok(13));
    assert_eq!(vfs.write(2, b"oops\n", None), Ok(5));
    assert_eq!(
        *seen.lock().unwrap(),
        [b"line one\npart".to_vec(), b"err:oops\n".to_vec()]
    );
}
