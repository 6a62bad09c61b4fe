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
        let runtime = pyworkers::runtime::Runtime::ensure(&self.common.home())?;
        let engine = pyworkers::interpreter::engine()?;
        runtime.load_module(&engine)?;
        runtime.ensure_stdlib_bytecode(&engine)?;
        eprintln!(
            "pyworkers is ready in {} ({:.1?})",
            runtime.home().display(),
            start.elapsed()
        );
        Ok(0)
    }
}
