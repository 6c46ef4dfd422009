//! Measures `decode_batch` on one request of 10,000 realistic native events
//! (the most a request may carry): NDJSON as clients send it, plain and
//! gzip-compressed, reported as events per second.
//!
//! The events are generated from a fixed seed: a mix of kinds like a real
//! session's (mostly views and quartiles, some node switches and clicks),
//! UUID-like session ids, known and anonymous viewers, and context fields
//! partly sent and partly left for the `User-Agent` to fill.
//!
//! Run with `cargo bench --profile dev -p pathlens-ingest --bench decode`.

use std::hint::black_box;
use std::io::Write;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use pathlens_ingest::{MAX_EVENTS_PER_REQUEST, RequestContext, decode_batch};
use pathlens_model::{Context, Event, EventKind, PlaybackType};

const SEED: u64 = 0x5eed_da7a;
const PARTNER_ID: u32 = 4242;
const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                          (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// A small deterministic generator (SplitMix64), so the bench needs no
/// random-number crate and every run decodes the same bytes.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Event kinds weighted roughly as a session sends them.
const KIND_MIX: [EventKind; 20] = [
    EventKind::View,
    EventKind::View,
    EventKind::View,
    EventKind::View,
    EventKind::View,
    EventKind::View,
    EventKind::View,
    EventKind::Quartile,
    EventKind::Quartile,
    EventKind::Quartile,
    EventKind::NodePlay,
    EventKind::NodePlay,
    EventKind::NodeSwitch,
    EventKind::NodeSwitch,
    EventKind::HotspotClick,
    EventKind::Impression,
    EventKind::PlayRequest,
    EventKind::Play,
    EventKind::Pause,
    EventKind::Seek,
];

fn session_id(rng: &mut SplitMix) -> String {
    let (page, player) = (rng.next(), rng.next());
    format!("{:016x}-{:04x}:{:016x}", page, page >> 48, player)
}

fn event(rng: &mut SplitMix, session: &str, event_index: u32, at: DateTime<Utc>) -> Event {
    let kind = *rng.pick(&KIND_MIX);
    let node = |rng: &mut SplitMix| format!("node-{}", rng.below(24));
    let video_id = format!("1_{:08x}", rng.below(8));
    let node_id = Some(node(rng));
    let sends_context = rng.below(2) == 0;
    let context = Context {
        country: Some((*rng.pick(&["US", "GB", "DE", "IN", "fr"])).to_owned()),
        device: sends_context.then(|| "Desktop".to_owned()),
        os: sends_context.then(|| "Windows".to_owned()),
        browser: sends_context.then(|| "Chrome".to_owned()),
        referrer_domain: Some(
            (*rng.pick(&[
                "https://www.example.com/course/7?x=1",
                "lms.example.edu",
                "t.co",
            ]))
            .to_owned(),
        ),
        application: Some("web".to_owned()),
        playback_type: Some(PlaybackType::Vod),
    };
    Event {
        partner_id: PARTNER_ID,
        player_session: None,
        dedup_key: 0,
        video_id,
        entry_id: Some(format!("0_{:08x}", rng.below(64))),
        session_id: session.to_owned(),
        event_index,
        ts: at,
        kind,
        user_id: (rng.below(3) > 0).then(|| format!("viewer-{}@example.com", rng.below(500))),
        position: Some(rng.below(120_000) as f64 / 1000.0),
        play_time_sum: (kind == EventKind::View).then(|| rng.below(600_000) as f64 / 1000.0),
        from_node_id: (kind == EventKind::NodeSwitch).then(|| node(rng)),
        to_node_id: (kind == EventKind::NodeSwitch).then(|| node(rng)),
        hotspot_id: matches!(kind, EventKind::HotspotClick | EventKind::NodeSwitch)
            .then(|| format!("hs-{}", rng.below(40))),
        target_url: (kind == EventKind::HotspotClick)
            .then(|| "https://shop.example.com/product/42?utm_source=pathlens".to_owned()),
        quartile: (kind == EventKind::Quartile).then(|| *rng.pick(&[25, 50, 75, 90, 100])),
        node_id,
        context,
    }
}

/// One NDJSON body of `MAX_EVENTS_PER_REQUEST` events, in sessions of 40.
fn ndjson_body() -> Vec<u8> {
    let mut rng = SplitMix(SEED);
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut body = Vec::new();
    let mut session = session_id(&mut rng);
    for number in 0..MAX_EVENTS_PER_REQUEST {
        if number % 40 == 0 {
            session = session_id(&mut rng);
        }
        let at = start + chrono::Duration::seconds(number as i64);
        let native = event(&mut rng, &session, (number % 40) as u32 + 1, at).to_native();
        serde_json::to_writer(&mut body, &native).unwrap();
        body.push(b'\n');
    }
    body
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

fn bench_decode(criterion: &mut Criterion) {
    let body = ndjson_body();
    let compressed = gzip(&body);
    let ctx = RequestContext {
        window: pathlens_ingest::TimeWindow::default(),
        partner_id: PARTNER_ID,
        now: Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap(),
        trusted_timestamps: false,
        user_agent: Some(USER_AGENT),
        country: Some("US"),
    };
    let decoded = decode_batch(&body, false, &ctx).unwrap();
    assert_eq!(
        decoded.events.len(),
        MAX_EVENTS_PER_REQUEST,
        "{:?}",
        decoded.rejected.first()
    );

    let mut group = criterion.benchmark_group("decode_batch");
    group.throughput(Throughput::Elements(MAX_EVENTS_PER_REQUEST as u64));
    group.bench_function("ndjson", |bencher| {
        bencher.iter(|| decode_batch(black_box(&body), false, &ctx).unwrap())
    });
    group.bench_function("ndjson_gzip", |bencher| {
        bencher.iter(|| decode_batch(black_box(&compressed), true, &ctx).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
