//! The embedded store on a filesystem that runs out of space: a tmpfs of a
//! few megabytes mounted for the test. Mounting needs root; without it the
//! tests say so and pass, unless `PATHLENS_REQUIRE_MOUNT_TESTS=1` (set by
//! `scripts/test`) demands them.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pathlens_model::{Event, EventKind};
use pathlens_store::conformance::sample_event;
use pathlens_store::{Store, StoreErrorKind};
use pathlens_store_duckdb::{DuckDbConfig, DuckDbStore};

/// A size-limited tmpfs, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        match status {
            Ok(output) if output.status.success() => Some(SmallDisk { dir }),
            other => {
                let why = match other {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
                    Err(error) => error.to_string(),
                };
                assert!(
                    std::env::var("PATHLENS_REQUIRE_MOUNT_TESTS").as_deref() != Ok("1"),
                    "cannot mount a tmpfs for the full-disk tests: {why}"
                );
                eprintln!("skipped: cannot mount a tmpfs ({why}); run as root to test a full disk");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Fills every free byte with a file, returning its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = File::create(&path).expect("create filler");
        for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
            let block = vec![0u8; chunk];
            while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn batch(tag: &str, count: u32) -> Vec<Event> {
    let salt = u64::from(tag.bytes().map(u32::from).sum::<u32>()) << 32;
    (0..count)
        .map(|i| {
            let mut event = sample_event(1, "v", &format!("{tag}-{}", i / 10), i, EventKind::View);
            event.user_id = Some(format!("viewer-{tag}-{i}-{}", "x".repeat(40)));
            event.dedup_key = salt + u64::from(i);
            event
        })
        .collect()
}

/// The store committing every append to the database itself: these tests
/// are about the database meeting a full disk (the intake log's segments
/// are written in full when created, so it keeps acknowledging into the
/// space it holds).
fn open(disk: &SmallDisk) -> DuckDbStore {
    let config = DuckDbConfig {
        intake: false,
        ..DuckDbConfig::default()
    };
    DuckDbStore::open(&disk.data(), &config).expect("open store")
}

#[test]
fn a_full_disk_while_appending_refuses_the_batch_and_ingest_resumes() {
    let Some(disk) = SmallDisk::mount(40) else {
        return;
    };
    let store = open(&disk);
    assert_eq!(store.append(batch("first", 200)).unwrap().accepted, 200);

    let filler = disk.fill();
    let refused = batch("refused", 5_000);
    let error = store
        .append(refused.clone())
        .expect_err("no space for the batch");
    assert_eq!(error.kind(), StoreErrorKind::Full, "{error}");
    assert_eq!(store.event_count().unwrap(), 200, "nothing of it stored");

    std::fs::remove_file(filler).unwrap();
    assert_eq!(store.append(refused).unwrap().accepted, 5_000);
    assert_eq!(store.event_count().unwrap(), 5_200);
    store.health().expect("healthy");
}

#[test]
fn a_full_disk_during_a_checkpoint_heals_without_a_restart() {
    let Some(disk) = SmallDisk::mount(40) else {
        return;
    };
    let store = open(&disk);
    let mut acknowledged = 0u64;
    for round in 0..20 {
        acknowledged += store
            .append(batch(&format!("ack{round}"), 100))
            .unwrap()
            .accepted as u64;
    }
    // A read before the fault leaves a reader of the database as it was
    // opened; once reopened, reads must not use it.
    assert_eq!(store.event_count().unwrap(), acknowledged);

    let filler = disk.fill();
    let failed = store.checkpoint().expect_err("no space to checkpoint");
    assert!(
        matches!(
            failed.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Full
        ),
        "{failed}"
    );
    let resend = batch("after", 300);
    let refused = store.append(resend.clone()).expect_err("store unusable");
    assert!(
        matches!(
            refused.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Full
        ),
        "{refused}"
    );
    // Unhealthy until the writer has reopened the database, which it may
    // manage even before space is freed (opening needs no new space); the
    // next write then meets the full disk as a plain `Full`.
    if let Err(unhealthy) = store.health() {
        assert!(
            matches!(
                unhealthy.kind(),
                StoreErrorKind::Unavailable | StoreErrorKind::Full
            ),
            "{unhealthy}"
        );
    }

    std::fs::remove_file(filler).unwrap();
    let freed = Instant::now();
    while store.health().is_err() {
        assert!(
            freed.elapsed() < Duration::from_secs(60),
            "the store did not reopen within a minute of space being freed: {:?}",
            store.health()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "healthy again {} ms after space was freed",
        freed.elapsed().as_millis()
    );
    assert_eq!(
        store.event_count().unwrap(),
        acknowledged,
        "every acknowledged event is present"
    );
    assert_eq!(store.append(resend.clone()).unwrap().accepted, 300);
    assert_eq!(
        store.append(resend).unwrap().duplicates,
        300,
        "the dedup index was reloaded"
    );
    assert_eq!(
        store.append(batch("ack0", 100)).unwrap().duplicates,
        100,
        "events acknowledged before the fault are still known"
    );
    assert_eq!(store.event_count().unwrap(), acknowledged + 300);
    store.checkpoint().expect("checkpoint with space");

    drop(store);
    let reopened = open(&disk);
    assert_eq!(reopened.event_count().unwrap(), acknowledged + 300);
}
