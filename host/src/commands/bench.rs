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
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Peak resident set of finished child processes, in MiB (Linux `ru_maxrss` is in KiB).
fn children_peak_rss_mib() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

impl Bench {
    pub fn execute(self) -> Result<i32> {
        let n = self.iterations.max(1);
        let mut rows: Vec<(String, String)> = Vec::new();
        if self.cold {
            let tmp = tempfile::tempdir()?;
            let start = Instant::now();
            let rt = pyworkers::runtime::Runtime::ensure(tmp.path())?;
            rt.load_module(&pyworkers::interpreter::engine()?)?;
            rows.push((
                "first run: npm download + EH conversion + compile".into(),
                ms(start.elapsed()),
            ));
        }
        let runtime = pyworkers::runtime::Runtime::ensure(&self.common.home())?;
        let engine = pyworkers::interpreter::engine()?;
        let mut loads = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            runtime.load_module(&engine)?;
            loads.push(t.elapsed());
        }
        rows.push((
            "cached compiled module load (median)".into(),
            ms(median(loads)),
        ));

        let module = runtime.load_module(&engine)?;
        let trampoline = pyworkers::emscripten::trampoline::compile(&engine)?;
        let boot = || -> Result<Interpreter> {
            let vfs = super::run::standard_vfs(&runtime)?;
            Interpreter::boot(
                &engine,
                &module,
                &trampoline,
                EmContext::new(vfs),
                &BootOptions::default(),
            )
        };
        let mut boots = Vec::new();
        let mut imports = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            let mut interp = boot()?;
            boots.push(t.elapsed());
            let t = Instant::now();
            interp.run_source("import json, re, datetime")?;
            imports.push(t.elapsed());
        }
        rows.push((
            "instantiate + CPython init (median)".into(),
            ms(median(boots)),
        ));
        rows.push((
            "`import json, re, datetime` after init (median)".into(),
            ms(median(imports)),
        ));

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
            format!("{:.1} MiB", children_peak_rss_mib()),
        ));

        println!("| measurement ({n} iterations) | result |");
        println!("|---|---|");
        for (k, v) in rows {
            println!("| {k} | {v} |");
        }
        Ok(0)
    }
}
