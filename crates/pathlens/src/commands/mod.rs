//! One module per subcommand.

pub mod compact;
pub mod demo;
pub mod import;
pub mod keys;
pub mod migrate;
pub mod report;
pub mod serve;
pub mod videos;
