//! The `pathlens` binary end to end: CLI commands on a data directory,
//! durability of acknowledged events across `kill -9`, and the commands and
//! server on ClickHouse.

mod cli;
mod clickhouse;
mod durability;
mod support;
