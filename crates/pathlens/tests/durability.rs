//! `kill -9` of the server during a stream of acknowledged batches loses none
//! of them.

use std::sync::{Arc, Mutex};

use pathlens_store::Store;
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

use crate::support::{Server, token};

fn batch(number: usize) -> String {
    (0..200)
        .map(|i| format!(r#"{{"partner_id":1,"video_id":"v","session_id":"b{number}","event_index":{i},"kind":"view","node_id":"n","entry_id":"e","play_time_sum":{i}}}"#))
        .collect::<Vec<_>>()
        .join("\n")
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
