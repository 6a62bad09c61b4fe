//! `pyworkers kv key put|get|list|delete --binding NAME`: a project's local KV namespaces, as `wrangler kv key`.

use super::d1::ProjectArgs;
use anyhow::Result;
use clap::{Args, Subcommand};
use pyworkers::serve::bindings::kv::{self, Kv};
use std::io::Write;

#[derive(Args)]
pub struct KvCommand {
    #[command(subcommand)]
    command: KvSub,
}

#[derive(Subcommand)]
enum KvSub {
    /// Keys of a namespace.
    Key {
        #[command(subcommand)]
        command: KeySub,
    },
}

#[derive(Subcommand)]
enum KeySub {
    /// Store VALUE under KEY.
    Put {
        key: String,
        value: String,
        #[arg(long)]
        binding: String,
        /// Seconds from now until it expires.
        #[arg(long)]
        ttl: Option<i64>,
        /// When it expires (seconds since the epoch).
        #[arg(long)]
        expiration: Option<i64>,
        /// JSON metadata.
        #[arg(long)]
        metadata: Option<String>,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Print KEY's value (exit status 1 when missing).
    Get {
        key: String,
        #[arg(long)]
        binding: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// List keys as JSON.
    List {
        #[arg(long)]
        binding: String,
        #[arg(long)]
        prefix: Option<String>,
        #[command(flatten)]
        project: ProjectArgs,
    },
    /// Remove KEY.
    Delete {
        key: String,
        #[arg(long)]
        binding: String,
        #[command(flatten)]
        project: ProjectArgs,
    },
}

fn open(project: &ProjectArgs, binding: &str) -> Result<(Kv, String)> {
    let (p, location) = project.open()?;
    let id = p.bindings.kv(binding)?.id.clone();
    Ok((Kv::new(location.open("kv.sqlite3")?)?, id))
}

impl KvCommand {
    pub fn execute(self) -> Result<i32> {
        let KvSub::Key { command } = self.command;
        match command {
            KeySub::Put { key, value, binding, ttl, expiration, metadata, project } => {
                let (store, ns) = open(&project, &binding)?;
                if let Some(m) = &metadata {
                    serde_json::from_str::<serde_json::Value>(m)
                        .map_err(|e| anyhow::anyhow!("--metadata is not JSON: {e}"))?;
                }
                let expiration = ttl.map(|t| kv::now() + t).or(expiration);
                store.put(&ns, &key, &kv::Entry { value: value.into_bytes(), expiration, metadata })?;
                Ok(0)
            }
            KeySub::Get { key, binding, project } => {
                let (store, ns) = open(&project, &binding)?;
                match store.get(&ns, &key)? {
                    Some(e) => {
                        std::io::stdout().write_all(&e.value)?;
                        Ok(0)
                    }
                    None => {
                        eprintln!("Value not found");
                        Ok(1)
                    }
                }
            }
            KeySub::List { binding, prefix, project } => {
                let (store, ns) = open(&project, &binding)?;
                let mut cursor = None;
                let mut keys = Vec::new();
                loop {
                    let page = store.list(&ns, prefix.as_deref().unwrap_or(""), kv::MAX_LIST, cursor.as_deref())?;
                    for k in page.keys {
                        let mut o = serde_json::json!({ "name": k.name });
                        if let Some(e) = k.expiration {
                            o["expiration"] = e.into();
                        }
                        if let Some(m) = k.metadata {
                            o["metadata"] = serde_json::from_str(&m).unwrap_or(serde_json::Value::Null);
                        }
                        keys.push(o);
                    }
                    if page.list_complete {
                        break;
                    }
                    cursor = page.cursor;
                }
                println!("{}", serde_json::to_string_pretty(&keys)?);
                Ok(0)
            }
            KeySub::Delete { key, binding, project } => {
                let (store, ns) = open(&project, &binding)?;
                store.delete(&ns, &key)?;
                Ok(0)
            }
        }
    }
}
