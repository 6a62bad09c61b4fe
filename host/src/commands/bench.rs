use super::Common;
use anyhow::{Context, Result};
use pyworkers::emscripten::EmContext;
use pyworkers::interpreter::{BootOptions, Interpreter};
use std::time::{Duration, Instant};

/// `pyworkers bench`: the figures BENCHMARKS.md records, measured in one run on this machine.
#[derive(clap::Args)]
pub struct Bench {
    #[command(flatten)]
    common: Common,
    /// Repetitions per measurement (medians are reported).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Also measure a first run from an empty cache (npm download + conversion + compile; ~20 s).
    #[arg(long)]
    cold: bool,
    /// Measure memory snapshots instead: creation, size, restore latency over this many instances, RSS per instance.
    #[arg(long, value_name = "INSTANCES")]
    snapshots: Option<usize>,
}

/// The workers the snapshot benchmark uses: (name, source).
const SNAPSHOT_WORKERS: &[(&str, &str)] = &[
    ("hello", "def hello():\n    return 'hello'\n"),
    (
        "stdlib",
        "import json, re, datetime, decimal, asyncio, email, email.message\ndef hello():\n    return 'hello'\n",
    ),
];

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A resident-set figure of this process from /proc/self/status (Linux), in bytes: `VmRSS` (everything mapped
/// in, including pages of the copy-on-write image shared with the page cache) or `RssAnon` (private pages only).
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Bytes in 4 KiB pages of `data`'s memory that hold any non-zero byte.
fn nonzero_page_bytes(data: &pyworkers::snapshot::SnapshotData) -> u64 {
    let mut pages = std::collections::BTreeSet::new();
    for (offset, bytes) in &data.segments {
        for (i, chunk) in bytes.iter().enumerate().filter(|(_, b)| **b != 0) {
            let _ = chunk;
            pages.insert((*offset as u64 + i as u64) / 4096);
        }
    }
    pages.len() as u64 * 4096
}

fn snapshot_bench(
    runtime: &pyworkers::runtime::Runtime,
    instances: usize,
) -> Result<Vec<(String, String)>> {
    use pyworkers::snapshot::{self, HashSeed, Kind, Restorer, WorkerInfo};
    // The instances kept alive, plus the ones that prepare and boot.
    let engine = pyworkers::interpreter::engine(instances as u32 + 2)?;
    let pyodide = std::sync::Arc::new(pyworkers::interpreter::Pyodide::load(runtime, &engine)?);
    let mut rows = Vec::new();
    let dir = tempfile::tempdir()?;
    for (name, source) in SNAPSHOT_WORKERS {
        let path = dir.path().join(format!("{name}.py"));
        std::fs::write(&path, source)?;
        let worker = pyworkers::snapshot::Worker::load(&path, "main")?;
        let vfs_with_worker = || -> Result<pyworkers::vfs::Vfs> {
            let mut vfs = pyworkers::stdlib::vfs(&pyodide)?;
            vfs.mount(
                snapshot::WORKER_ROOT,
                pyworkers::vfs::Fs::Tar(worker.archive.clone()),
                false,
            )
            .context("mounting the worker")?;
            Ok(vfs)
        };
        let t = Instant::now();
        let mut em = EmContext::new(vfs_with_worker()?);
        em.environ = super::run::guest_environment(&[])?;
        let mut interp = snapshot::boot_for_prepare(&pyodide, em, 1)?;
        snapshot::prepare(&mut interp, Kind::Dedicated, Some(name), true)?;
        let info = WorkerInfo {
            bundle_sha256: worker.sha256.clone(),
            module: name.to_string(),
            mount: snapshot::WORKER_ROOT.into(),
        };
        let data = snapshot::capture(
            &mut interp,
            Kind::Dedicated,
            runtime.wasm_sha256(),
            Some(info),
            HashSeed::Pinned(1),
        )?;
        let file = data.encode()?;
        let created = t.elapsed();
        drop(interp);
        let nonzero = nonzero_page_bytes(&data);
        rows.push((
            format!("[{name}] snapshot creation (boot + prepare + capture + encode)"),
            ms(created),
        ));
        rows.push((
            format!("[{name}] snapshot file / non-zero 4 KiB pages"),
            format!(
                "{:.2} MiB / {:.2} MiB ({:+.1}%)",
                file.len() as f64 / 1048576.0,
                nonzero as f64 / 1048576.0,
                (file.len() as f64 / nonzero as f64 - 1.0) * 100.0
            ),
        ));
        let t = Instant::now();
        let restorer = Restorer::new(&pyodide, data, vfs_with_worker()?)?;
        rows.push((
            format!("[{name}] state module ready (build or cache load)"),
            ms(t.elapsed()),
        ));

        let mut latencies = Vec::with_capacity(instances);
        let mut parts = [Vec::new(), Vec::new(), Vec::new()];
        let mut live = Vec::with_capacity(instances);
        let (rss_before, anon_before) = (status_bytes("VmRSS:"), status_bytes("RssAnon:"));
        let call = format!("import {name}; {name}.hello()");
        for _ in 0..instances {
            let t = Instant::now();
            let mut i = restorer.instantiate(|_| {})?;
            let instantiated = t.elapsed();
            Restorer::restored(&mut i)?;
            let restored = t.elapsed();
            anyhow::ensure!(i.run_source(&call)? == pyworkers::interpreter::Outcome::Completed);
            latencies.push(t.elapsed());
            parts[0].push(instantiated);
            parts[1].push(restored - instantiated);
            parts[2].push(t.elapsed() - restored);
            if live.is_empty() {
                // What the server does with the instances it retires: later ones get these pages faulted in ahead.
                restorer.learn(&mut i);
            }
            live.push(i);
        }
        let [instantiate, restored, first] = parts;
        rows.push((
            format!(
                "[{name}] restore, medians: instantiate + link / `restored()` / first call ({} pages written by the first instance, faulted in ahead in the others)",
                restorer.prefaulted_pages()
            ),
            format!("{} / {} / {}", ms(median(instantiate)), ms(median(restored)), ms(median(first))),
        ));
        let (rss_after, anon_after) = (status_bytes("VmRSS:"), status_bytes("RssAnon:"));
        rows.push((
            format!("[{name}] restore → first Python call, median / p99 of {instances}"),
            format!(
                "{} / {}",
                ms(median(latencies.clone())),
                ms(percentile(latencies, 0.99))
            ),
        ));
        let per = |after: u64, before: u64| {
            after.saturating_sub(before) as f64 / instances as f64 / 1048576.0
        };
        rows.push((
            format!("[{name}] memory per additional live instance ({instances} alive): private (RssAnon) / VmRSS"),
            format!("{:.2} MiB / {:.2} MiB", per(anon_after, anon_before), per(rss_after, rss_before)),
        ));
        drop(live);

        let mut boots = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let mut em = EmContext::new(vfs_with_worker()?);
            em.environ = super::run::guest_environment(&[])?;
            let mut i = Interpreter::boot(&pyodide, em, &BootOptions::default())?;
            i.run_source(&format!("import sys; sys.path.insert(0, '/app'); {call}"))?;
            boots.push(t.elapsed());
        }
        rows.push((
            format!("[{name}] cold boot without snapshot → first call (median of 5)"),
            ms(median(boots)),
        ));
    }
    Ok(rows)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Run `exe run -c 'print(1)'` and return the child's own peak resident set in MiB (from `wait4`, which reports
/// the reaped child alone; `RUSAGE_CHILDREN` would include this benchmark process's own peak).
fn child_peak_rss_mib(exe: &std::path::Path, home: &std::path::Path) -> Result<f64> {
    let child = std::process::Command::new(exe)
        .args(["run", "-c", "print(1)"])
        .env("PYWORKERS_HOME", home)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let mut status = 0;
    // SAFETY: wait4 writes only the status and the rusage struct we pass; the pid is our own child, reaped here
    // (the `Child` handle is dropped without waiting).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run -c 'print(1)' failed"
    );
    Ok(usage.ru_maxrss as f64 / 1024.0)
}

impl Bench {
    pub fn execute(self) -> Result<i32> {
        // First, while this process is still small: a child's peak RSS includes what it inherited before `exec`.
        let child_rss = if self.snapshots.is_none() {
            let home = self.common.runtime()?
                .home()
                .to_path_buf();
            child_peak_rss_mib(&std::env::current_exe()?, &home)?
        } else {
            0.0
        };
        let n = self.iterations.max(1);
        let mut rows: Vec<(String, String)> = Vec::new();
        if let Some(instances) = self.snapshots {
            let runtime = self.common.runtime()?;
            rows = snapshot_bench(&runtime, instances.max(1))?;
            println!("| measurement | result |");
            println!("|---|---|");
            for (k, v) in rows {
                println!("| {k} | {v} |");
            }
            return Ok(0);
        }
        if self.cold {
            let tmp = tempfile::tempdir()?;
            let start = Instant::now();
            let rt = pyworkers::runtime::Runtime::ensure(tmp.path())?;
            pyworkers::interpreter::Pyodide::load(&rt, &pyworkers::interpreter::engine(1)?)?;
            rows.push((
                "first run: npm download + EH conversion + compile".into(),
                ms(start.elapsed()),
            ));
        }
        let runtime = self.common.runtime()?;
        let engine = pyworkers::interpreter::engine(2)?;
        let mut loads = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            pyworkers::interpreter::Pyodide::load(&runtime, &engine)?;
            loads.push(t.elapsed());
        }
        rows.push((
            "cached compiled modules load: code + initial state + trampoline, linked (median)".into(),
            ms(median(loads)),
        ));

        let pyodide = pyworkers::interpreter::Pyodide::load(&runtime, &engine)?;
        // Once, like setup does (the cached archive is what runs use; this build only times the recipe).
        let t = Instant::now();
        let (compiled, size) =
            pyworkers::stdlib::build(&pyodide).map(|b| (b.compiled, b.tar.len()))?;
        rows.push((
            format!(
                "compile the standard library to bytecode (one-time, at setup; {compiled} modules, {:.1} MiB archive)",
                size as f64 / (1 << 20) as f64
            ),
            ms(t.elapsed()),
        ));
        for (label, bytecode) in [
            ("from `.py` sources", false),
            ("with stdlib bytecode", true),
        ] {
            // Opening the files is timed apart from booting: a server opens them once.
            let mut reads = Vec::new();
            let mut boots = Vec::new();
            let mut imports = Vec::new();
            for _ in 0..n {
                let t = Instant::now();
                let archive = if bytecode {
                    Some(pyworkers::stdlib::bytecode(&pyodide)?)
                } else {
                    None
                };
                let vfs = pyworkers::stdlib::vfs_with(&pyodide, archive)?;
                reads.push(t.elapsed());
                let t = Instant::now();
                let mut interp =
                    Interpreter::boot(&pyodide, EmContext::new(vfs), &BootOptions::default())?;
                boots.push(t.elapsed());
                let t = Instant::now();
                let outcome = interp.run_source("import json, re, datetime")?;
                imports.push(t.elapsed());
                anyhow::ensure!(
                    outcome == pyworkers::interpreter::Outcome::Completed,
                    "import json, re, datetime failed"
                );
            }
            rows.push((
                format!("open the standard library files, {label} (median)"),
                ms(median(reads)),
            ));
            rows.push((
                format!("instantiate + CPython init, {label} (median)"),
                ms(median(boots)),
            ));
            rows.push((
                format!("`import json, re, datetime` after init, {label} (median)"),
                ms(median(imports)),
            ));
        }

        let exe = std::env::current_exe().context("locating the pyworkers binary")?;
        let mut runs = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            let out = std::process::Command::new(&exe)
                .args(["run", "-c", "print(1)"])
                .env("PYWORKERS_HOME", runtime.home())
                .output()?;
            runs.push(t.elapsed());
            anyhow::ensure!(
                out.status.success() && out.stdout == b"1\n",
                "run -c 'print(1)' failed"
            );
        }
        rows.push((
            "`pyworkers run -c 'print(1)'` wall, warm cache (median)".into(),
            ms(median(runs)),
        ));
        rows.push((
            "peak RSS of `pyworkers run -c 'print(1)'`".into(),
            format!("{child_rss:.1} MiB"),
        ));

        println!("| measurement ({n} iterations) | result |");
        println!("|---|---|");
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
        Ok(0)
    }
}
