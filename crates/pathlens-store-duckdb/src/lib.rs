//! pathlens-store-duckdb
