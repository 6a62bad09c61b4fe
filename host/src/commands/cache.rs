use super::Common;
use anyhow::Result;
use pyworkers::runtime::usage;
use std::time::SystemTime;

/// `pyworkers cache [clean]`: what `$PYWORKERS_HOME` holds, or empty it.
///
/// Everything in the cache is keyed by content and rebuilt or fetched when missing, so cleaning is always safe; the
/// next command prepares Pyodide again (npm download, conversion, a ~10 s compile).
#[derive(clap::Args)]
pub struct Cache {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List the entries, least recently used first (the default).
    List,
    /// Delete everything in the cache.
    Clean,
}

impl Cache {
    pub fn execute(self) -> Result<i32> {
        let home = self.common.home();
        match self.action.unwrap_or(Action::List) {
            Action::List => {
                let entries = usage::entries(&home);
                println!("{:<16} {:>10}  {:<12} path", "kind", "size", "last use");
                let now = SystemTime::now();
                for e in &entries {
                    let age = now.duration_since(e.last_use).unwrap_or_default();
                    println!(
                        "{:<16} {:>10}  {:<12} {}",
                        e.kind,
                        bytesize::ByteSize(e.bytes).display().iec().to_string(),
                        format!("{} ago", humanize(age)),
                        e.path.strip_prefix(&home).unwrap_or(&e.path).display()
                    );
                }
                println!(
                    "{} entries, {} of {} allowed, in {}",
                    entries.len(),
                    bytesize::ByteSize(usage::total(&entries)).display().iec(),
                    bytesize::ByteSize(self.common.cache_size).display().iec(),
                    home.display()
                );
            }
            Action::Clean => {
                let (n, bytes) = usage::clean(&home);
                println!(
                    "removed {n} entries ({}) from {}",
                    bytesize::ByteSize(bytes).display().iec(),
                    home.display()
                );
            }
        }
        Ok(0)
    }
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
