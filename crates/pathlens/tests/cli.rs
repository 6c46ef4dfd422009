//! CLI commands on a data directory.

use crate::support::{Server, ok, pathlens, token};

/// A Kaltura Path JSON with deleted history.
const KALTURA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../pathlens-model/tests/fixtures/kaltura-path.json"
);

#[test]
fn videos_keys_import_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fixture = KALTURA_PATH;
    let added = ok(
        &data,
        &[
            "videos",
            "add",
            fixture,
            "--id",
            "onboarding",
            "--name",
            "Onboarding",
        ],
    );
    assert!(added.contains("stored video onboarding"), "{added}");
    let shown = ok(&data, &["videos", "show", "onboarding"]);
    assert!(
        shown.contains("n-deep") && shown.contains("Old pricing"),
        "{shown}"
    );
    assert!(ok(&data, &["videos", "list"]).contains("Onboarding"));

    let events = dir.path().join("events.ndjson");
    let mut lines = Vec::new();
    for session in 0..5 {
        let user = if session % 2 == 0 {
            r#","user_id":"u1""#
        } else {
            ""
        };
        let country = if session < 3 { "FR" } else { "DE" };
        lines.push(format!(r#"{{"partner_id":1,"video_id":"onboarding","session_id":"s{session}","event_index":1,"kind":"impression","ts":"2026-03-10T10:00:00Z","country":"{country}"{user}}}"#));
        lines.push(format!(r#"{{"partner_id":1,"video_id":"onboarding","session_id":"s{session}","event_index":2,"kind":"play","ts":"2026-03-10T10:00:01Z","country":"{country}"{user}}}"#));
    }
    lines.push(lines[0].clone());
    lines.push(r#"{"partner_id":1,"video_id":"onboarding","session_id":"x","event_index":1,"kind":"jump"}"#.to_string());
    std::fs::write(&events, lines.join("\n")).unwrap();
    let summary = ok(&data, &["import", events.to_str().unwrap()]);
    assert!(
        summary.contains("10 accepted, 1 duplicates, 1 rejected"),
        "{summary}"
    );
    assert!(summary.contains("line 12: kind"), "{summary}");
    // An import that brought most of what is stored compacts the database;
    // one that added nothing does not.
    assert!(summary.contains("compacted the database"), "{summary}");
    let again = ok(&data, &["import", events.to_str().unwrap()]);
    assert!(
        again.contains("0 accepted, 11 duplicates, 1 rejected") && !again.contains("compacted"),
        "{again}"
    );
    let compacted = ok(&data, &["compact"]);
    assert!(compacted.contains("compacted the database"), "{compacted}");

    let csv = ok(
        &data,
        &[
            "report",
            "totals",
            "--video",
            "onboarding",
            "--from",
            "2026-03-10",
            "--to",
            "2026-03-10",
            "--tz",
            "Asia/Kolkata",
            "--format",
            "csv",
        ],
    );
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "impressions,plays,unique_viewers,minutes_viewed,avg_view_time,path_completion_rate"
    );
    assert!(rows.next().unwrap().starts_with("5,5,2,0.0,"), "{csv}");
    let table = ok(
        &data,
        &[
            "report",
            "nodes",
            "--video",
            "onboarding",
            "--from",
            "2026-03-10",
            "--to",
            "2026-03-10",
        ],
    );
    assert!(
        table.contains("Architecture deep dive") && table.contains("—"),
        "{table}"
    );
    let breakdown = ok(
        &data,
        &[
            "report",
            "breakdown",
            "--video",
            "onboarding",
            "--dimension",
            "country",
            "--from",
            "2026-03-10",
            "--to",
            "2026-03-10",
            "--format",
            "csv",
        ],
    );
    let mut rows = breakdown.lines();
    assert_eq!(
        rows.next().unwrap(),
        "value,plays,share_of_plays,unique_viewers,minutes_viewed"
    );
    assert!(
        rows.next().unwrap().starts_with("FR,3,0.6,2,"),
        "{breakdown}"
    );
    assert!(
        rows.next().unwrap().starts_with("DE,2,0.4,2,"),
        "{breakdown}"
    );
    let bad = pathlens(
        &data,
        &[
            "report",
            "totals",
            "--video",
            "onboarding",
            "--filter",
            "colour=red",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("colour"));

    let admin = token(&data, "admin");
    assert!(admin.starts_with("pla_"));
    let listed = ok(&data, &["keys", "list"]);
    let id = listed
        .lines()
        .find(|l| l.contains("admin"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(ok(&data, &["keys", "revoke", &id]).contains("revoked"));
}

#[test]
fn demo_prepares_data_without_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = ok(
        &data,
        &[
            "demo",
            "--days",
            "3",
            "--sessions-per-day",
            "5",
            "--no-serve",
        ],
    );
    assert!(out.contains("demo data: 3 videos"), "{out}");
    assert!(out.contains("admin token: pla_"), "{out}");
    // A second run replaces the demo directory it made.
    ok(
        &data,
        &[
            "demo",
            "--days",
            "2",
            "--sessions-per-day",
            "5",
            "--no-serve",
        ],
    );
    let report = ok(
        &data,
        &[
            "report",
            "totals",
            "--video",
            "onboarding",
            "--range",
            "last_7_days",
            "--format",
            "json",
        ],
    );
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(
        json["rows"][0]["impressions"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn config_generate_prints_a_valid_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["config", "generate"]);
    let path = dir.path().join("pathlens.toml");
    std::fs::write(&path, &out).unwrap();
    let listed = ok(
        &dir.path().join("d"),
        &["--config", path.to_str().unwrap(), "videos", "list"],
    );
    assert!(listed.contains("Id"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"nowhere\"\nwrite_queue = 0\n").unwrap();
    let output = pathlens(
        dir.path(),
        &["--config", bad.to_str().unwrap(), "videos", "list"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("listen") && stderr.contains("write_queue"),
        "{stderr}"
    );
}

/// A command on a data directory a server holds is refused with the command
/// that works through that server, and that command works.
#[test]
fn a_held_data_directory_names_the_command_to_use_instead() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let admin = token(&data, "admin");
    let server = Server::start(&data);
    // Compaction needs the data directory to itself.
    let compact = pathlens(&data, &["compact"]);
    assert!(!compact.status.success());
    let message = String::from_utf8_lossy(&compact.stderr);
    assert!(
        message.contains("is in use") && message.contains("stop it, then compact"),
        "{message}"
    );
    let refused = pathlens(&data, &["videos", "list"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains(&format!("in use by the pathlens server at {}", server.base)),
        "{message}"
    );
    let command = message
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pathlens "))
        .unwrap_or_else(|| panic!("no command in: {message}"));
    assert!(
        command.contains(&format!("--server {}", server.base)) && command.contains("videos list"),
        "{command}"
    );
    // The command as printed, with the token in PATHLENS_TOKEN.
    let words: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(|w| w.replace("\"$PATHLENS_TOKEN\"", &admin))
        .collect();
    let through = std::process::Command::new(env!("CARGO_BIN_EXE_pathlens"))
        .args(&words)
        .env_remove("PATHLENS_CONFIG")
        .output()
        .unwrap();
    assert!(
        through.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&through.stderr)
    );
}

#[test]
fn a_report_on_a_data_directory_without_videos_says_so_and_where_the_demo_is() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let missing = pathlens(
        &data,
        &[
            "report",
            "totals",
            "--video",
            "onboarding",
            "--range",
            "last_30_days",
        ],
    );
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("no video \"onboarding\""), "{stderr}");
    assert!(stderr.contains("holds no videos"), "{stderr}");
    assert!(stderr.contains("./pathlens-demo"), "{stderr}");
    // With a video stored, a wrong id is only that.
    let fixture = KALTURA_PATH;
    ok(&data, &["videos", "add", fixture, "--id", "tour"]);
    let wrong = pathlens(&data, &["report", "totals", "--video", "onboarding"]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("no video \"onboarding\""), "{stderr}");
    assert!(!stderr.contains("holds no videos"), "{stderr}");
}
