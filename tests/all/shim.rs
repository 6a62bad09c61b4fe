//! The Pyodide component's Emscripten shim (`guest-adapters/emscripten-shim`): the shared ABI and VFS compiled to
//! a core wasm module that reaches another instance's memory through a multi-memory bridge. One scenario of
//! imports runs twice — through the shim in wasmtime and natively over the same crate's functions — and the two
//! transcripts (every answer, every byte read back) must be identical, besides the absolute answers POSIX
//! requires.

use pyworkers::emscripten::{Context, SliceMemory};
use pyworkers::vfs::{Errno, Fs, MemFs, Vfs};
use std::collections::HashMap;
use wasmtime::{Engine, Instance, Linker, Memory, MemoryType, Module, Store, Val, ValType};
use wasmtime_wasi::p1::WasiP1Ctx;

const PAGE: u64 = 65536;
const AT_FDCWD: i64 = -100;
const O_RDONLY: i64 = 0;
const O_RDWR: i64 = 0o2;
const O_CREAT: i64 = 0o100;
const O_DIRECTORY: i64 = 0o200000;

fn errno(e: Errno) -> i64 {
    i64::from(e.0)
}

/// One way of reaching the ABI: call an import by `MODULE.NAME`, and reach the guest's memory.
trait Abi {
    fn call(&mut self, name: &str, args: &[i64]) -> i64;
    fn write(&mut self, ptr: u64, bytes: &[u8]);
    fn read(&mut self, ptr: u64, len: usize) -> Vec<u8>;
    fn size(&mut self) -> u64;
    fn grow(&mut self, pages: u64);
}

// ---- through the shim ----------------------------------------------------------------------------------------

struct Shim {
    store: Store<WasiP1Ctx>,
    instance: Instance,
    guest: Memory,
}

/// The shim's own memory (its declared minimum, growable), the bridge over it and `guest` (the component's own,
/// `pyworkers::component::bridge_module`) and an archives module carrying nothing: what the component instantiates before
/// the shim, so nothing is circular. Returns the shim's memory, the bridge and the archives instance.
fn memory_and_bridge<T: 'static>(
    store: &mut Store<T>,
    shim: &Module,
    guest: Memory,
) -> wasmtime::Result<(Memory, Instance, Instance)> {
    let engine = store.engine().clone();
    let own = shim
        .imports()
        .find(|i| (i.module(), i.name()) == ("env", "memory"))
        .and_then(|i| i.ty().memory().cloned())
        .expect("the shim imports its memory as env.memory");
    let local = Memory::new(&mut *store, MemoryType::new(own.minimum() as u32, None))?;
    let io = Memory::new(&mut *store, MemoryType::new(1, None))?;
    let bridge = Module::new(&engine, pyworkers::component::bridge_module())?;
    let bridge = Instance::new(&mut *store, &bridge, &[guest.into(), local.into(), io.into()])?;
    let archives = Module::new(&engine, pyworkers::component::archives_module(&[]))?;
    let archives = Instance::new(&mut *store, &archives, &[local.into()])?;
    Ok((local, bridge, archives))
}

impl Shim {
    /// State (two memories), bridge, shim: instantiated in that order, so nothing is circular.
    fn new(guest_pages: u64) -> Shim {
        let engine = Engine::default();
        let module = Module::new(&engine, crate::support::shim()).unwrap();
        let mut store = Store::new(&engine, wasmtime_wasi::WasiCtxBuilder::new().build_p1());
        let guest = Memory::new(&mut store, MemoryType::new(guest_pages as u32, None)).unwrap();
        let (local, bridge, archives) = memory_and_bridge(&mut store, &module, guest).unwrap();
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |t| t).unwrap();
        linker.define(&store, "env", "memory", local).unwrap();
        linker.instance(&mut store, "bridge", bridge).unwrap();
        linker.instance(&mut store, "pyodide", bridge).unwrap();
        linker.instance(&mut store, "archives", archives).unwrap();
        // The loader's randomness (`shim_run` only; the scenario never boots): nothing to draw here.
        linker.func_wrap("entropy", "fill", |_: i32, _: i32| -> wasmtime::Result<i32> { wasmtime::bail!("entropy.fill") }).unwrap();
        linker.func_wrap("entropy", "reseed", || {}).unwrap();
        let instance = linker.instantiate(&mut store, &module).unwrap();
        Shim { store, instance, guest }
    }
}

impl Abi for Shim {
    fn call(&mut self, name: &str, args: &[i64]) -> i64 {
        let f = self.instance.get_func(&mut self.store, name).unwrap_or_else(|| panic!("the shim does not export {name}"));
        let ty = f.ty(&self.store);
        assert_eq!(ty.params().len(), args.len(), "{name}: arity");
        let params: Vec<Val> = ty
            .params()
            .zip(args)
            .map(|(t, &a)| match t {
                ValType::I32 => Val::I32(a as i32),
                ValType::I64 => Val::I64(a),
                other => panic!("{name}: parameter type {other:?}"),
            })
            .collect();
        let mut results = vec![Val::I32(0); ty.results().len()];
        f.call(&mut self.store, &params, &mut results).unwrap_or_else(|e| panic!("{name} trapped: {e:?}"));
        match results.first() {
            Some(Val::I32(v)) => i64::from(*v),
            Some(Val::I64(v)) => *v,
            Some(Val::F64(bits)) => *bits as i64,
            None => 0,
            Some(other) => panic!("{name}: result {other:?}"),
        }
    }
    fn write(&mut self, ptr: u64, bytes: &[u8]) {
        self.guest.write(&mut self.store, ptr as usize, bytes).unwrap();
    }
    fn read(&mut self, ptr: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.guest.read(&self.store, ptr as usize, &mut out).unwrap();
        out
    }
    fn size(&mut self) -> u64 {
        self.guest.data_size(&self.store) as u64
    }
    fn grow(&mut self, pages: u64) {
        self.guest.grow(&mut self.store, pages).unwrap();
    }
}

// ---- natively, over the same functions -----------------------------------------------------------------------

type NativeFn = fn(&mut SliceMemory<'_>, &mut Context, &[i64]) -> i64;

/// What an import returns, widened for the transcript.
trait Answer {
    fn widen(self) -> i64;
}
impl Answer for i32 {
    fn widen(self) -> i64 {
        i64::from(self)
    }
}
impl Answer for i64 {
    fn widen(self) -> i64 {
        self
    }
}
impl Answer for f64 {
    fn widen(self) -> i64 {
        self.to_bits() as i64
    }
}
impl Answer for () {
    fn widen(self) -> i64 {
        0
    }
}

/// The test's binder for the shared tables: `MODULE.NAME` → a function over a native memory and context.
macro_rules! native {
    (
        $map:ident, $module:literal, -> $ret:ty, no_memory: $no_memory:expr;
        $( $name:literal => $f:path [ $( $arg:ident : $ty:ty ),* $(,)? ] ; )*
    ) => {
        $(
            $map.insert(
                concat!($module, ".", $name),
                (|m: &mut SliceMemory<'_>, cx: &mut Context, args: &[i64]| -> i64 {
                    let mut args = args.iter().copied();
                    $( let $arg = args.next().expect(concat!($name, ": too few arguments")) as $ty; )*
                    assert!(args.next().is_none(), concat!($name, ": too many arguments"));
                    Answer::widen($f(m, cx, $( $arg ),*))
                }) as NativeFn,
            );
        )*
    };
}

struct Native {
    memory: Vec<u8>,
    cx: Option<Context>,
    imports: HashMap<&'static str, NativeFn>,
}

impl Native {
    fn new(guest_pages: u64) -> Native {
        let mut imports = HashMap::new();
        pyworkers_emscripten::all_imports!(native! { imports, });
        Native { memory: vec![0; (guest_pages * PAGE) as usize], cx: None, imports }
    }
}

impl Abi for Native {
    fn call(&mut self, name: &str, args: &[i64]) -> i64 {
        if name == "shim_init" {
            // The shim's initial file system, built the same way.
            let mut vfs = Vfs::new();
            vfs.mount("/tmp", Fs::Mem(MemFs::new(args[0] as usize)), true).unwrap();
            self.cx = Some(Context::new(vfs));
            return 0;
        }
        let f = self.imports.get(name).unwrap_or_else(|| panic!("no table entry {name}"));
        f(&mut SliceMemory::new(&mut self.memory), self.cx.as_mut().expect("initialised"), args)
    }
    fn write(&mut self, ptr: u64, bytes: &[u8]) {
        self.memory[ptr as usize..ptr as usize + bytes.len()].copy_from_slice(bytes);
    }
    fn read(&mut self, ptr: u64, len: usize) -> Vec<u8> {
        self.memory[ptr as usize..ptr as usize + len].to_vec()
    }
    fn size(&mut self) -> u64 {
        self.memory.len() as u64
    }
    fn grow(&mut self, pages: u64) {
        self.memory.resize(self.memory.len() + (pages * PAGE) as usize, 0);
    }
}

// ---- the scenario --------------------------------------------------------------------------------------------

/// Records every answer and every byte read back, and checks what POSIX fixes.
struct Run<'a> {
    abi: &'a mut dyn Abi,
    transcript: Vec<String>,
}

impl Run<'_> {
    fn call(&mut self, name: &str, args: &[i64]) -> i64 {
        let answer = self.abi.call(name, args);
        self.transcript.push(format!("{name}{args:?} = {answer}"));
        answer
    }
    fn cstr(&mut self, ptr: u64, s: &str) -> i64 {
        self.abi.write(ptr, s.as_bytes());
        self.abi.write(ptr + s.len() as u64, &[0]);
        ptr as i64
    }
    fn read(&mut self, ptr: u64, len: usize) -> Vec<u8> {
        let bytes = self.abi.read(ptr, len);
        self.transcript.push(format!("read {ptr}+{len} = {bytes:?}"));
        bytes
    }
    fn u32_at(&mut self, ptr: u64) -> u32 {
        u32::from_le_bytes(self.read(ptr, 4).try_into().unwrap())
    }
    fn iovec(&mut self, at: u64, buffers: &[(u64, u32)]) -> i64 {
        for (i, &(ptr, len)) in buffers.iter().enumerate() {
            let mut iov = (ptr as u32).to_le_bytes().to_vec();
            iov.extend_from_slice(&len.to_le_bytes());
            self.abi.write(at + 8 * i as u64, &iov);
        }
        at as i64
    }
}

fn scenario(abi: &mut dyn Abi) -> Vec<String> {
    let mut r = Run { abi, transcript: Vec::new() };
    let neg = |e: Errno| -errno(e);
    assert_eq!(r.call("shim_init", &[1 << 20]), 0);

    // Directories, the working directory, and getcwd's two error answers.
    let dir = r.cstr(1024, "/tmp/dir");
    assert_eq!(r.call("env.__syscall_mkdirat", &[AT_FDCWD, dir, 0o755]), 0);
    assert_eq!(r.call("env.__syscall_mkdirat", &[AT_FDCWD, dir, 0o755]), neg(Errno::EXIST));
    assert_eq!(r.call("env.__syscall_chdir", &[dir]), 0);
    assert_eq!(r.call("env.__syscall_getcwd", &[2048, 64]), 9);
    assert_eq!(r.read(2048, 9), b"/tmp/dir\0");
    assert_eq!(r.call("env.__syscall_getcwd", &[2048, 4]), neg(Errno::RANGE));

    // A file created relative to the cwd, written from two iovecs (70,000 bytes: many bridge pages), read back.
    let name = r.cstr(1100, "f.txt");
    r.abi.write(1200, &0o644u32.to_le_bytes());
    let fd = r.call("env.__syscall_openat", &[AT_FDCWD, name, O_CREAT | O_RDWR, 1200]);
    assert!(fd >= 3, "openat: {fd}");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    r.abi.write(10_000, &data);
    let iov = r.iovec(3000, &[(10_000, 40_000), (50_000, 30_000)]);
    assert_eq!(r.call("wasi_snapshot_preview1.fd_write", &[fd, iov, 2, 3100]), 0);
    assert_eq!(r.u32_at(3100), 70_000);
    assert_eq!(r.call("wasi_snapshot_preview1.fd_seek", &[fd, 0, 0, 3200]), 0);
    assert_eq!(r.read(3200, 8), [0; 8]);

    // A read into a buffer that runs off the end of memory is refused before any I/O: nothing consumed.
    let end = r.abi.size();
    let bad = r.iovec(3300, &[(end - 10, 100)]);
    assert_eq!(r.call("wasi_snapshot_preview1.fd_read", &[fd, bad, 1, 3400]), errno(Errno::FAULT));
    let good = r.iovec(3300, &[(100_000, 70_000)]);
    assert_eq!(r.call("wasi_snapshot_preview1.fd_read", &[fd, good, 1, 3400]), 0);
    assert_eq!(r.u32_at(3400), 70_000);
    assert!(r.abi.read(100_000, 70_000) == data, "the bytes read back differ from those written");

    // Bad pointers are EFAULT, never a trap; a string with no NUL before the end of memory is refused too.
    assert_eq!(r.call("env.__syscall_mkdirat", &[AT_FDCWD, end as i64 + 10, 0o755]), neg(Errno::FAULT));
    r.abi.write(end - 3, b"abc");
    assert!(r.call("env.__syscall_mkdirat", &[AT_FDCWD, end as i64 - 3, 0o755]) < 0);
    assert_eq!(r.call("env.__syscall_getcwd", &[end as i64 - 2, 64]), neg(Errno::FAULT));

    // The memory grows under the shim: a path on the new page is reachable at once.
    r.abi.grow(1);
    let grown = r.cstr(end, "/tmp/grown");
    assert_eq!(r.call("env.__syscall_mkdirat", &[AT_FDCWD, grown, 0o700]), 0);

    // Directory listing, close, unlink, access.
    let dirfd = r.call("env.__syscall_openat", &[AT_FDCWD, dir, O_RDONLY | O_DIRECTORY, 0]);
    assert!(dirfd > fd, "openat(dir): {dirfd}");
    let n = r.call("env.__syscall_getdents64", &[dirfd, 5000, 4096]);
    assert!(n > 0, "getdents64: {n}");
    let listing = r.read(5000, n as usize);
    assert!(listing.windows(6).any(|w| w == b"f.txt\0"), "f.txt not listed");
    assert_eq!(r.call("wasi_snapshot_preview1.fd_close", &[fd]), 0);
    assert_eq!(r.call("wasi_snapshot_preview1.fd_close", &[fd]), errno(Errno::BADF));
    assert_eq!(r.call("env.__syscall_unlinkat", &[AT_FDCWD, name, 0]), 0);
    assert_eq!(r.call("env.__syscall_faccessat", &[AT_FDCWD, name, 0, 0]), neg(Errno::NOENT));

    // The environment (empty), calendar conversion, clocks and randomness (their values differ run to run).
    assert_eq!(r.call("wasi_snapshot_preview1.environ_sizes_get", &[6200, 6204]), 0);
    r.read(6200, 8);
    r.call("env._localtime_js", &[86_400 * 365, 7000]);
    r.read(7000, 36);
    assert_eq!(r.call("wasi_snapshot_preview1.clock_time_get", &[0, 1, 6100]), 0);
    let now = u64::from_le_bytes(r.abi.read(6100, 8).try_into().unwrap());
    assert!(now > 1_700_000_000 * 1_000_000_000, "realtime clock: {now}");
    assert_eq!(r.call("wasi_snapshot_preview1.random_get", &[6400, 32]), 0);
    assert_ne!(r.abi.read(6400, 32), [0; 32]);
    r.transcript
}

#[test]
fn the_shim_answers_through_the_bridge_exactly_as_the_host_does() {
    let shim = scenario(&mut Shim::new(3));
    let native = scenario(&mut Native::new(3));
    assert!(shim.len() >= 30, "{shim:#?}");
    for (i, (s, n)) in shim.iter().zip(&native).enumerate() {
        assert_eq!(s, n, "step {i}: the shim and the host disagree");
    }
    assert_eq!(shim.len(), native.len());
}

#[test]
fn the_shim_exports_every_table_entry_and_answers_efault_before_init() {
    let mut shim = Shim::new(1);
    let mut names = Vec::new();
    macro_rules! names {
        ($names:ident, $module:literal, -> $ret:ty, no_memory: $no_memory:expr;
         $( $name:literal => $f:path [ $( $arg:ident : $ty:ty ),* $(,)? ] ; )*) => {
            $( $names.push(concat!($module, ".", $name)); )*
        };
    }
    pyworkers_emscripten::all_imports!(names! { names, });
    assert!(names.len() > 50, "{names:?}");
    for name in &names {
        assert!(shim.instance.get_func(&mut shim.store, name).is_some(), "the shim does not export {name}");
    }
    // Before `shim_init` there is no context: each family's fallback answer, not a trap.
    assert_eq!(shim.call("env.__syscall_getcwd", &[0, 64]), -errno(Errno::FAULT));
    assert_eq!(shim.call("wasi_snapshot_preview1.fd_close", &[0]), errno(Errno::FAULT));
    assert_eq!(shim.call("env._mktime_js", &[0]), -1);
    assert_eq!(shim.call("env.emscripten_get_now", &[]), 0.0f64.to_bits() as i64);
    shim.call("shim_init", &[4096]);
    let (a, b) = (shim.call("env.emscripten_get_now", &[]), shim.call("env.emscripten_get_now", &[]));
    assert!(f64::from_bits(a as u64) <= f64::from_bits(b as u64), "the monotonic clock went back");
    assert!(f64::from_bits(shim.call("env.emscripten_date_now", &[]) as u64) > 1.7e12, "Date.now() before 2023");
}

// ---- Pyodide's real CPython over the shim ----------------------------------------------------------------------

/// What the shim's own `std` wrote to its fds 1 and 2 (its WASI preview 1 imports, answered below).
type Printed = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// The shim's own WASI preview 1 imports, over its memory `local`: what a component gets from the preview 1
/// adapter. `fd_write` to fds 1 and 2 lands in `printed`.
fn shim_wasi(
    store: &mut Store<pyworkers::interpreter::Host>,
    name: &str,
    local: Memory,
    printed: Printed,
) -> wasmtime::Func {
    use pyworkers::interpreter::Host;
    use wasmtime::{Caller, Func};
    const EBADF: i32 = 8;
    let put = move |caller: &mut Caller<'_, Host>, ptr: i32, bytes: &[u8]| {
        local.write(caller, ptr as u32 as usize, bytes).map_err(wasmtime::Error::from)
    };
    let start = std::time::Instant::now();
    match name {
        "random_get" => Func::wrap(store, move |mut c: Caller<'_, Host>, buf: i32, len: i32| {
            // The shim's `HashMap` seeds and the guest's `os.urandom`: any bytes do for this test.
            let bytes: Vec<u8> = (0..len as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
            put(&mut c, buf, &bytes).map(|()| 0)
        }),
        "environ_get" => Func::wrap(store, |_: i32, _: i32| 0),
        "environ_sizes_get" => Func::wrap(store, move |mut c: Caller<'_, Host>, count: i32, size: i32| {
            put(&mut c, count, &[0; 4])?;
            put(&mut c, size, &[0; 4]).map(|()| 0)
        }),
        "clock_time_get" => Func::wrap(store, move |mut c: Caller<'_, Host>, id: i32, _: i64, out: i32| {
            let ns = match id {
                0 => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
                _ => start.elapsed().as_nanos() as u64,
            };
            put(&mut c, out, &ns.to_le_bytes()).map(|()| 0)
        }),
        "fd_fdstat_get" => Func::wrap(store, |_: i32, _: i32| EBADF),
        "fd_read" => Func::wrap(store, move |mut c: Caller<'_, Host>, _: i32, _: i32, _: i32, nread: i32| {
            put(&mut c, nread, &[0; 4]).map(|()| 0)
        }),
        "fd_write" => Func::wrap(store, move |mut c: Caller<'_, Host>, fd: i32, iovs: i32, n: i32, nwritten: i32| {
            if fd != 1 && fd != 2 {
                return Ok(EBADF);
            }
            let mem = local.data(&c);
            let word = |at: usize| u32::from_le_bytes(mem[at..at + 4].try_into().unwrap()) as usize;
            let mut total = 0u32;
            for i in 0..n as usize {
                let iov = iovs as u32 as usize + 8 * i;
                let (ptr, len) = (word(iov), word(iov + 4));
                printed.lock().unwrap().extend_from_slice(&mem[ptr..ptr + len]);
                total += len as u32;
            }
            put(&mut c, nwritten, &total.to_le_bytes()).map(|()| 0)
        }),
        "proc_exit" => Func::wrap(store, |code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::format_err!("the shim exited with status {code}"))
        }),
        other => panic!("the shim imports wasi_snapshot_preview1.{other}, which this test does not answer"),
    }
}

/// The component's core instances, made in its order by the host's [`Overrides`] hook: the bridge and the shim over
/// the state's memory (the archives copied in and the standard layout mounted, the loader's job done by hand), and
/// optionally the generated fallbacks beside them and the fix-up after the code.
struct ComponentParts {
    shim: Module,
    bridge: Option<Instance>,
    archives: [Vec<u8>; 3],
    printed: Printed,
    /// The fallbacks and the fix-up, compiled; `None` leaves the rest to the native host.
    generated: Option<(Module, Module)>,
    fallbacks: Option<Instance>,
    /// How many imports the shim and the fallbacks answered.
    answered: (usize, usize),
    /// Every (module, name) they answered.
    answered_names: std::collections::HashSet<(String, String)>,
    code_imports: Vec<(String, String)>,
}

impl ComponentParts {
    fn new(pyodide: &pyworkers::interpreter::Pyodide, with_fallbacks: bool) -> ComponentParts {
        let shim = Module::new(pyodide.engine(), crate::support::shim()).unwrap();
        let runtime = pyodide.runtime();
        let zip = std::fs::read(runtime.stdlib_zip_path()).unwrap();
        let bytecode = runtime.ensure_stdlib_bytecode(|| pyworkers::stdlib::build(pyodide)).unwrap();
        let bytecode = std::fs::read(bytecode).unwrap();
        let code = pyodide.code_wasm().unwrap();
        let code_imports = pyworkers::component::func_imports(&code)
            .unwrap()
            .into_iter()
            .map(|i| (i.module, i.name))
            .collect();
        let generated = with_fallbacks.then(|| {
            let parts = pyworkers::component::generate(&code, crate::support::shim()).unwrap();
            (
                Module::new(pyodide.engine(), &parts.fallbacks).unwrap(),
                Module::new(pyodide.engine(), &parts.fixup).unwrap(),
            )
        });
        ComponentParts {
            shim,
            bridge: None,
            archives: [zip, bytecode, pyworkers::PYWORKERS_LIB_TAR.to_vec()],
            printed: Printed::default(),
            generated,
            fallbacks: None,
            answered: (0, 0),
            answered_names: Default::default(),
            code_imports,
        }
    }

    fn printed(&self) -> String {
        String::from_utf8_lossy(&self.printed.lock().unwrap()).into_owned()
    }
}

/// The exports of `instance` named `MODULE.NAME`, as import answers.
fn named_exports(store: &mut Store<pyworkers::interpreter::Host>, instance: &Instance) -> Vec<((String, String), wasmtime::Extern)> {
    instance
        .exports(&mut *store)
        .filter_map(|e| {
            let (module, name) = e.name().split_once('.')?;
            Some(((module.to_string(), name.to_string()), e.into_extern()))
        })
        .collect()
}

impl pyworkers::interpreter::Overrides for ComponentParts {
    fn imports(
        &mut self,
        store: &mut Store<pyworkers::interpreter::Host>,
        state: &Instance,
    ) -> anyhow::Result<Vec<((String, String), wasmtime::Extern)>> {
        let guest = state.get_memory(&mut *store, "memory").expect("the state exports Pyodide's memory");
        let (local, bridge, archives) = memory_and_bridge(store, &self.shim, guest)?;
        self.bridge = Some(bridge);
        let mut imports = Vec::new();
        for import in self.shim.imports() {
            imports.push(match import.module() {
                "env" => local.into(),
                "bridge" | "pyodide" => bridge.get_export(&mut *store, import.name()).unwrap(),
                "archives" => archives.get_export(&mut *store, import.name()).unwrap(),
                // Only `shim_run` draws through these, and this test mounts and boots by hand.
                "entropy" => match import.name() {
                    "fill" => wasmtime::Func::wrap(&mut *store, |_: i32, _: i32| -> wasmtime::Result<i32> { wasmtime::bail!("entropy.fill") }).into(),
                    _ => wasmtime::Func::wrap(&mut *store, || {}).into(),
                },
                "wasi_snapshot_preview1" => shim_wasi(store, import.name(), local, self.printed.clone()).into(),
                m => panic!("unexpected shim import module {m}"),
            });
        }
        let instance = Instance::new(&mut *store, &self.shim, &imports)?;
        // The loader's job, done by hand: copy each archive into the shim and mount the standard layout.
        let mut args = Vec::new();
        for bytes in &self.archives {
            let alloc = instance.get_typed_func::<i32, i32>(&mut *store, "shim_alloc")?;
            let ptr = alloc.call(&mut *store, bytes.len() as i32)?;
            local.write(&mut *store, ptr as u32 as usize, bytes)?;
            args.extend([ptr, bytes.len() as i32]);
        }
        let load = instance
            .get_typed_func::<(i32, i32, i32, i32, i32, i32), i32>(&mut *store, "shim_load_standard")?;
        assert_eq!(load.call(&mut *store, (args[0], args[1], args[2], args[3], args[4], args[5]))?, 0, "shim_load_standard");
        let mut answers = named_exports(store, &instance);
        self.answered.0 = answers.len();
        if let Some((fallbacks, _)) = &self.generated {
            let proc_exit = shim_wasi(store, "proc_exit", local, self.printed.clone());
            let fallbacks = Instance::new(&mut *store, fallbacks, &[proc_exit.into()])?;
            let more = named_exports(store, &fallbacks);
            self.answered.1 = more.len();
            answers.extend(more);
            self.fallbacks = Some(fallbacks);
        }
        self.answered_names = answers.iter().map(|(key, _)| key.clone()).collect();
        Ok(answers)
    }

    fn linked(&mut self, store: &mut Store<pyworkers::interpreter::Host>, code: &Instance) -> anyhow::Result<()> {
        let (Some((_, fixup)), Some(fallbacks), Some(bridge)) = (&self.generated, self.fallbacks, self.bridge) else {
            return Ok(());
        };
        let trampoline = Module::new(store.engine(), pyworkers::emscripten::trampoline::WAT)?;
        let over = [code.get_export(&mut *store, "memory").unwrap(), code.get_export(&mut *store, "__indirect_function_table").unwrap()];
        let trampoline = Instance::new(&mut *store, &trampoline, &over)?;
        let imports: Vec<wasmtime::Extern> = fixup
            .imports()
            .map(|i| match i.module() {
                "fallbacks" => fallbacks.get_export(&mut *store, i.name()),
                "bridge" => bridge.get_export(&mut *store, i.name()),
                "trampoline" => trampoline.get_export(&mut *store, i.name()),
                "code" => code.get_export(&mut *store, i.name()),
                m => panic!("the fix-up imports from {m}"),
            }
            .unwrap_or_else(|| panic!("nothing exports {}.{}", i.module(), i.name())))
            .collect();
        Instance::new(&mut *store, fixup, &imports)?;
        Ok(())
    }
}

/// Boot Pyodide over `parts` with the native side given an empty file system and no room to grow the heap: nothing
/// CPython reads, and none of the memory it grows into, can come from it.
fn boot_over(pyodide: &pyworkers::interpreter::Pyodide, parts: &mut ComponentParts) -> pyworkers::interpreter::Interpreter {
    use pyworkers::emscripten::EmContext;
    use pyworkers::interpreter::{BootOptions, Interpreter};
    let mut em = EmContext::new(pyworkers::vfs::Vfs::new());
    em.heap_max = 0;
    Interpreter::boot_with(pyodide, em, &BootOptions::default(), Some(&mut *parts))
        .unwrap_or_else(|e| panic!("boot over the shim: {e:#}\nthe shim printed:\n{}", parts.printed()))
}

/// Pyodide's unmodified code module, instantiated in the component's order — its state, then the bridge and the
/// shim over the state's memory, then the code with every import of the shared tables (`__syscall_*`, the WASI fd
/// calls, clocks, `environ_*`, ...) taken from the shim's exports — boots CPython from the stdlib the shim mounted
/// and runs Python that imports modules, writes and reads a file and prints. The native side's file system is
/// empty, so every file CPython opens was opened by the shim, through the bridge; heap growth goes through the
/// shim too. What the native host still answers here: the imports that call back into Pyodide (the trampoline,
/// `dlopen`, signal handlers) and the JavaScript bridge's, which fail cleanly.
#[test]
fn pyodide_boots_and_runs_python_with_its_abi_answered_by_the_shim() {
    use pyworkers::interpreter::Outcome;
    let pyodide = crate::support::pyodide();
    let mut parts = ComponentParts::new(pyodide, false);
    let mut interp = boot_over(pyodide, &mut parts);
    assert!(parts.answered.0 >= 50, "the shim answered only {} imports", parts.answered.0);
    let before = interp.memory().unwrap().data_size(interp.store_mut());
    // 96 MiB more than any boot holds: Python's allocator must grow the heap, through the shim and the bridge.
    let code = "import json, re, datetime, os\n\
                big = bytearray(96 << 20); big[-1] = 7\n\
                open('/tmp/probe.txt', 'w').write('written through the shim')\n\
                print(json.dumps({'read': open('/tmp/probe.txt').read(), 'cwd': os.getcwd(), \
                'listing': sorted(os.listdir('/tmp')), 'match': re.sub(r'\\d+', '#', 'a1b22'), \
                'year': datetime.date(2026, 12, 4).year, 'big': big[-1]}, sort_keys=True))\n\
                import sys; sys.stdout.flush()";
    let outcome = interp.run_source(code).unwrap();
    let printed = parts.printed();
    assert_eq!(outcome, Outcome::Completed, "the shim printed:\n{printed}");
    let after = interp.memory().unwrap().data_size(interp.store_mut());
    assert!(after >= before + (96 << 20), "the heap did not grow: {before} -> {after} bytes");
    assert_eq!(
        printed.trim_end(),
        r##"{"big": 7, "cwd": "/home/pyworkers", "listing": ["probe.txt"], "match": "a#b#", "read": "written through the shim", "year": 2026}"##,
    );
}

/// Every function import of Pyodide's code module answered inside the component: the shim's, and the rest by the
/// generated fallbacks (constants and traps from the shared policy, callbacks through the table the fix-up fills).
/// The native linker answers none. Each kind of callback is driven from Python: the runtime's name
/// (`_Py_emscripten_runtime`), a signal handler (`__call_sighandler`), `dlopen` failing with `dlerror` set, and
/// a JavaScript-bridge import raising `RuntimeError` in Python; sockets get the policy's errno.
#[test]
fn pyodide_boots_with_every_import_answered_inside_the_component() {
    use pyworkers::interpreter::Outcome;
    let pyodide = crate::support::pyodide();
    let mut parts = ComponentParts::new(pyodide, true);
    let mut interp = boot_over(pyodide, &mut parts);
    let (shim, fallbacks) = parts.answered;
    let unanswered: Vec<_> = parts.code_imports.iter().filter(|key| !parts.answered_names.contains(*key)).collect();
    assert!(unanswered.is_empty(), "left to the native host: {unanswered:?}");
    assert!(shim >= 50 && fallbacks >= 150, "the shim answered {shim} imports and the fallbacks {fallbacks}");
    let code = r#"
import sys, signal, socket, errno
got = []
signal.signal(signal.SIGUSR1, lambda sig, frame: got.append(sig))
signal.raise_signal(signal.SIGUSR1)
try:
    socket.socket()
    sock = 'opened'
except OSError as e:
    sock = errno.errorcode.get(e.errno, e.errno)
open('/tmp/mod_x.cpython-314-wasm32-emscripten.so', 'wb').write(bytes([0, 97, 115, 109, 1, 0, 0, 0]))
sys.path.insert(0, '/tmp')
try:
    import mod_x
    dl = 'imported'
except ImportError as e:
    dl = str(e)
print(sys._emscripten_info.runtime, got == [signal.SIGUSR1], sock, dl, sep='\n')
sys.stdout.flush()
"#;
    let outcome = interp.run_source(code).unwrap();
    let printed = parts.printed();
    assert_eq!(outcome, Outcome::Completed, "the shim printed:
{printed}");
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[..3], [pyworkers::component::RUNTIME_NAME, "True", "ENOSYS"], "printed:
{printed}");
    assert!(lines[3].contains(pyworkers::component::NO_SIDE_MODULES), "printed:
{printed}");

    // A JavaScript-bridge import, called as Pyodide's C code would: Python's error indicator is set, naming it.
    let store = interp.store_mut();
    let instance = parts.fallbacks.unwrap();
    let bridge = instance.get_func(&mut *store, "env.JsProxy_GetAttr_js");
    let bridge = bridge.or_else(|| {
        let name = parts.code_imports.iter().find(|(m, n)| m == "env" && n.starts_with("JsProxy_"))?;
        instance.get_func(&mut *store, &format!("env.{}", name.1))
    });
    let bridge = bridge.expect("Pyodide imports a JsProxy_* function");
    let ty = bridge.ty(&*store);
    let params: Vec<Val> = ty.params().map(|t| Val::default_for_ty(&t).unwrap()).collect();
    let mut results: Vec<Val> = ty.results().map(|t| Val::default_for_ty(&t).unwrap()).collect();
    bridge.call(&mut *store, &params, &mut results).unwrap();
    let code_instance = *interp.instance();
    let store = interp.store_mut();
    let occurred = code_instance.get_typed_func::<(), i32>(&mut *store, "PyErr_Occurred").unwrap();
    assert_ne!(occurred.call(&mut *store, ()).unwrap(), 0, "no Python exception was set");
    let print = code_instance.get_typed_func::<(), ()>(&mut *store, "PyErr_Print").unwrap();
    print.call(&mut *store, ()).unwrap();
    interp.run_source("import sys; sys.stderr.flush()").unwrap();
    let printed = parts.printed();
    assert!(
        printed.contains("RuntimeError: pyworkers has no JavaScript bridge: `JsProxy_"),
        "printed:
{printed}"
    );
}
