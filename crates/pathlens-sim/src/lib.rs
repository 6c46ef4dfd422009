//! The traffic simulator: realistic, reproducible viewer events for demos,
//! tests and benchmarks.
//!
//! A [`Simulator`] is an iterator of [`Event`]s in our native semantics
//! (docs/metrics.md). It goes day by day; each day it draws how many sessions every
//! interactive video gets and when they start, then plays the sessions in
//! order of their start, each one a walk of a viewer through the graph. The
//! same [`SimConfig`] always yields the same events.
//!
//! The modules, in the order a session is made:
//!
//! - [`graphs`]: the sample interactive videos ([`sample_graphs`]);
//! - `rhythm`: how many sessions a day gets (weekends are quieter) and when
//!   in the day they start (evenings UTC are busiest);
//! - `context`: who watches (a user id from a pool, or anonymous) and from
//!   where (country, device, OS, browser, referrer, application);
//! - `plan`: what the viewer does on one node — choices, URL clicks, pauses,
//!   seeks, dropping out — drawn before the node plays;
//! - `walk`: plays the plans out into events, with view events, quartiles and
//!   per-player `play_time_sum`;
//! - `session`: numbers and stamps the events of a session, and adds client
//!   retries (identical repeats with the same dedup key).

pub mod graphs;

mod context;
mod plan;
mod rhythm;
mod session;
mod walk;

use std::collections::VecDeque;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pathlens_model::{Event, Graph};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use graphs::sample_graphs;

use session::{SessionHeader, SessionRecorder};

/// What to simulate and how busy it is.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every random draw: equal configs give equal events.
    pub seed: u64,
    /// The tenant every event belongs to.
    pub partner_id: u32,
    /// Start of the first simulated day (UTC midnight typical).
    pub start: DateTime<Utc>,
    /// Number of days simulated from `start`.
    pub days: u32,
    /// Average sessions per interactive video per day, before the weekly
    /// rhythm; the actual number is drawn around it.
    pub sessions_per_day: f64,
    /// Share of sessions with no user id, between 0 and 1.
    pub anonymous_share: f64,
    /// Size of the pool of user ids `user-0001`, `user-0002`…
    pub known_viewers: u32,
    /// Share of sessions, between 0 and 1, in which some events are sent
    /// twice (identical events, same dedup key), as client retries do.
    pub retry_rate: f64,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            seed: 42,
            partner_id: 1,
            start: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
            days: 90,
            sessions_per_day: 100.0,
            anonymous_share: 0.35,
            known_viewers: 500,
            retry_rate: 0.03,
        }
    }
}

/// A session waiting to be played: when it starts and on which graph.
struct PlannedSession {
    start: DateTime<Utc>,
    graph_index: usize,
}

/// Generates the events of simulated viewing sessions, session after session
/// in order of their start.
pub struct Simulator {
    config: SimConfig,
    graphs: Vec<Graph>,
    /// Draws everything but the daily counts.
    rng: ChaCha8Rng,
    /// Sessions per day and graph, drawn up front (on their own stream, so
    /// the count hint is exact without disturbing the other draws).
    daily_counts: Vec<Vec<u32>>,
    next_day: usize,
    pending_sessions: VecDeque<PlannedSession>,
    sessions_started: u64,
    buffered_events: std::vec::IntoIter<Event>,
}

impl Simulator {
    /// Prepares a simulation of `graphs`. Shares outside 0..=1 are clamped
    /// and a negative or non-finite `sessions_per_day` counts as 0; graphs are
    /// expected to be valid ([`Graph::validate`]), and a walk stops where one
    /// is not.
    pub fn new(mut config: SimConfig, graphs: Vec<Graph>) -> Simulator {
        config.anonymous_share = clamp_share(config.anonymous_share);
        config.retry_rate = clamp_share(config.retry_rate);
        let mut count_rng = ChaCha8Rng::seed_from_u64(config.seed);
        count_rng.set_stream(1);
        let daily_counts = (0..config.days)
            .map(|day| {
                let mean =
                    config.sessions_per_day * rhythm::weekday_factor(day_start(&config, day));
                graphs
                    .iter()
                    .map(|_| rhythm::draw_count(&mut count_rng, mean))
                    .collect()
            })
            .collect();
        Simulator {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            graphs,
            daily_counts,
            next_day: 0,
            pending_sessions: VecDeque::new(),
            sessions_started: 0,
            buffered_events: Vec::new().into_iter(),
        }
    }

    /// The number of sessions the simulation produces in all (exact).
    pub fn session_count_hint(&self) -> u64 {
        self.daily_counts
            .iter()
            .flatten()
            .map(|&count| u64::from(count))
            .sum()
    }

    /// Queues the sessions of the next day, sorted by start.
    fn plan_next_day(&mut self) {
        let day_start = day_start(&self.config, self.next_day as u32);
        let mut planned = Vec::new();
        for (graph_index, &count) in self.daily_counts[self.next_day].iter().enumerate() {
            for _ in 0..count {
                let offset_ms = rhythm::draw_start_offset(&mut self.rng);
                let start = day_start + Duration::milliseconds(offset_ms as i64);
                planned.push(PlannedSession { start, graph_index });
            }
        }
        planned.sort_by_key(|session| session.start);
        self.pending_sessions.extend(planned);
        self.next_day += 1;
    }

    /// Plays one session and returns its events, retries included.
    fn play(&mut self, planned: PlannedSession) -> Vec<Event> {
        self.sessions_started += 1;
        let graph = &self.graphs[planned.graph_index];
        let viewer = context::draw_viewer(
            &mut self.rng,
            self.config.anonymous_share,
            self.config.known_viewers,
        );
        let mut recorder = SessionRecorder::new(SessionHeader {
            partner_id: self.config.partner_id,
            video_id: graph.id.clone(),
            session_id: format!("s{:x}-{}", self.config.seed, self.sessions_started),
            user_id: viewer.user_id,
            context: viewer.context,
            start: planned.start,
        });
        walk::play_session(graph, &mut recorder, &mut self.rng);
        let events = recorder.into_events();
        if self.rng.random_bool(self.config.retry_rate) {
            session::with_retries(events, &mut self.rng)
        } else {
            events
        }
    }
}

impl Iterator for Simulator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.buffered_events.next() {
                return Some(event);
            }
            if let Some(planned) = self.pending_sessions.pop_front() {
                self.buffered_events = self.play(planned).into_iter();
                continue;
            }
            if self.next_day >= self.daily_counts.len() {
                return None;
            }
            self.plan_next_day();
        }
    }
}

/// Once it has returned `None`, the simulation is over for good.
impl std::iter::FusedIterator for Simulator {}

fn day_start(config: &SimConfig, day: u32) -> DateTime<Utc> {
    config.start + Duration::days(i64::from(day))
}

fn clamp_share(share: f64) -> f64 {
    if share.is_nan() {
        0.0
    } else {
        share.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests;
