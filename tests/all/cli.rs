//! End to end through the binary: `pyworkers run` behaves like `python`.

use crate::support::{pyworkers, run_code};

#[test]
fn prints_arithmetic() {
    let (status, out, err) = run_code("print(1+1)");
    assert_eq!((status, out.as_str()), (0, "2\n"), "stderr: {err}");
}

#[test]
fn stdlib_smoke() {
    let code = r#"
import json, re, datetime, decimal, hashlib, zlib, base64, collections, dataclasses, asyncio, unicodedata, csv, io
import email.message, email.parser
assert json.loads(json.dumps({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
assert re.sub(r"(\d+)", r"<\1>", "a1b22") == "a<1>b<22>"
assert datetime.date(2024, 2, 28) + datetime.timedelta(days=2) == datetime.date(2024, 3, 1)
assert datetime.datetime.fromtimestamp(0, datetime.timezone.utc).year == 1970
assert decimal.Decimal("0.1") + decimal.Decimal("0.2") == decimal.Decimal("0.3")
assert hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
assert zlib.decompress(zlib.compress(b"x" * 1000)) == b"x" * 1000
assert base64.b64decode(base64.b64encode(b"\x00\xff")) == b"\x00\xff"
assert collections.Counter("abca").most_common(1) == [("a", 2)]
@dataclasses.dataclass
class P:
    x: int
    y: int = 2
assert P(1) == P(1, 2)
async def main():
    await asyncio.sleep(0.01)
    r = await asyncio.gather(*(asyncio.sleep(0, result=i) for i in range(3)))
    return sum(r)
assert asyncio.run(main()) == 3
assert unicodedata.name("é") == "LATIN SMALL LETTER E WITH ACUTE"
rows = list(csv.reader(io.StringIO('a,"b,c"\n1,2\n')))
assert rows == [["a", "b,c"], ["1", "2"]]
m = email.message.EmailMessage(); m["Subject"] = "hi"; m.set_content("body")
assert email.parser.Parser().parsestr(m.as_string())["Subject"] == "hi"
print("ok")
"#;
    let (status, out, err) = run_code(code);
    assert_eq!((status, out.trim()), (0, "ok"), "stderr: {err}");
}

#[test]
fn tmp_is_writable_and_readable() {
    let code = r#"
import os
with open("/tmp/x.txt", "w") as f: f.write("hello " * 1000)
os.makedirs("/tmp/a/b", exist_ok=True)
os.rename("/tmp/x.txt", "/tmp/a/b/y.txt")
print(len(open("/tmp/a/b/y.txt").read()), sorted(os.listdir("/tmp/a/b")))
os.remove("/tmp/a/b/y.txt")
print(os.path.exists("/tmp/a/b/y.txt"))
"#;
    let (status, out, err) = run_code(code);
    assert_eq!(status, 0, "stderr: {err}");
    assert_eq!(out, "6000 ['y.txt']\nFalse\n");
}

#[test]
fn reads_a_mounted_tar() {
    let dir = tempfile::tempdir().unwrap();
    let tar_path = dir.path().join("data.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    let mut header = tar::Header::new_gnu();
    let body = b"mounted data\n";
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "sub/file.txt", &body[..])
        .unwrap();
    builder.finish().unwrap();
    drop(builder);
    let spec = format!("{}:/data", tar_path.display());
    let out = pyworkers(
        &["run", "--mount", &spec, "-c", "import os; print(open('/data/sub/file.txt').read(), end=''); print(os.listdir('/data'))"],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mounted data\n['sub']\n"
    );
    // Mounts are read-only.
    let out = pyworkers(
        &[
            "run",
            "--mount",
            &spec,
            "-c",
            "open('/data/sub/file.txt', 'w')",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OSError: [Errno 69]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn script_gets_argv_and_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("prog.py");
    std::fs::write(
        &script,
        "import sys\nprint(sys.argv)\nsys.exit(int(sys.argv[1]))\n",
    )
    .unwrap();
    let out = pyworkers(&["run", script.to_str().unwrap(), "3", "--flag"], b"");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "['/app/prog.py', '3', '--flag']\n"
    );
}

#[test]
fn sys_exit_code() {
    let (status, _, _) = run_code("import sys; sys.exit(3)");
    assert_eq!(status, 3);
    let (status, _, err) = run_code("raise SystemExit('bye')");
    assert_eq!((status, err.trim()), (1, "bye"));
}

#[test]
fn uncaught_exception_prints_traceback() {
    let (status, out, err) =
        run_code("print('before')\ndef f():\n    raise ValueError('boom')\nf()");
    assert_eq!(status, 1);
    assert_eq!(out, "before\n");
    assert!(
        err.starts_with("Traceback (most recent call last):"),
        "{err}"
    );
    assert!(err.contains("ValueError: boom"), "{err}");
    assert!(err.contains("line 3, in f"), "{err}");
    assert!(
        !err.contains("_pyworkers"),
        "runtime frames leak into the traceback: {err}"
    );
}

#[test]
fn host_files_are_not_reachable() {
    let code = r#"
import os
for path in ["/etc/passwd", "../../x", "/proc/self/environ", "/lib/../../etc/hostname", os.path.expanduser("~/../../etc/passwd")]:
    try:
        open(path).read()
        print("OPENED", path)
    except OSError as e:
        print(type(e).__name__)
print(sorted(os.listdir("/")))
"#;
    let (status, out, err) = run_code(code);
    assert_eq!(status, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..5], ["FileNotFoundError"; 5], "{out}");
    assert_eq!(lines[5], "['home', 'lib', 'tmp']");
}

#[test]
fn missing_capabilities_fail_cleanly() {
    let code = r#"
import socket
try:
    socket.socket()
    print("socket OK?")
except OSError as e:
    print("OSError", e.errno)
try:
    import js
except ImportError:
    print("no js")
"#;
    let (status, out, err) = run_code(code);
    assert_eq!(status, 0, "stderr: {err}");
    assert_eq!(out, "OSError 52\nno js\n");
}

#[test]
fn stdin_is_wired() {
    let out = pyworkers(
        &[
            "run",
            "-c",
            "import sys; print(sys.stdin.read().upper(), end='')",
        ],
        b"piped input\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED INPUT\n");
}

#[test]
fn bad_usage_is_a_clear_error() {
    let out = pyworkers(&["run"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to run"));
    let out = pyworkers(&["run", "/definitely/not/here.py"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("can't open file"));
}

#[test]
fn mounted_directory_is_read_only_and_confined() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir_all(root.join("static")).unwrap();
    std::fs::write(root.join("static/index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "host secret").unwrap();
    std::os::unix::fs::symlink("../../secret.txt", root.join("static/escape")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).unwrap();
    std::os::unix::fs::symlink("static/index.html", root.join("inside")).unwrap();
    let spec = format!("{}:/site", root.display());
    let code = r#"
import os
print(open('/site/static/index.html').read(), open('/site/inside').read())
for p in ['/site/static/escape', '/site/abs', '/site/../secret.txt']:
    try:
        print(open(p).read())
    except OSError as e:
        print(type(e).__name__)
try:
    open('/site/new.txt', 'w')
except OSError as e:
    print(e.errno)
"#;
    let out = pyworkers(&["run", "--mount", &spec, "-c", code], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "<h1>hi</h1> <h1>hi</h1>\nPermissionError\nPermissionError\nFileNotFoundError\n69\n"
    );
    assert!(!stdout.contains("host secret"));
}

#[test]
fn dotdot_after_a_symlink_follows_the_link() {
    let code = r#"
import os
os.symlink('/lib/pyworkers', '/tmp/l')
print(sorted(os.listdir('/tmp/l/..')) == sorted(os.listdir('/lib')), os.path.realpath('/tmp/l/..'))
os.chdir('/tmp/l')
print(os.getcwd())
"#;
    let (status, out, err) = run_code(code);
    assert_eq!(status, 0, "stderr: {err}");
    assert_eq!(out, "True /lib\n/lib/pyworkers\n");
}

#[test]
fn rename_errors_reach_the_guest() {
    let code = r#"
import os
os.makedirs('/tmp/d/sub'); os.makedirs('/tmp/full/x'); open('/tmp/f', 'w').close()
import errno
for a, b in [('/tmp/d', '/tmp/f'), ('/tmp/f', '/tmp/full'), ('/tmp/d', '/tmp/full'), ('/tmp/d', '/tmp/d/sub/in')]:
    try:
        os.rename(a, b)
    except OSError as e:
        print(errno.errorcode[e.errno])
print(sorted(os.listdir('/tmp')), os.listdir('/tmp/d'))
"#;
    let (status, out, err) = run_code(code);
    assert_eq!(status, 0, "stderr: {err}");
    assert_eq!(
        out,
        "ENOTDIR\nEISDIR\nENOTEMPTY\nEINVAL\n['d', 'f', 'full'] ['sub']\n"
    );
}

#[test]
fn mounting_over_the_runtime_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{}:/lib/python3.14", dir.path().display());
    let out = pyworkers(&["run", "--mount", &spec, "-c", "print(1)"], b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot mount at /lib/python3.14") && err.contains("runtime"),
        "{err}"
    );
}
