use super::Common;
use std::time::Instant;

/// `pyworkers setup`.
#[derive(clap::Args)]
pub struct Setup {
    #[command(flatten)]
    common: Common,
}

impl Setup {
    pub fn execute(self) -> anyhow::Result<i32> {
        let start = Instant::now();
        let runtime = self.common.runtime()?;
        let engine = pyworkers::interpreter::engine(1)?;
        let pyodide = pyworkers::interpreter::Pyodide::load(&runtime, &engine)?;
        pyworkers::stdlib::bytecode(&pyodide)?;
        eprintln!(
            "pyworkers is ready in {} ({:.1?})",
            runtime.home().display(),
            start.elapsed()
        );
        Ok(0)
    }
}
