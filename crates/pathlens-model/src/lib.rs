//! The interactive-video domain, with no I/O.
//!
//! An interactive video (a *path*) is a graph of short videos, the *nodes*;
//! *hotspots* shown on a node lead to another node, open a URL or pause.
//! Viewers walk the graph and their players send *events*. This crate holds
//! the vocabulary every other crate shares:
//!
//! - [`graph`]: nodes, hotspots, validation, node levels, and the history of
//!   nodes and hotspots removed when a graph is replaced;
//! - [`kaltura`]: import of Kaltura's Path JSON into a [`graph::Graph`];
//! - [`event`]: one viewer event as it is stored, its kinds and context;
//! - [`metric`]: the names of the reported metrics.

pub mod event;
pub mod graph;
pub mod kaltura;
pub mod metric;

pub use event::{Context, Event, EventKind, NativeEvent, PlaybackType};
pub use graph::{Behavior, Graph, GraphError, Hotspot, Node};
