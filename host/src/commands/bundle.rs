use super::Common;
use anyhow::{Context, Result};
use pyworkers::bundle::Bundle;
use pyworkers::serve::worker::project::Project;
use std::path::PathBuf;

/// `pyworkers bundle`: pack a project — its worker's files, its packages installed for Pyodide's platform (resolved
/// or from `pyworkers.lock`) and metadata — into one tar that `serve`, `run --worker` and `snapshot` accept.
#[derive(clap::Args)]
pub struct BundleCmd {
    #[command(flatten)]
    common: Common,
    /// The project (as `serve` takes it: a directory with a Wrangler configuration, a worker directory, a .py file).
    #[arg(default_value = ".")]
    project: PathBuf,
    /// Where to write the bundle.
    #[arg(short, long)]
    output: PathBuf,
}

impl BundleCmd {
    pub fn execute(self) -> Result<i32> {
        let project = Project::resolve(&self.project)?;
        if project.bundle.is_some() {
            anyhow::bail!("{} is already a bundle", self.project.display());
        }
        let home = self.common.home();
        let packages = pyworkers::packages::install(&project.root(), &home).context("installing the worker's packages")?;
        let sources = pyworkers::snapshot::Worker::load(&project.source, &project.module)?;
        let bundle = Bundle {
            name: project.name.clone(),
            module: project.module.clone(),
            vars: project.vars_json.clone(),
            crons: project.crons.clone(),
            packages: packages.as_ref().map(|p| p.packages.clone()).unwrap_or_default(),
            pyodide_version: pyworkers::runtime::PYODIDE_VERSION.into(),
            sources: sources.archive.bytes().to_vec(),
            site_packages: packages.as_ref().map(|p| p.archive.bytes().to_vec()),
            bindings: project.bindings_json.clone(),
            assets: match &project.bindings.assets {
                Some(a) => Some(Bundle::pack_assets(&a.directory)?),
                None => None,
            },
        };
        bundle.write(&self.output)?;
        let recorded: Vec<&String> = bundle.bindings.iter().flat_map(|b| b.keys()).collect();
        eprintln!(
            "bundled {} (module `{}`, {} packages{}) for Pyodide {} into {}",
            bundle.name,
            bundle.module,
            bundle.packages.len(),
            if recorded.is_empty() {
                String::new()
            } else {
                format!(", bindings from {}", recorded.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))
            },
            bundle.pyodide_version,
            self.output.display()
        );
        Ok(0)
    }
}
