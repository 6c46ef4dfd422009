//! `kill -9` of the server during a stream of acknowledged batches loses none
//! of them; thirty kills under concurrent batches and beacons lose none and
//! double none.

use std::sync::{Arc, Mutex};

use pathlens_store::Store;
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

use crate::support::{Server, token};

/// `count` view events of `session`, as NDJSON.
fn views(session: &str, count: usize) -> String {
    (0..count)
        .map(|i| format!(r#"{{"partner_id":1,"video_id":"v","session_id":"{session}","event_index":{i},"kind":"view","node_id":"n","entry_id":"e","play_time_sum":{i}}}"#))
        .collect::<Vec<_>>()
        .join("\n")
}

fn batch(number: usize) -> String {
    views(&format!("b{number}"), 200)
}

/// An HTTP client that takes every status as an answer.
fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .new_agent()
}

#[test]
fn acknowledged_batches_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let write = token(dir.path(), "write");
    let mut server = Server::start(dir.path());
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let acknowledged = acknowledged.clone();
        let base = server.base.clone();
        std::thread::spawn(move || {
            let agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .new_agent();
            for number in 0..10_000 {
                let answer = agent
                    .post(format!("{base}/api/v1/events"))
                    .header("Authorization", format!("Bearer {write}"))
                    .send(batch(number));
                match answer {
                    Ok(response) if response.status() == 200 => {
                        acknowledged.lock().unwrap().push(number)
                    }
                    _ => break,
                }
            }
        })
    };
    // Let a good number of batches be acknowledged, then kill without warning.
    while acknowledged.lock().unwrap().len() < 40 {
        std::thread::yield_now();
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    sender.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 40);
    let store =
        DuckDbStore::open(dir.path(), &DuckDbConfig::default()).expect("reopen after kill -9");
    let stored = store.export(Some(1), 0, usize::MAX >> 1).unwrap();
    let sessions: std::collections::HashSet<String> =
        stored.iter().map(|e| e.session_id.clone()).collect();
    for number in &acknowledged {
        assert!(
            sessions.contains(&format!("b{number}")),
            "acknowledged batch {number} lost"
        );
    }
    let complete = acknowledged.iter().all(|n| {
        stored
            .iter()
            .filter(|e| e.session_id == format!("b{n}"))
            .count()
            == 200
    });
    assert!(complete, "every acknowledged batch is whole");
}

/// SIGTERM, as service managers stop a server, shuts it down cleanly: it
/// exits with success, every acknowledged beacon is in the database, and
/// the intake log that acknowledged them is gone.
#[cfg(unix)]
#[test]
fn sigterm_stores_what_was_acknowledged_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    token(dir.path(), "write");
    let mut server = Server::start(dir.path());
    let agent = client();
    for index in 1..=5 {
        let answer = agent
            .get(format!("{}/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=v&sessionId=term&eventIndex={index}", server.base))
            .call()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let intake = dir.path().join("intake");
    assert!(std::fs::read_dir(&intake).unwrap().next().is_some());
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    // No log is left to replay: the beacons were stored at shutdown.
    assert_eq!(std::fs::read_dir(&intake).unwrap().count(), 0);
    let store = DuckDbStore::open(dir.path(), &DuckDbConfig::default()).unwrap();
    let stored = store.export(Some(1), 0, 1_000).unwrap();
    assert_eq!(stored.iter().filter(|e| e.session_id == "term").count(), 5);
}

/// What the writers of the many-kills test share: the server's current
/// address (empty while it is down) and what was acknowledged.
#[derive(Default)]
struct Traffic {
    base: std::sync::RwLock<String>,
    stop: std::sync::atomic::AtomicBool,
    batches: Mutex<Vec<String>>,
    beacons: Mutex<Vec<String>>,
    /// Beacons sent without an answer (the server died under them).
    unanswered_beacons: Mutex<Vec<String>>,
}

/// Sends batches until told to stop; a batch without an answer is sent
/// again (to the restarted server) until it is acknowledged, as a client
/// that retries does: deduplication must keep one copy.
fn batch_writer(traffic: &Traffic, writer: usize, write: &str) {
    let agent = client();
    let mut number = 0;
    // A batch sent without an answer may be stored: the writer stops only
    // once its last batch was acknowledged.
    let mut pending = false;
    while pending || !traffic.stop.load(std::sync::atomic::Ordering::Relaxed) {
        let session = format!("w{writer}-{number}");
        let base = traffic.base.read().unwrap().clone();
        if base.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        let answer = agent
            .post(format!("{base}/api/v1/events"))
            .header("Authorization", format!("Bearer {write}"))
            .send(views(&session, 50));
        match answer {
            Ok(response) if response.status() == 200 => {
                traffic.batches.lock().unwrap().push(session);
                number += 1;
                pending = false;
            }
            // Down, or refusing while it starts: retry the same batch.
            _ => {
                pending = true;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

/// Sends KAVA beacons until told to stop. A player does not resend a
/// beacon, so one without an answer is noted and not sent again.
fn beacon_writer(traffic: &Traffic, writer: usize) {
    let agent = client();
    let mut number = 0;
    while !traffic.stop.load(std::sync::atomic::Ordering::Relaxed) {
        let base = traffic.base.read().unwrap().clone();
        if base.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        }
        let session = format!("k{writer}-{number}");
        number += 1;
        let answer = agent
            .get(format!("{base}/api_v3/service/analytics/action/trackEvent?eventType=1&partnerId=1&entryId=v&sessionId={session}&eventIndex=1"))
            .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
            .call();
        match answer {
            Ok(response) if response.status() == 200 => {
                traffic.beacons.lock().unwrap().push(session)
            }
            _ => traffic.unanswered_beacons.lock().unwrap().push(session),
        }
    }
}

#[test]
fn thirty_kills_under_concurrent_batches_and_beacons_lose_and_double_nothing() {
    const KILLS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let write = token(dir.path(), "write");
    let unlimited = [
        ("PATHLENS_RATE_LIMIT_PER_KEY", "0"),
        ("PATHLENS_BEACON_RATE_LIMIT", "0"),
    ];
    let traffic = Arc::new(Traffic::default());
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let traffic = traffic.clone();
            let write = write.clone();
            std::thread::spawn(move || batch_writer(&traffic, w, &write))
        })
        .chain((0..2).map(|w| {
            let traffic = traffic.clone();
            std::thread::spawn(move || beacon_writer(&traffic, w))
        }))
        .collect();
    for kill in 0..KILLS {
        let mut server = Server::start_with(dir.path(), &unlimited);
        *traffic.base.write().unwrap() = server.base.clone();
        let acknowledged =
            |t: &Traffic| t.batches.lock().unwrap().len() + t.beacons.lock().unwrap().len();
        let before = acknowledged(&traffic);
        let started = std::time::Instant::now();
        while acknowledged(&traffic) < before + 30 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "no progress after restart {kill}"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        server.child.kill().unwrap(); // SIGKILL, with requests in flight
        server.child.wait().unwrap();
        traffic.base.write().unwrap().clear();
    }
    // One last server to take the batches still being retried.
    let server = Server::start_with(dir.path(), &unlimited);
    *traffic.base.write().unwrap() = server.base.clone();
    std::thread::sleep(std::time::Duration::from_millis(300));
    traffic
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.join().unwrap();
    }
    drop(server);

    let store =
        DuckDbStore::open(dir.path(), &DuckDbConfig::default()).expect("reopen after kill -9");
    let stored = store.export(Some(1), 0, usize::MAX >> 1).unwrap();
    let mut per_session: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for event in &stored {
        *per_session.entry(event.session_id.as_str()).or_default() += 1;
    }
    let batches = traffic.batches.lock().unwrap().clone();
    let beacons = traffic.beacons.lock().unwrap().clone();
    let unanswered = traffic.unanswered_beacons.lock().unwrap().clone();
    for session in &batches {
        assert_eq!(
            per_session.get(session.as_str()),
            Some(&50),
            "batch {session}: stored once, whole"
        );
    }
    for session in &beacons {
        assert_eq!(
            per_session.get(session.as_str()),
            Some(&1),
            "acknowledged beacon {session}"
        );
    }
    let landed_unanswered = unanswered
        .iter()
        .filter(|s| per_session.contains_key(s.as_str()))
        .count();
    for session in &unanswered {
        assert!(
            per_session.get(session.as_str()).is_none_or(|n| *n == 1),
            "beacon {session} doubled"
        );
    }
    let batch_sessions = per_session.keys().filter(|s| s.starts_with('w')).count();
    assert_eq!(
        batch_sessions,
        batches.len(),
        "no batch stored that was never acknowledged (every one was retried until it was)"
    );
    assert_eq!(
        stored.len(),
        batches.len() * 50 + beacons.len() + landed_unanswered,
        "the exact count"
    );
    eprintln!(
        "{KILLS} kills: {} batches ({} events) and {} beacons acknowledged, all present once; {} beacons unanswered at a kill, {} of them stored; {} events in all",
        batches.len(),
        batches.len() * 50,
        beacons.len(),
        unanswered.len(),
        landed_unanswered,
        stored.len()
    );
}

/// Whether the import writing to `data` has made something durable: a
/// record in the intake log, or a megabyte of DuckDB's write-ahead log.
fn something_durable(data: &std::path::Path) -> bool {
    let intake = std::fs::read_dir(data.join("intake"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let mut head = [0u8; 4];
            std::fs::File::open(entry.path())
                .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut head))
                .is_ok_and(|()| head != [0; 4])
        });
    let wal = std::fs::metadata(data.join("pathlens.duckdb.wal")).is_ok_and(|m| m.len() > 1 << 20);
    intake || wal
}

/// `kill -9` of `pathlens import` part way through its input, then the
/// same import again: every event is stored exactly once. Batches of 500
/// events go through the intake log, batches of 5,000 straight to the
/// database.
#[test]
fn an_import_killed_part_way_and_run_again_stores_every_event_once() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let sessions = 400;
    let per_session = 250;
    let lines: Vec<String> = (0..sessions)
        .map(|n| views(&format!("i{n}"), per_session))
        .collect();
    let text = lines.join("\n") + "\n";
    let half = lines[..sessions / 2].join("\n") + "\n";
    for batch in ["500", "5000"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.ndjson");
        std::fs::write(&file, &text).unwrap();
        let data = dir.path().join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_pathlens"))
            .args(["import", "-", "--batch", batch, "--data-dir"])
            .arg(&data)
            .env("PATHLENS_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the import");
        // Half the input, the pipe left open: the import stores what it
        // has and waits for more, and is killed once something is durable.
        let mut input = child.stdin.take().unwrap();
        input.write_all(half.as_bytes()).unwrap();
        input.flush().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !something_durable(&data) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(input);
        let stored_before = {
            let store = DuckDbStore::open(&data, &DuckDbConfig::default()).expect("reopen");
            store.event_count().unwrap()
        };
        eprintln!("batch {batch}: {stored_before} events stored before the second import");
        let out = crate::support::ok(&data, &["import", file.to_str().unwrap(), "--batch", batch]);
        let count = |label: &str| -> u64 {
            out.split(", ")
                .find_map(|part| part.trim().strip_suffix(label))
                .and_then(|n| n.rsplit(' ').next())
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {label} in {out}"))
        };
        let total = (sessions * per_session) as u64;
        assert_eq!(count(" duplicates"), stored_before, "batch {batch}: {out}");
        assert_eq!(
            count(" accepted") + stored_before,
            total,
            "batch {batch}: {out}"
        );
        let store = DuckDbStore::open(&data, &DuckDbConfig::default()).expect("reopen");
        assert_eq!(store.event_count().unwrap(), total, "batch {batch}");
    }
}
