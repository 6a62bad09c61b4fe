use super::Common;
use pyworkers::conformance::{self, Interface, Subject};
use std::path::PathBuf;

/// `pyworkers conformance INTERFACE [COMPONENT]` (its help text is the `Command::Conformance` doc comment).
#[derive(clap::Args)]
pub struct Conformance {
    /// The interface whose suite to run: tarfs, entropy, entrypoint or snapshot.
    #[arg(value_parser = clap::value_parser!(Interface))]
    interface: Interface,
    /// A component exporting the interface (its `*-provider` world); without one, the native implementation.
    component: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

impl Conformance {
    pub fn execute(self) -> anyhow::Result<i32> {
        let subject = match self.component {
            Some(path) => Subject::Component(path),
            None => Subject::Native,
        };
        let report = conformance::run_with_home(self.interface, &subject, &self.common.home())?;
        print!("{report}");
        Ok(if report.passed() { 0 } else { 1 })
    }
}
