//! The HTTP API driven through `router(state)` over the in-memory store,
//! plus one exchange over a real socket.

mod abuse;
mod api;
mod geo;
mod ingest;
mod kava;
mod reports;
mod support;
mod tracker;
mod xapi;
