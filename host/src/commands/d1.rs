//! `pyworkers d1`: run SQL on a project's local D1 database and apply its migrations, as `wrangler d1` does with
//! `--local` (the only mode: there is no remote).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use pyworkers::entrypoint::marshal::Value;
use pyworkers::serve::bindings::{d1::D1, state::Location};
use pyworkers::serve::worker::project::Project;
use std::path::PathBuf;

#[derive(Args)]
pub struct D1Command {
    #[command(subcommand)]
    command: D1Sub,
}

/// Where the project and its state are.
#[derive(Args, Clone)]
pub struct ProjectArgs {
    /// The project directory (holding wrangler.jsonc).
    #[arg(long, default_value = ".")]
    cwd: PathBuf,
    /// The state directory, as `pyworkers serve --state` (default: `.pyworkers/state` in the project).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Accepted for wrangler's sake: local is the only mode.
    #[arg(long)]
    local: bool,
}

impl ProjectArgs {
    /// The project and where its state lives.
    pub fn open(&self) -> Result<(Project, Location)> {
        let project = Project::resolve(&self.cwd)?;
        let location = Location::from_flag(self.state.as_deref(), &project.dir);
        Ok((project, location))
    }
}

#[derive(Subcommand)]
enum D1Sub {
    /// Run SQL (`--command` or `--file`) on database DB (its binding or database_name).
    Execute {
        database: String,
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        command: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
        /// Print the results as JSON instead of tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Migrations under the database's `migrations_dir`.
    Migrations {
        #[command(subcommand)]
        command: MigrationsSub,
    },
}

#[derive(Subcommand)]
enum MigrationsSub {
    /// Apply the migrations not applied yet, in order (recorded in table `d1_migrations`).
    Apply {
        database: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
}

impl D1Command {
    pub fn execute(self) -> Result<i32> {
        match self.command {
            D1Sub::Execute { database, command, file, json, project } => {
                let (p, location) = project.open()?;
                let config = p.bindings.d1(&database)?;
                let d1 = D1::new(location.open(&config.file())?)?;
                let sql = match (command, file) {
                    (Some(c), _) => c,
                    (None, Some(f)) => std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?,
                    (None, None) => anyhow::bail!("give --command SQL or --file FILE"),
                };
                let outcomes = d1.run_script(&sql)?;
                if json {
                    let list: Vec<serde_json::Value> = outcomes
                        .iter()
                        .map(|o| {
                            serde_json::json!({
                                "results": o.rows.iter().map(|r| {
                                    serde_json::Value::Object(o.columns.iter().cloned().zip(r.iter().map(to_json)).collect())
                                }).collect::<Vec<_>>(),
                                "success": true,
                                "meta": { "changes": o.changes, "last_row_id": o.last_row_id, "duration": o.duration },
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    for o in outcomes.iter().filter(|o| !o.columns.is_empty()) {
                        print!("{}", table(&o.columns, &o.rows));
                    }
                    let changes: u64 = outcomes.iter().map(|o| o.changes).sum();
                    eprintln!("executed {} statement(s) on {database} (local), {changes} row(s) changed", outcomes.len());
                }
                Ok(0)
            }
            D1Sub::Migrations { command: MigrationsSub::Apply { database, project } } => {
                let (p, location) = project.open()?;
                let config = p.bindings.d1(&database)?;
                let d1 = D1::new(location.open(&config.file())?)?;
                let applied = d1.apply_migrations(&config.migrations_dir)?;
                if applied.is_empty() {
                    println!("no migrations to apply");
                }
                for name in applied {
                    println!("applied {name}");
                }
                Ok(0)
            }
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::None => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(n) => (*n).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        Value::Str(s) => s.clone().into(),
        Value::Bytes(b) => b.iter().map(|&x| serde_json::Value::from(x)).collect(),
        other => format!("{other:?}").into(),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::None => "null".into(),
        Value::Str(s) => s.clone(),
        other => to_json(other).to_string(),
    }
}

/// A box-drawn table, as wrangler prints.
fn table(columns: &[String], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| cells.iter().map(|r| r[i].chars().count()).chain([columns[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let line = |l: &str, m: &str, r: &str| {
        format!("{l}{}{r}\n", widths.iter().map(|w| "─".repeat(w + 2)).collect::<Vec<_>>().join(m))
    };
    let row = |values: &[String]| {
        format!(
            "│{}│\n",
            values.iter().zip(&widths).map(|(v, w)| format!(" {v:<w$} ")).collect::<Vec<_>>().join("│")
        )
    };
    let mut out = line("┌", "┬", "┐");
    out += &row(columns);
    out += &line("├", "┼", "┤");
    for r in &cells {
        out += &row(r);
    }
    out += &line("└", "┴", "┘");
    out
}
