//! The SQL this store sends, one module per operation, each a pure function
//! from a request to query text; the snapshot tests under `snapshots/` show
//! every query as ClickHouse receives it.
//!
//! Everything here runs on ClickHouse 18.16 (Debian's package) and on
//! current releases, so it keeps to what both have: no query parameters
//! (literals are quoted here), no `DateTime64` (times are microseconds in
//! `Int64`), no `LowCardinality`, no window functions, no `Nullable` in a
//! sorting key, no positional `ORDER BY`. Data travels as `RowBinary`.
//!
//! Reports are aggregated by ClickHouse ([`aggregate`], one query per part
//! a report asks for), so only figures travel to pathlens; [`scan`] reads
//! rows for the reference reading of the definitions and for tools.

pub mod aggregate;
pub mod append;
pub mod export;
pub mod keys;
pub mod rollups;
pub mod scan;
pub mod videos;

/// A ClickHouse string literal.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('\'');
    for character in text.chars() {
        match character {
            '\\' => quoted.push_str("\\\\"),
            '\'' => quoted.push_str("\\'"),
            '\0' => quoted.push_str("\\0"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

/// `a, b, c` of quoted literals.
pub fn quote_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    values.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}

/// Whether `name` may name a database or cluster without quoting.
pub fn is_plain_identifier(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The tables statements read and write: the local tables on a single
/// server, or the `Distributed` tables over them on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub database: String,
    pub events: String,
    pub event_keys: String,
    pub videos: String,
    pub api_keys: String,
    pub node_slots: String,
}

impl Tables {
    /// The tables of one server.
    pub fn local(database: &str) -> Tables {
        Tables::named(database, "")
    }

    /// The `Distributed` tables of a cluster (`…_all`).
    pub fn distributed(database: &str) -> Tables {
        Tables::named(database, "_all")
    }

    fn named(database: &str, suffix: &str) -> Tables {
        let table = |name: &str| format!("{database}.{name}{suffix}");
        Tables {
            database: database.to_string(),
            events: table("events"),
            event_keys: table("event_keys"),
            videos: table("videos"),
            api_keys: table("api_keys"),
            node_slots: table("node_slots"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote("it's"), r"'it\'s'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("x\0y"), r"'x\0y'");
        assert_eq!(quote_list(["a", "b"]), "'a', 'b'");
    }

    #[test]
    fn identifiers_are_plain_names() {
        assert!(is_plain_identifier("pathlens_test_1"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a-b"));
        assert!(!is_plain_identifier("a.b"));
        assert!(!is_plain_identifier(""));
    }

    #[test]
    fn cluster_tables_are_the_distributed_ones() {
        assert_eq!(Tables::local("db").events, "db.events");
        assert_eq!(Tables::distributed("db").event_keys, "db.event_keys_all");
    }
}
