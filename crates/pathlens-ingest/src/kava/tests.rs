use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{Duration, TimeZone};

use super::*;
use crate::test_support::CHROME_ON_WINDOWS;

const BASICS: &str = "partnerId=101&entryId=1_path&sessionId=C90BFCFC-2EBF&eventIndex=1";

fn get(query: &str) -> Result<Beacon, KavaError> {
    decode(&BeaconRequest {
        method: Method::Get,
        query,
        body: b"",
        require_service_action: false,
    })
}

fn post(query: &str, body: &str) -> Result<Beacon, KavaError> {
    decode(&BeaconRequest {
        method: Method::Post,
        query,
        body: body.as_bytes(),
        require_service_action: false,
    })
}

fn of_type(event_type: u32, extra: &str) -> Result<Beacon, KavaError> {
    get(&format!("eventType={event_type}&{BASICS}{extra}"))
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 15, 12, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn ctx() -> BeaconContext<'static> {
    BeaconContext {
        now: at(0),
        user_agent: Some(CHROME_ON_WINDOWS),
        country: Some("de"),
    }
}

fn own_session(beacon: &Beacon) -> Assigned {
    Assigned {
        session_id: beacon.session_id.clone(),
        player_session: beacon.session_id.clone(),
        rule: SessionRule::Own,
    }
}

fn event_of(beacon: &Beacon) -> Event {
    beacon.to_event(own_session(beacon), &ctx(), 9).unwrap()
}

#[test]
fn a_get_beacon_decodes_every_field() {
    let referrer = "https%3A%2F%2Fwww.Example.com%2Fcourse%3Fid%3D1";
    let query = format!(
        "service=analytics&action=trackEvent&eventType=99&partnerId=101&entryId=0_node&\
         sessionId=S1&eventIndex=7&rootEntryId=1_path&nodeId=n2&position=12.5&playTimeSum=20&\
         userId=ada+lovelace&referrer={referrer}&playbackType=vod&application=Moodle&\
         clientVer=2.74&customVar1=x&kalsig=abc"
    );
    let beacon = decode(&BeaconRequest {
        method: Method::Get,
        query: &query,
        body: b"",
        require_service_action: true,
    })
    .unwrap();
    assert_eq!(beacon.kind, BeaconKind::Event(EventKind::View, None));
    let event = event_of(&beacon);
    assert_eq!(event.partner_id, 101);
    assert_eq!(event.video_id, "1_path");
    assert_eq!(event.entry_id.as_deref(), Some("0_node"));
    assert_eq!(event.node_id.as_deref(), Some("n2"));
    assert_eq!(event.event_index, 7);
    assert_eq!(event.ts, at(0));
    assert_eq!(event.position, Some(12.5));
    assert_eq!(event.play_time_sum, Some(20.0));
    assert_eq!(event.user_id.as_deref(), Some("ada lovelace"));
    assert_eq!(event.player_session.as_deref(), Some("S1"));
    assert_eq!(event.dedup_key, 9);
    let context = &event.context;
    assert_eq!(context.referrer_domain.as_deref(), Some("example.com"));
    assert_eq!(context.playback_type, Some(PlaybackType::Vod));
    assert_eq!(context.application.as_deref(), Some("Moodle"));
    assert_eq!(context.country.as_deref(), Some("DE"));
    assert_eq!(context.browser.as_deref(), Some("Chrome"));
    assert_eq!(context.device.as_deref(), Some("Desktop"));
}

#[test]
fn a_post_beacon_reads_the_query_and_a_json_body() {
    let body = r#"{"eventIndex": 4, "rootEntryId": "1_path", "nodeId": "n1", "position": 3.25,
        "playTimeSum": 10, "userId": "", "referrer": "https://lms.example.edu/c/9",
        "playbackType": "Live", "customVar": {"a": 1}}"#;
    let beacon = post(
        "service=analytics&action=trackEvent&eventType=99&partnerId=101&entryId=0_n1&sessionId=a:b",
        body,
    )
    .unwrap();
    assert_eq!(beacon.event_index, 4);
    assert_eq!(beacon.video_id(), "1_path");
    assert_eq!(beacon.position, Some(3.25));
    assert_eq!(beacon.play_time_sum, Some(10.0));
    assert_eq!(beacon.user_id, None, "an empty userId is anonymous");
    assert_eq!(beacon.playback_type, Some(PlaybackType::Live));
    let event = event_of(&beacon);
    assert_eq!(
        event.context.referrer_domain.as_deref(),
        Some("lms.example.edu")
    );
}

#[test]
fn a_post_beacon_accepts_a_form_body() {
    let beacon = post(
        "eventType=47&partnerId=101&entryId=0_n1&sessionId=S",
        "eventIndex=1&nodeId=n1&hotspotId=h+1&target=https%3A%2F%2Fshop.example.com%2Fp",
    )
    .unwrap();
    assert_eq!(
        beacon.kind,
        BeaconKind::Event(EventKind::HotspotClick, None)
    );
    assert_eq!(beacon.hotspot_id.as_deref(), Some("h 1"));
    assert_eq!(
        event_of(&beacon).target_url.as_deref(),
        Some("https://shop.example.com/p")
    );
}

#[test]
fn every_event_type_maps_as_documented() {
    use EventKind::*;
    let cases: [(u32, EventKind, Option<u8>); 18] = [
        (1, Impression, None),
        (2, PlayRequest, None),
        (3, Play, None),
        (4, Resume, None),
        (33, Pause, None),
        (34, Replay, None),
        (35, Seek, None),
        (11, Quartile, Some(25)),
        (12, Quartile, Some(50)),
        (13, Quartile, Some(75)),
        (15, Quartile, Some(90)),
        (14, Quartile, Some(100)),
        (99, View, None),
        (44, NodePlay, None),
        (47, HotspotClick, None),
        (48, NodeSwitch, None),
        (98, Error, None),
        (10002, HotspotClick, None),
    ];
    let extra = "&nodeId=n1&fromNodeId=n1&toNodeId=n2&hotspotId=h1&feature=hotspots";
    for (event_type, kind, quartile) in cases {
        let beacon = of_type(event_type, extra).unwrap();
        assert_eq!(
            beacon.kind,
            BeaconKind::Event(kind, quartile),
            "eventType {event_type}"
        );
        let event = event_of(&beacon);
        assert_eq!(event.kind, kind);
        assert_eq!(event.quartile, quartile);
    }
}

#[test]
fn a_node_switch_happens_at_its_from_node_and_keeps_a_stale_hotspot() {
    let beacon = of_type(
        48,
        "&rootEntryId=1_path&nodeId=n9&fromNodeId=n1&toNodeId=n3&hotspotId=old-click",
    )
    .unwrap();
    let event = event_of(&beacon);
    assert_eq!(event.node_id.as_deref(), Some("n1"));
    assert_eq!(event.from_node_id.as_deref(), Some("n1"));
    assert_eq!(event.to_node_id.as_deref(), Some("n3"));
    assert_eq!(event.hotspot_id.as_deref(), Some("old-click"));
}

#[test]
fn interactive_types_require_their_fields() {
    for (event_type, extra, field) in [
        (44, "", "nodeId"),
        (47, "&nodeId=n1", "hotspotId"),
        (48, "&toNodeId=n2", "fromNodeId"),
        (48, "&fromNodeId=n1", "toNodeId"),
        (
            10002,
            "&feature=hotspot",
            "hotspotId (or buttonValue, buttonName)",
        ),
    ] {
        let error = of_type(event_type, extra).unwrap_err();
        assert_eq!(error.field, field, "eventType {event_type}");
        assert!(error.reason.contains(&event_type.to_string()));
    }
}

#[test]
fn button_clicks_count_only_when_the_feature_is_a_hotspot() {
    let clicked = of_type(10002, "&feature=Hotspots&buttonName=Buy&buttonValue=h-buy").unwrap();
    assert_eq!(
        clicked.kind,
        BeaconKind::Event(EventKind::HotspotClick, None)
    );
    assert_eq!(clicked.hotspot_id.as_deref(), Some("h-buy"));
    let named = of_type(10002, "&feature=hotspot&buttonName=h-name").unwrap();
    assert_eq!(named.hotspot_id.as_deref(), Some("h-name"));
    let explicit = of_type(10002, "&feature=hotspot&hotspotId=h7&buttonValue=v").unwrap();
    assert_eq!(explicit.hotspot_id.as_deref(), Some("h7"));
    for extra in ["&feature=share&buttonName=x", "&buttonName=x", ""] {
        let ignored = of_type(10002, extra).unwrap();
        assert_eq!(ignored.kind, BeaconKind::Ignored(Ignored::NotAHotspot));
        assert!(ignored.to_event(own_session(&ignored), &ctx(), 1).is_none());
    }
}

#[test]
fn unknown_types_are_ignored_not_refused() {
    for event_type in [0, 5, 38, 39, 40, 42, 43, 45, 46, 10001, 4_000_000_000] {
        let beacon = of_type(event_type, "").unwrap();
        assert_eq!(
            beacon.kind,
            BeaconKind::Ignored(Ignored::UnknownType),
            "{event_type}"
        );
        assert!(beacon.to_event(own_session(&beacon), &ctx(), 1).is_none());
    }
}

#[test]
fn path_level_types_from_a_node_player_are_ignored() {
    let node_player = "&rootEntryId=1_path&nodeId=n2";
    for event_type in [1, 2, 3] {
        let beacon = get(&format!(
            "eventType={event_type}&partnerId=101&entryId=0_n2&sessionId=P2&eventIndex=1{node_player}"
        ))
        .unwrap();
        assert_eq!(beacon.kind, BeaconKind::Ignored(Ignored::NodePlayerRepeat));
    }
    // The path player's own impression (entryId is the path) is kept.
    let path = of_type(1, "&rootEntryId=1_path").unwrap();
    assert_eq!(path.kind, BeaconKind::Event(EventKind::Impression, None));
}

#[test]
fn missing_required_parameters_are_named() {
    let full = [
        ("eventType", "3"),
        ("partnerId", "101"),
        ("entryId", "1_path"),
        ("sessionId", "S"),
        ("eventIndex", "3"),
    ];
    for (missing, _) in full {
        let query: Vec<String> = full
            .iter()
            .filter(|(name, _)| *name != missing)
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let error = get(&query.join("&")).unwrap_err();
        assert_eq!(error.field, missing);
        assert!(error.reason.contains("required"), "{error}");
        let empty = format!("{}&{missing}=", query.join("&"));
        assert_eq!(get(&empty).unwrap_err().field, missing);
    }
}

#[test]
fn malformed_numbers_are_named() {
    for (query, field) in [
        (format!("eventType=abc&{BASICS}"), "eventType"),
        (
            "eventType=3&partnerId=-1&entryId=e&sessionId=s&eventIndex=1".to_owned(),
            "partnerId",
        ),
        (
            "eventType=3&partnerId=1e20&entryId=e&sessionId=s&eventIndex=1".to_owned(),
            "partnerId",
        ),
        (
            "eventType=3&partnerId=1&entryId=e&sessionId=s&eventIndex=1.5".to_owned(),
            "eventIndex",
        ),
        (format!("eventType=99&{BASICS}&position=NaN"), "position"),
        (format!("eventType=99&{BASICS}&position=12s"), "position"),
        (
            format!("eventType=99&{BASICS}&playTimeSum=-3"),
            "playTimeSum",
        ),
        (
            format!("eventType=99&{BASICS}&playTimeSum=inf"),
            "playTimeSum",
        ),
    ] {
        let error = get(&query).unwrap_err();
        assert_eq!(error.field, field, "{query}");
        assert!(error.reason.starts_with("expected"), "{error}");
    }
    // Whole numbers written as decimals, as some JSON encoders do, are fine.
    let lenient = post(
        "eventType=3.0&partnerId=101&entryId=e&sessionId=s",
        r#"{"eventIndex": 3.0}"#,
    )
    .unwrap();
    assert_eq!((lenient.event_type, lenient.event_index), (3, 3));
}

#[test]
fn a_live_offset_is_no_position() {
    let beacon = of_type(99, "&position=-2.5&playbackType=live").unwrap();
    assert_eq!(beacon.position, None);
    let unknown_playback = of_type(99, "&playbackType=ad").unwrap();
    assert_eq!(unknown_playback.playback_type, None);
}

#[test]
fn overlong_ids_are_refused() {
    let long = "x".repeat(MAX_TEXT_CHARS + 1);
    let error = of_type(44, &format!("&nodeId={long}")).unwrap_err();
    assert_eq!(error.field, "nodeId");
}

#[test]
fn raw_and_base64_referrers_give_the_domain() {
    let page = "https://www.school.example.org/lesson?id=4&lang=en";
    let encoded: String = form_urlencoded::byte_serialize(page.as_bytes()).collect();
    let raw = of_type(1, &format!("&referrer={encoded}")).unwrap();
    // Old players send Base64, whose `+` a careless encoder leaves as is and
    // the query string then turns into a space.
    let base64 = STANDARD.encode(format!("{page}>>>"));
    assert!(base64.contains('+'), "{base64}");
    let old = of_type(1, &format!("&referrer={base64}")).unwrap();
    for beacon in [raw, old] {
        assert_eq!(
            event_of(&beacon).context.referrer_domain.as_deref(),
            Some("school.example.org")
        );
    }
    let garbage = of_type(1, "&referrer=about%3Ablank").unwrap();
    assert_eq!(event_of(&garbage).context.referrer_domain, None);
}

#[test]
fn the_index_endpoint_needs_the_analytics_service() {
    let request = |query: &str| {
        decode(&BeaconRequest {
            method: Method::Get,
            query,
            body: b"",
            require_service_action: true,
        })
    };
    let wrong = request(&format!("service=media&action=list&eventType=3&{BASICS}"));
    assert_eq!(wrong.unwrap_err().field, "service");
    let right = request(&format!(
        "service=Analytics&action=TRACKEVENT&eventType=3&{BASICS}"
    ));
    assert!(right.is_ok());
}

#[test]
fn a_json_body_that_is_not_json_is_refused() {
    let error = post(
        "eventType=3&partnerId=1&entryId=e&sessionId=s",
        "{eventIndex:",
    )
    .unwrap_err();
    assert_eq!(error.field, "(body)");
}

#[test]
fn retries_hash_alike_and_everything_else_differs() {
    let request = |method, query: &'static str, body: &'static [u8]| BeaconRequest {
        method,
        query,
        body,
        require_service_action: false,
    };
    let first = request(
        Method::Post,
        "eventType=99&sessionId=s",
        b"{\"eventIndex\":1}",
    );
    let retry = request(
        Method::Post,
        "eventType=99&sessionId=s",
        b"{\"eventIndex\":1}",
    );
    assert_eq!(first.retry_hash(), retry.retry_hash());
    for other in [
        request(
            Method::Get,
            "eventType=99&sessionId=s",
            b"{\"eventIndex\":1}",
        ),
        request(
            Method::Post,
            "eventType=99&sessionId=s",
            b"{\"eventIndex\":2}",
        ),
        request(
            Method::Post,
            "eventType=99&sessionId=t",
            b"{\"eventIndex\":1}",
        ),
        // The boundary between query and body is part of the identity.
        request(
            Method::Post,
            "eventType=99&sessionId=s{",
            b"\"eventIndex\":1}",
        ),
    ] {
        assert_ne!(first.retry_hash(), other.retry_hash());
    }
    let hash = first.retry_hash();
    assert_ne!(stored_dedup_key(hash, at(0)), stored_dedup_key(hash, at(1)));
    assert_eq!(stored_dedup_key(hash, at(0)), stored_dedup_key(hash, at(0)));
}

#[test]
fn fingerprints_separate_clients() {
    let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
    let a = client_fingerprint(ip("192.0.2.1"), Some("UA"));
    assert_eq!(a, client_fingerprint(ip("192.0.2.1"), Some("UA")));
    assert_ne!(a, client_fingerprint(ip("192.0.2.2"), Some("UA")));
    assert_ne!(a, client_fingerprint(ip("192.0.2.1"), Some("UA2")));
    assert_ne!(a, client_fingerprint(ip("2001:db8::1"), Some("UA")));
}

mod sessions {
    use super::*;

    const CLIENT: u64 = 1;
    const OTHER_CLIENT: u64 = 2;

    fn beacon(event_type: u32, session: &str, index: u32, extra: &str) -> Beacon {
        get(&format!(
            "eventType={event_type}&partnerId=101&sessionId={session}&eventIndex={index}{extra}"
        ))
        .unwrap()
    }

    fn path_beacon(event_type: u32, session: &str, extra: &str) -> Beacon {
        let index = if matches!(event_type, 44 | 47 | 48) {
            1
        } else {
            event_type
        };
        beacon(
            event_type,
            session,
            index,
            &format!("&entryId=1_path&rootEntryId=1_path{extra}"),
        )
    }

    fn node_beacon(event_type: u32, session: &str, index: u32, node: &str) -> Beacon {
        beacon(
            event_type,
            session,
            index,
            &format!("&entryId=0_{node}&rootEntryId=1_path&nodeId={node}&playTimeSum=10"),
        )
    }

    #[test]
    fn new_players_share_the_page_guid() {
        let mut sessions = KavaSessions::default();
        let path = sessions.assign(&path_beacon(1, "page:p0", ""), CLIENT, at(0));
        let node = sessions.assign(&node_beacon(99, "page:p1", 2, "n1"), OTHER_CLIENT, at(1));
        assert_eq!(path.session_id, "page");
        assert_eq!(path.rule, SessionRule::PathLevel);
        assert_eq!(node.session_id, "page");
        assert_eq!(node.rule, SessionRule::Announced);
        assert_eq!(node.player_session, "page:p1");
    }

    /// Regression: players older than v3.17 send `<guid>:<guid>` ids with
    /// both halves fresh per node player; taking the first half as the
    /// session split every node player into a session of its own.
    #[test]
    fn old_players_with_guid_pairs_are_joined_by_their_node_play() {
        let mut sessions = KavaSessions::default();
        let path = sessions.assign(&path_beacon(3, "a0:b0", ""), CLIENT, at(0));
        sessions.assign(&path_beacon(44, "a0:b0", "&nodeId=n1"), CLIENT, at(1));
        let node = sessions.assign(&node_beacon(99, "a1:b1", 1, "n1"), CLIENT, at(2));
        assert_eq!(path.session_id, "a0");
        assert_eq!(
            (
                node.session_id.as_str(),
                node.rule,
                node.player_session.as_str()
            ),
            ("a0", SessionRule::Joined, "a1:b1")
        );
        // The first player's own node beacons carry the announced id.
        let first = sessions.assign(&node_beacon(99, "a0:b0", 2, "n1"), CLIENT, at(3));
        assert_eq!(
            (first.session_id.as_str(), first.rule),
            ("a0", SessionRule::Announced)
        );
        // An announcement is per video: the same key elsewhere joins nothing.
        let elsewhere = sessions.assign(
            &beacon(
                99,
                "a0:b9",
                2,
                "&entryId=0_x&rootEntryId=1_other&nodeId=x&playTimeSum=1",
            ),
            CLIENT,
            at(4),
        );
        assert_eq!(elsewhere.rule, SessionRule::Unjoined);
    }

    #[test]
    fn a_node_players_own_play_announces_nothing() {
        let mut sessions = KavaSessions::default();
        sessions.assign(&path_beacon(44, "FIRST", "&nodeId=n1"), CLIENT, at(0));
        let repeat = node_beacon(3, "NODE1", 1, "n1");
        assert!(repeat.is_node_player_repeat());
        sessions.assign(&repeat, CLIENT, at(1));
        let view = sessions.assign(&node_beacon(99, "NODE1", 2, "n1"), CLIENT, at(2));
        assert_eq!(
            (view.session_id.as_str(), view.rule),
            ("FIRST", SessionRule::Joined)
        );
    }

    #[test]
    fn old_node_players_join_the_latest_node_play_of_their_client() {
        let mut sessions = KavaSessions::default();
        let first = sessions.assign(&path_beacon(44, "FIRST", "&nodeId=n1"), CLIENT, at(0));
        assert_eq!(
            (first.session_id.as_str(), first.rule),
            ("FIRST", SessionRule::PathLevel)
        );
        // Another viewer, another client, the same node.
        sessions.assign(
            &path_beacon(44, "STRANGER", "&nodeId=n1"),
            OTHER_CLIENT,
            at(1),
        );
        let joined = sessions.assign(&node_beacon(99, "NODE1", 2, "n1"), CLIENT, at(2));
        assert_eq!(
            (joined.session_id.as_str(), joined.rule),
            ("FIRST", SessionRule::Joined)
        );
        assert_eq!(joined.player_session, "NODE1");
        let theirs = sessions.assign(&node_beacon(99, "NODE1B", 2, "n1"), OTHER_CLIENT, at(3));
        assert_eq!(theirs.session_id, "STRANGER");
        // A later 44 for the same node from the same client (a second tab)
        // takes new players, but NODE1 stays where it was joined.
        sessions.assign(&path_beacon(44, "SECOND", "&nodeId=n1"), CLIENT, at(4));
        let stays = sessions.assign(&node_beacon(99, "NODE1", 3, "n1"), CLIENT, at(5));
        assert_eq!(stays.session_id, "FIRST");
        let new_player = sessions.assign(&node_beacon(99, "NODE1C", 1, "n1"), CLIENT, at(6));
        assert_eq!(new_player.session_id, "SECOND");
    }

    #[test]
    fn unjoinable_node_beacons_keep_their_own_session() {
        let mut sessions = KavaSessions::default();
        let lonely = sessions.assign(&node_beacon(99, "NODE9", 2, "n9"), CLIENT, at(0));
        assert_eq!(
            (lonely.session_id.as_str(), lonely.rule),
            ("NODE9", SessionRule::Unjoined)
        );
        // Once the 44 has arrived, the same player's next beacons join it.
        sessions.assign(&path_beacon(44, "FIRST", "&nodeId=n9"), CLIENT, at(1));
        let later = sessions.assign(&node_beacon(99, "NODE9", 3, "n9"), CLIENT, at(2));
        assert_eq!(later.session_id, "FIRST");
    }

    #[test]
    fn the_memory_expires() {
        let mut sessions = KavaSessions::new(100, Duration::minutes(30));
        sessions.assign(&path_beacon(44, "FIRST", "&nodeId=n1"), CLIENT, at(0));
        let late = sessions.assign(&node_beacon(99, "NODE1", 2, "n1"), CLIENT, at(31 * 60));
        assert_eq!(late.rule, SessionRule::Unjoined);
    }

    #[test]
    fn plain_players_keep_their_session() {
        let mut sessions = KavaSessions::default();
        let plain = sessions.assign(&beacon(99, "PLAIN", 5, "&entryId=0_vod"), CLIENT, at(0));
        assert_eq!(
            (plain.session_id.as_str(), plain.rule),
            ("PLAIN", SessionRule::Own)
        );
    }

    #[test]
    fn a_reset_starts_a_new_player_session() {
        let mut sessions = KavaSessions::default();
        let players: Vec<String> = [(99, 3), (99, 4), (33, 5), (4, 1), (99, 2), (99, 1), (99, 2)]
            .into_iter()
            .enumerate()
            .map(|(second, (event_type, index))| {
                let assigned = sessions.assign(
                    &node_beacon(event_type, "page:n1", index, "n1"),
                    CLIENT,
                    at(second as i64),
                );
                assigned.player_session
            })
            .collect();
        assert_eq!(
            players,
            [
                "page:n1",
                "page:n1",
                "page:n1",
                "page:n1#1",
                "page:n1#1",
                "page:n1#2",
                "page:n1#2"
            ]
        );
    }

    #[test]
    fn frozen_indexes_of_path_beacons_are_no_reset() {
        let mut sessions = KavaSessions::default();
        let assigned: Vec<Assigned> = [
            path_beacon(1, "FIRST", ""),
            path_beacon(2, "FIRST", ""),
            path_beacon(3, "FIRST", ""),
            path_beacon(44, "FIRST", "&nodeId=n1"),
            path_beacon(48, "FIRST", "&fromNodeId=n1&toNodeId=n2"),
            path_beacon(47, "FIRST", "&nodeId=n2&hotspotId=h"),
        ]
        .iter()
        .enumerate()
        .map(|(second, beacon)| sessions.assign(beacon, CLIENT, at(second as i64)))
        .collect();
        assert!(
            assigned
                .iter()
                .all(|a| a.player_session == "FIRST" && a.session_id == "FIRST"),
            "{assigned:?}"
        );
    }
}

/// Regression: path-level impression, play request and play carrying the
/// start node's `nodeId` were stored as events of that node, so everyone who
/// only loaded the player counted as a viewer of the start node.
#[test]
fn path_level_beacons_with_the_start_node_id_are_whole_video_events() {
    for event_type in [1, 2, 3] {
        let beacon = of_type(event_type, "&rootEntryId=1_path&nodeId=n-start").unwrap();
        let event = event_of(&beacon);
        assert_eq!(event.node_id, None, "eventType {event_type}");
    }
    let node_play = of_type(44, "&rootEntryId=1_path&nodeId=n-start").unwrap();
    assert_eq!(event_of(&node_play).node_id.as_deref(), Some("n-start"));
}

/// Regression: an `eventIndex` sent as a JSON object was flattened away and
/// reported as absent; it is a value of the wrong shape, named as such.
#[test]
fn a_field_sent_as_an_object_is_named_with_its_shape() {
    let query = "eventType=99&partnerId=101&entryId=0_n&sessionId=S";
    let error = post(query, r#"{"eventIndex": {"value": 3}}"#).unwrap_err();
    assert_eq!(error.field, "eventIndex");
    assert!(error.reason.contains("got an object"), "{}", error.reason);
    let error = post(query, r#"{"eventIndex": 2, "position": [1, 2]}"#).unwrap_err();
    assert_eq!(error.field, "position");
    assert!(error.reason.contains("got an array"), "{}", error.reason);
    // Nested objects the protocol does send are still flattened.
    let beacon = post(
        query,
        r#"{"eventIndex": 2, "playerInfo": {"version": "3.17"}}"#,
    );
    assert!(beacon.is_ok(), "{beacon:?}");
}
