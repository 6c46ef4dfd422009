//! `pathlens videos add|list|show`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::backend;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum VideosCommand {
    /// Create or replace a video from our graph JSON or Kaltura's Path JSON.
    Add {
        /// The JSON file.
        file: PathBuf,
        /// Video id (needed for a Kaltura path, which carries none).
        #[arg(long)]
        id: Option<String>,
        /// Video name for a Kaltura path [default: the id].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the partner's videos.
    List,
    /// Show one video with its node levels.
    Show {
        /// The video id.
        id: String,
    },
}

pub fn run(config: &Config, command: VideosCommand) -> anyhow::Result<()> {
    let backend = backend::open(config)?;
    match command {
        VideosCommand::Add { file, id, name } => {
            let body = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let video = backend.add_video(&body, id.as_deref(), name.as_deref())?;
            println!(
                "stored video {} ({} nodes)",
                video["id"].as_str().unwrap_or_default(),
                video["graph"]["nodes"].as_array().map_or(0, Vec::len)
            );
        }
        VideosCommand::List => {
            let videos = backend.videos()?;
            let columns = [("id", "Id"), ("name", "Name"), ("updated_at", "Updated")]
                .map(|(k, h)| crate::table::Column::plain(k, h));
            print!("{}", crate::table::render(&columns, &videos));
        }
        VideosCommand::Show { id } => {
            let video = backend.video(&id)?;
            println!(
                "{} — {} (start: {})",
                video["id"].as_str().unwrap_or_default(),
                video["name"].as_str().unwrap_or_default(),
                video["start_node"].as_str().unwrap_or_default()
            );
            let rows: Vec<serde_json::Value> = video["graph"]["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|node| {
                    let id = node["id"].as_str().unwrap_or_default();
                    serde_json::json!({
                        "id": id,
                        "name": node["name"],
                        "level": video["levels"][id],
                        "hotspots": node["hotspots"].as_array().map_or(0, Vec::len),
                        "deleted_at": node["deleted_at"],
                    })
                })
                .collect();
            let columns = [
                ("level", "Level"),
                ("id", "Node"),
                ("name", "Name"),
                ("hotspots", "Hotspots"),
                ("deleted_at", "Deleted"),
            ]
            .map(|(k, h)| crate::table::Column::plain(k, h));
            print!("{}", crate::table::render(&columns, &rows));
        }
    }
    Ok(())
}
