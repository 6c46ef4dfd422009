//! The intake log: small appends (beacons, a tracker's batches) are
//! acknowledged once they are in this log, and applied to the database in
//! larger batches shortly after.
//!
//! Why: a DuckDB commit appends to its write-ahead log and syncs it; a sync
//! that grows a file also commits the file system's journal, which costs
//! about 4 ms on the development machine. A writer that commits each group
//! of waiting requests therefore acknowledges at most (requests in flight) /
//! 4 ms, whatever the CPU. Overwriting blocks that already exist needs no
//! journal commit: `fdatasync` of such a write took 0.08 ms there. So the log
//! is made of segments written full of zeros when created, and a record is
//! written over those zeros and synced before the append is acknowledged.
//!
//! A segment `NNNNNNNNNNNNNNNNNNNN.log` holds records one after the other:
//! `length` (u32, little-endian, never 0), `checksum` (u64, little-endian:
//! XXH3-64 of the payload), then the payload, the events as a JSON array.
//! A length of 0 is where the records end. A record cut short or failing
//! its checksum is the trace of a crash during a write that was never
//! acknowledged: reading stops there. A mark, `{"applied_to":[S,O]}`,
//! says that every record before offset `O` of segment `S` is applied (the
//! writer applies the log on another thread while it goes on recording, so
//! records after the applied ones may precede the mark); a record of no
//! events (`[]`, as earlier versions wrote) says that everything before it
//! is applied. A mark is written after each apply, without a sync of its
//! own (lost in a crash, it only makes the next open apply more again).
//!
//! When the store opens, every record after the last mark is applied again
//! through the writer's dedup (what was applied already is recognised as
//! stored), then a mark is written and the segments before the last are
//! deleted; records go on after the last one's (in a new segment when a
//! crash left bytes after its last record, or there is none: that one is
//! written in the background and the first append waits for it only if it
//! comes sooner). While running, a segment that fills up is followed by a
//! new one, and the segments before the active one are deleted once every
//! event recorded in them is applied. A store that closes with everything
//! applied deletes every segment, so a data directory at rest holds no
//! log.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pathlens_model::Event;

/// The size of a segment, written with zeros when it is created.
pub(crate) const SEGMENT_BYTES: u64 = 16 << 20;

/// `length` and `checksum`.
const HEADER: usize = 12;

/// Where a record is: its segment's id and its offset in that segment.
pub(crate) type Position = (u64, u64);

/// The payload of a mark: every record before `to` is applied.
fn mark(to: Position) -> Vec<u8> {
    serde_json::json!({ "applied_to": [to.0, to.1] })
        .to_string()
        .into_bytes()
}

/// The position a mark's payload names.
fn marked(payload: &[u8]) -> io::Result<Position> {
    let value: serde_json::Value = serde_json::from_slice(payload)?;
    let position = value
        .get("applied_to")
        .and_then(|to| Some((to.get(0)?.as_u64()?, to.get(1)?.as_u64()?)));
    position.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a mark without `applied_to`: [segment, offset]",
        )
    })
}

fn name(id: u64) -> String {
    format!("{id:020}.log")
}

/// The ids of the segments in `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let file_name = file_name.to_string_lossy();
        if let Some(id) = file_name
            .strip_suffix(".log")
            .and_then(|stem| stem.parse::<u64>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Makes a file's content, or a directory's entries (a new, renamed or
/// removed file), durable.
pub(crate) fn sync_path(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Creates segment `id`, all zeros, durably, under its final name only
/// once it is whole.
fn create(dir: &Path, id: u64) -> io::Result<File> {
    let temporary = dir.join(format!("{}.new", name(id)));
    {
        let mut file = File::create(&temporary)?;
        let zeros = vec![0u8; 1 << 20];
        let mut written = 0;
        while written < SEGMENT_BYTES {
            let chunk = zeros.len().min((SEGMENT_BYTES - written) as usize);
            file.write_all(&zeros[..chunk])?;
            written += chunk as u64;
        }
        file.sync_all()?;
    }
    let path = dir.join(name(id));
    std::fs::rename(&temporary, &path)?;
    sync_path(dir)?;
    OpenOptions::new().read(true).write(true).open(path)
}

/// Adds to `batches` those recorded in segment `id`, in order, with their
/// positions, up to where its records end (or a record was cut short by a
/// crash); a mark drops the batches it says are applied. Returns where the
/// records end when the rest of the segment is still zeros, so that
/// records can go on from there.
fn read_segment(
    path: &Path,
    id: u64,
    batches: &mut Vec<(Position, Vec<Event>)>,
) -> io::Result<Option<u64>> {
    let bytes = std::fs::read(path)?;
    let mut at = 0usize;
    while at + HEADER <= bytes.len() {
        let length = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
        let checksum = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap_or([0; 8]));
        let end = at + HEADER + length;
        if length == 0 || end > bytes.len() {
            break;
        }
        let payload = &bytes[at + HEADER..end];
        if xxhash_rust::xxh3::xxh3_64(payload) != checksum {
            tracing::warn!(file = %path.display(), offset = at, "intake: a record cut short by a crash; reading stops there");
            break;
        }
        let decoded = if payload.first() == Some(&b'{') {
            marked(payload).map(|to| {
                batches.retain(|(position, _)| *position >= to);
            })
        } else {
            serde_json::from_slice::<Vec<Event>>(payload)
                .map(|events| {
                    if events.is_empty() {
                        batches.clear();
                    } else {
                        batches.push(((id, at as u64), events));
                    }
                })
                .map_err(io::Error::from)
        };
        match decoded {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(file = %path.display(), offset = at, %error, "intake: a record that does not decode; reading stops there");
                break;
            }
        }
        at = end;
    }
    let whole = bytes.len() as u64 == SEGMENT_BYTES;
    Ok((whole && bytes[at..].iter().all(|&byte| byte == 0)).then_some(at as u64))
}

/// The log of one data directory.
pub(crate) struct Intake {
    dir: PathBuf,
    /// The active segment, once it is created.
    file: Option<File>,
    id: u64,
    /// Where the next record goes in the active segment.
    offset: u64,
    /// Segments before the active one, deleted once applied.
    older: Vec<u64>,
    /// The next segment, written in the background once the active one is
    /// half full (or, when the log opens without one to write on, the
    /// first), so that no append waits for 16 MiB of zeros.
    next: Option<std::thread::JoinHandle<io::Result<File>>>,
}

/// Writes segment `id` on a thread of its own.
fn create_in_background(dir: &Path, id: u64) -> Option<std::thread::JoinHandle<io::Result<File>>> {
    let dir = dir.to_path_buf();
    std::thread::Builder::new()
        .name("pathlens-intake-segment".into())
        .spawn(move || create(&dir, id))
        .ok()
}

impl Intake {
    /// Opens the log in `dir`: every batch its segments hold (to be applied
    /// again; the caller then calls [`Intake::applied_all`]), and the log,
    /// writing on after the last segment's records (or in a new segment
    /// when a crash left that one's end unclear, or there is none).
    pub fn open(dir: &Path) -> io::Result<(Intake, Vec<Vec<Event>>)> {
        std::fs::create_dir_all(dir)?;
        // Segments whose creation a crash interrupted hold nothing.
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|extension| extension == "new") {
                std::fs::remove_file(path)?;
            }
        }
        let mut older = segments(dir)?;
        let mut batches = Vec::new();
        let mut end = None;
        for id in &older {
            end = read_segment(&dir.join(name(*id)), *id, &mut batches)?;
        }
        let batches = batches.into_iter().map(|(_, events)| events).collect();
        let (id, file, offset, next) = match (older.last().copied(), end) {
            (Some(last), Some(offset)) => {
                older.pop();
                let path = dir.join(name(last));
                let file = OpenOptions::new().read(true).write(true).open(path)?;
                (last, Some(file), offset, None)
            }
            (last, _) => {
                let id = last.map_or(1, |last| last + 1);
                (id, None, 0, create_in_background(dir, id))
            }
        };
        Ok((
            Intake {
                dir: dir.to_path_buf(),
                file,
                id,
                offset,
                older,
                next,
            },
            batches,
        ))
    }

    /// Records `events` durably: when this returns, the record is synced.
    ///
    /// # Errors
    /// I/O errors (nothing is acknowledged then); a batch too large for a
    /// segment is refused with [`io::ErrorKind::InvalidInput`].
    pub fn append(&mut self, events: &[&Event]) -> io::Result<()> {
        self.write(&serde_json::to_vec(events).map_err(io::Error::other)?)?
            .sync_data()
    }

    /// The segment `id`: the one written in the background, or a new one.
    fn take_next(&mut self, id: u64) -> io::Result<File> {
        match self.next.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(file))) => Ok(file),
            _ => create(&self.dir, id),
        }
    }

    /// Writes one record of `payload` (not synced); returns the segment
    /// it is in.
    fn write(&mut self, payload: &[u8]) -> io::Result<&File> {
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|_| (HEADER + payload.len()) as u64 <= SEGMENT_BYTES)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a batch too large for the intake log",
                )
            })?;
        let need = (HEADER + payload.len()) as u64;
        if self.file.is_none() {
            self.file = Some(self.take_next(self.id)?);
        }
        if self.offset + need > SEGMENT_BYTES {
            let next = self.id + 1;
            self.file = Some(self.take_next(next)?);
            self.older.push(self.id);
            self.id = next;
            self.offset = 0;
        }
        if self.next.is_none() && self.offset + need > SEGMENT_BYTES / 2 {
            self.next = create_in_background(&self.dir, self.id + 1);
        }
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(payload).to_le_bytes());
        record.extend_from_slice(payload);
        let file = self
            .file
            .as_ref()
            .ok_or_else(|| io::Error::other("no segment"))?;
        file.write_all_at(&record, self.offset)?;
        self.offset += need;
        Ok(file)
    }

    /// Where the next record goes: every record so far is before it.
    pub fn end(&self) -> Position {
        (self.id, self.offset)
    }

    /// Every event recorded so far is applied: a mark says so, and the
    /// segments before the active one go.
    pub fn applied_all(&mut self) -> io::Result<()> {
        self.applied_to(self.end())
    }

    /// Every record before `to` (an [`Intake::end`] taken earlier) is
    /// applied: a mark says so, and the segments before `to`'s go.
    pub fn applied_to(&mut self, to: Position) -> io::Result<()> {
        if self.offset == 0 && self.older.is_empty() {
            // Nothing is recorded.
            return Ok(());
        }
        self.write(&mark(to))?;
        let (gone, kept): (Vec<u64>, Vec<u64>) = self.older.iter().partition(|&&id| id < to.0);
        self.older = kept;
        if gone.is_empty() {
            return Ok(());
        }
        for id in gone {
            std::fs::remove_file(self.dir.join(name(id)))?;
        }
        sync_path(&self.dir)
    }

    /// Closes the log once every event recorded in it is applied: no
    /// segment is left (the next open starts a new one).
    pub fn close_applied(mut self) -> io::Result<()> {
        // A segment still being written is waited for, then deleted too.
        if let Some(next) = self.next.take() {
            let _ = next.join();
        }
        self.file.take();
        for id in segments(&self.dir)? {
            std::fs::remove_file(self.dir.join(name(id)))?;
        }
        sync_path(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathlens_store::conformance::sample_views as events;

    #[test]
    fn records_are_read_back_at_the_next_open_until_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (events("a", 3), events("b", 2));
        {
            let (mut intake, replayed) = Intake::open(dir.path()).unwrap();
            assert!(replayed.is_empty());
            intake.append(&a.iter().collect::<Vec<_>>()).unwrap();
            intake.append(&b.iter().collect::<Vec<_>>()).unwrap();
        }
        let (mut intake, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![a.clone(), b]);
        // Applied: the older segment goes, and nothing comes back.
        intake.applied_all().unwrap();
        drop(intake);
        let (mut intake, replayed) = Intake::open(dir.path()).unwrap();
        assert!(replayed.is_empty());
        intake.applied_all().unwrap();
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        // Only what follows the last mark comes back.
        intake.append(&a.iter().collect::<Vec<_>>()).unwrap();
        intake.applied_all().unwrap();
        let c = events("c", 4);
        intake.append(&c.iter().collect::<Vec<_>>()).unwrap();
        drop(intake);
        let (_, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![c]);
    }

    #[test]
    fn closing_with_everything_applied_leaves_no_segment() {
        let dir = tempfile::tempdir().unwrap();
        let a = events("a", 3);
        let (mut intake, _) = Intake::open(dir.path()).unwrap();
        intake.append(&a.iter().collect::<Vec<_>>()).unwrap();
        intake.applied_all().unwrap();
        intake.close_applied().unwrap();
        assert!(segments(dir.path()).unwrap().is_empty());
        // The next open writes a new segment, and what is appended to it
        // comes back after a crash.
        let (mut intake, replayed) = Intake::open(dir.path()).unwrap();
        assert!(replayed.is_empty());
        let b = events("b", 2);
        intake.append(&b.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![1]);
        drop(intake);
        let (intake, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![b]);
        // Closing before the first append also leaves nothing.
        drop(intake);
        let (intake, _) = Intake::open(dir.path()).unwrap();
        intake.close_applied().unwrap();
        assert!(segments(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn a_mark_covers_only_the_records_before_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (events("a", 3), events("b", 2), events("c", 4));
        {
            let (mut intake, _) = Intake::open(dir.path()).unwrap();
            intake.append(&a.iter().collect::<Vec<_>>()).unwrap();
            // `a` is being applied while `b` is recorded.
            let to = intake.end();
            intake.append(&b.iter().collect::<Vec<_>>()).unwrap();
            intake.applied_to(to).unwrap();
            intake.append(&c.iter().collect::<Vec<_>>()).unwrap();
        }
        let (_, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![b, c]);
    }

    /// How many records of `events` a segment holds.
    fn per_segment(events: &[&Event]) -> u64 {
        SEGMENT_BYTES / (HEADER as u64 + serde_json::to_vec(events).unwrap().len() as u64)
    }

    #[test]
    fn a_mark_in_a_later_segment_keeps_the_segment_it_points_into() {
        let dir = tempfile::tempdir().unwrap();
        let batch = events("s", 200);
        let refs: Vec<&Event> = batch.iter().collect();
        let per_segment = per_segment(&refs);
        let (mut intake, _) = Intake::open(dir.path()).unwrap();
        for _ in 1..per_segment {
            intake.append(&refs).unwrap();
        }
        // Applied up to the last record of segment 1, which then fills up.
        let to = intake.end();
        let last = events("last", 2);
        intake.append(&last.iter().collect::<Vec<_>>()).unwrap();
        intake.append(&refs).unwrap();
        intake.append(&refs).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![1, 2]);
        intake.applied_to(to).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![1, 2]);
        drop(intake);
        let (_, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed.len(), 3);
        assert_eq!(replayed[0], last);
    }

    #[test]
    fn a_record_cut_short_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (events("a", 3), events("b", 2));
        {
            let (mut intake, _) = Intake::open(dir.path()).unwrap();
            intake.append(&a.iter().collect::<Vec<_>>()).unwrap();
            intake.append(&b.iter().collect::<Vec<_>>()).unwrap();
        }
        let path = dir.path().join(name(1));
        let mut bytes = std::fs::read(&path).unwrap();
        let first = HEADER + u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
        // The second record's last byte never reached the disk.
        let second = first
            + HEADER
            + u32::from_le_bytes(bytes[first..first + 4].try_into().unwrap()) as usize;
        bytes[second - 1] = 0;
        std::fs::write(&path, bytes).unwrap();
        let (_, replayed) = Intake::open(dir.path()).unwrap();
        assert_eq!(replayed, vec![a]);
    }

    #[test]
    fn a_full_segment_is_followed_by_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let batch = events("s", 200);
        let refs: Vec<&Event> = batch.iter().collect();
        let per_segment = per_segment(&refs);
        let (mut intake, _) = Intake::open(dir.path()).unwrap();
        for _ in 0..=per_segment {
            intake.append(&refs).unwrap();
        }
        assert_eq!(segments(dir.path()).unwrap(), vec![1, 2]);
        intake.applied_all().unwrap();
        assert_eq!(segments(dir.path()).unwrap(), vec![2]);
    }
}
