//! `pathlens keys create|list|revoke`.

use anyhow::Context;
use clap::Subcommand;
use pathlens_store::KeyKind;

use crate::backend;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for the partner (--partner); its token is printed once.
    Create {
        /// admin (reads reports, manages videos and keys) or write (sends events only).
        #[arg(long, default_value = "admin")]
        kind: String,
        /// A label for the key.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the partner's keys.
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key id (key_…).
        id: String,
    },
}

pub fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let backend = backend::open(config)?;
    match command {
        KeysCommand::Create { kind, name } => {
            let kind = KeyKind::from_name(&kind)
                .with_context(|| format!("--kind {kind:?}: expected admin or write"))?;
            let key = backend.create_key(kind, &name)?;
            println!(
                "created {} key {} for partner {}",
                kind.name(),
                key["id"].as_str().unwrap_or_default(),
                key["partner_id"]
            );
            println!(
                "token (shown once): {}",
                key["token"].as_str().unwrap_or_default()
            );
        }
        KeysCommand::List => {
            let keys = backend.keys()?;
            let columns = [
                ("id", "Id"),
                ("kind", "Kind"),
                ("name", "Name"),
                ("created_at", "Created"),
                ("revoked_at", "Revoked"),
            ]
            .map(|(k, h)| crate::table::Column::plain(k, h));
            print!("{}", crate::table::render(&columns, &keys));
        }
        KeysCommand::Revoke { id } => {
            backend.revoke_key(&id)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
