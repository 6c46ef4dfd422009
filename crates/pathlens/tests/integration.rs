//! The `pathlens` binary end to end: CLI commands on a data directory, and
//! durability of acknowledged events across `kill -9`.

mod cli;
mod durability;
mod support;
