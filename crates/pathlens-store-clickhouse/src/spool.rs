//! The local durable spool: acknowledged events waiting to be shipped.
//!
//! A directory of append-only segment files and one cursor file:
//!
//! - `00000000000000000001.seg`, `…2.seg`, …: each starts with the 8 bytes
//!   `PLSPOOL1`, then records. A record is `length` (u32, little-endian),
//!   `checksum` (u64, little-endian: the XXH3-64 of the payload), then the
//!   payload: the acknowledgement time (i64 microseconds since the Unix
//!   epoch), the event count (u32), and the events in ClickHouse's
//!   `RowBinary` (the columns of [`crate::codec::EVENT_COLUMNS`]). A record
//!   is written with one `write` and made durable with `fdatasync` before
//!   the append that wrote it is acknowledged.
//! - `lock`: the process id of the pathlens node using the spool; a second
//!   live process is refused (a lock left by a dead process is taken over).
//! - `cursor`: the text `<segment number> <byte offset>`, where the first
//!   record not yet shipped starts. It is replaced atomically (write a
//!   temporary file, sync it, rename it over, sync the directory) after each
//!   shipped batch; segments wholly before it are deleted.
//!
//! At open, the records from the cursor on are read back and checked. A
//! record cut short or failing its checksum at the end of the last segment
//! is the trace of a crash during a write that was never acknowledged: the
//! file is truncated there. The same anywhere else is corruption, and the
//! spool refuses to open rather than lose or invent events. A crash after a
//! batch reached ClickHouse and before the cursor moved ships that batch
//! again; the insert-side dedup check drops the copies.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use pathlens_model::Event;
use pathlens_store::SpoolStatus;

use crate::codec;
use crate::rowbinary::{Reader, Source, Writer};

/// What every segment file starts with.
pub const MAGIC: &[u8; 8] = b"PLSPOOL1";
const MAGIC_LEN: u64 = MAGIC.len() as u64;
/// `length` and `checksum`.
const HEADER_LEN: u64 = 12;
const CURSOR: &str = "cursor";
const LOCK: &str = "lock";

/// Claims the spool for this process: refuses when another live process
/// holds it.
fn lock(dir: &Path) -> io::Result<()> {
    let path = dir.join(LOCK);
    let ours = std::process::id();
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(holder) = text.trim().parse::<u32>()
        && holder != ours
        && Path::new(&format!("/proc/{holder}")).exists()
    {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by process {holder} (another pathlens node?); give each node its own spool_dir",
                dir.display()
            ),
        ));
    }
    std::fs::write(&path, format!("{ours}\n"))?;
    Ok(())
}

/// Where one record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: u64,
    /// Offset of the record's header in the segment.
    pub offset: u64,
    /// Length of the payload.
    pub length: u32,
}

impl Location {
    fn end(&self) -> u64 {
        self.offset + HEADER_LEN + u64::from(self.length)
    }
}

/// A record not yet shipped.
#[derive(Debug)]
struct Record {
    /// Numbers records in the order they were appended (in memory only).
    seq: u64,
    location: Location,
    events: u64,
    acked_us: i64,
    keys: Vec<(u32, u64)>,
}

/// Records to ship together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The `seq` of the last record in the batch, for [`Spool::commit`].
    pub through: u64,
    pub locations: Vec<Location>,
    pub events: u64,
}

/// The spool of one pathlens node.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    segment_bytes: u64,
    active: File,
    active_id: u64,
    active_len: u64,
    records: VecDeque<Record>,
    keys: HashSet<(u32, u64)>,
    next_seq: u64,
    pending_events: u64,
    pending_bytes: u64,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(id) = name.strip_suffix(".seg").and_then(|n| n.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

fn read_cursor(dir: &Path) -> io::Result<Option<(u64, u64)>> {
    match std::fs::read_to_string(dir.join(CURSOR)) {
        Ok(text) => {
            let mut parts = text.split_whitespace().map(str::parse::<u64>);
            match (parts.next(), parts.next()) {
                (Some(Ok(segment)), Some(Ok(offset))) => Ok(Some((segment, offset))),
                _ => Err(invalid(format!(
                    "{}: unreadable cursor {text:?}",
                    dir.join(CURSOR).display()
                ))),
            }
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

fn write_cursor(dir: &Path, segment: u64, offset: u64) -> io::Result<()> {
    let temporary = dir.join("cursor.tmp");
    {
        let mut file = File::create(&temporary)?;
        file.write_all(format!("{segment} {offset}\n").as_bytes())?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, dir.join(CURSOR))?;
    sync_dir(dir)
}

fn create_segment(dir: &Path, id: u64) -> io::Result<File> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new()
        .create_new(true)
        .read(true)
        .append(true)
        .open(&path)?;
    file.write_all(MAGIC)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

fn open_segment(dir: &Path, id: u64) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .open(segment_path(dir, id))
}

/// The events of a payload, with its acknowledgement time.
fn decode_payload(payload: &[u8]) -> Result<(i64, Vec<Event>), String> {
    let mut reader = Reader::new(payload);
    let acked_us = reader.i64().map_err(|e| e.to_string())?;
    let count = reader.u32().map_err(|e| e.to_string())?;
    let mut events = Vec::with_capacity(count as usize);
    for _ in 0..count {
        events.push(codec::read_event(&mut reader).map_err(|e| e.to_string())?);
    }
    if !reader.is_at_end() {
        return Err("bytes after the last event".into());
    }
    Ok((acked_us, events))
}

fn checksum(payload: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(payload)
}

/// Reads the events of `locations` from the segments in `dir`.
///
/// # Errors
/// On I/O errors or a record that fails its checksum.
pub fn read_batch(dir: &Path, locations: &[Location]) -> io::Result<Vec<Event>> {
    let mut events = Vec::new();
    let mut open: Option<(u64, File)> = None;
    for location in locations {
        if open.as_ref().is_none_or(|(id, _)| *id != location.segment) {
            open = Some((
                location.segment,
                File::open(segment_path(dir, location.segment))?,
            ));
        }
        let Some((_, file)) = &open else { continue };
        let mut record = vec![0u8; (HEADER_LEN + u64::from(location.length)) as usize];
        file.read_exact_at(&mut record, location.offset)?;
        let (header, payload) = record.split_at(HEADER_LEN as usize);
        let stored = u64::from_le_bytes(header[4..12].try_into().unwrap_or_default());
        if checksum(payload) != stored {
            return Err(invalid(format!(
                "spool segment {} offset {}: checksum mismatch",
                location.segment, location.offset
            )));
        }
        let (_, mut batch) = decode_payload(payload).map_err(|reason| {
            invalid(format!(
                "spool segment {} offset {}: {reason}",
                location.segment, location.offset
            ))
        })?;
        events.append(&mut batch);
    }
    Ok(events)
}

impl Spool {
    /// Opens the spool in `dir` (creating it), reading back the records not
    /// yet shipped. A new segment starts once the current one reaches
    /// `segment_bytes`.
    ///
    /// # Errors
    /// On I/O errors, or corruption anywhere but at the end of the last
    /// segment.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        lock(dir)?;
        let mut ids = segment_ids(dir)?;
        let cursor = read_cursor(dir)?;
        if ids.is_empty() {
            let id = cursor.map_or(1, |(segment, _)| segment.max(1));
            drop(create_segment(dir, id)?);
            write_cursor(dir, id, MAGIC_LEN)?;
            ids.push(id);
        }
        let (cursor_segment, cursor_offset) = cursor.unwrap_or((ids[0], MAGIC_LEN));
        for id in ids.iter().filter(|id| **id < cursor_segment) {
            // Shipped; left behind by a crash before their deletion.
            std::fs::remove_file(segment_path(dir, *id))?;
        }
        ids.retain(|id| *id >= cursor_segment);
        if ids.first() != Some(&cursor_segment) {
            return Err(invalid(format!(
                "{}: the cursor names segment {cursor_segment}, which is missing",
                dir.display()
            )));
        }
        let last = *ids.last().unwrap_or(&cursor_segment);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(MAGIC_LEN + 1),
            active: open_segment(dir, last)?,
            active_id: last,
            active_len: 0,
            records: VecDeque::new(),
            keys: HashSet::new(),
            next_seq: 1,
            pending_events: 0,
            pending_bytes: 0,
        };
        for id in ids {
            let start = if id == cursor_segment {
                cursor_offset
            } else {
                MAGIC_LEN
            };
            spool.recover_segment(id, start, id == last)?;
        }
        Ok(spool)
    }

    fn recover_segment(&mut self, id: u64, start: u64, is_last: bool) -> io::Result<()> {
        let path = segment_path(&self.dir, id);
        let data = std::fs::read(&path)?;
        let length = data.len() as u64;
        if length < MAGIC_LEN || &data[..MAGIC.len()] != MAGIC {
            if is_last && length < MAGIC_LEN && MAGIC.starts_with(&data) {
                // Created but its magic not fully written: start it again.
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(0)?;
                file.write_all_at(MAGIC, 0)?;
                file.sync_all()?;
                self.active_len = MAGIC_LEN;
                return Ok(());
            }
            return Err(invalid(format!("{}: not a spool segment", path.display())));
        }
        let mut position = start.max(MAGIC_LEN);
        while position < length {
            let at = position;
            let torn = |reason: &str| format!("{} at byte {at}: {reason}", path.display());
            let header_end = position + HEADER_LEN;
            let problem = if header_end > length {
                Some(torn("record header cut short"))
            } else {
                let header = &data[position as usize..header_end as usize];
                let payload_len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default());
                let stored = u64::from_le_bytes(header[4..].try_into().unwrap_or_default());
                let end = header_end + u64::from(payload_len);
                if end > length {
                    Some(torn("record cut short"))
                } else {
                    let payload = &data[header_end as usize..end as usize];
                    if checksum(payload) != stored {
                        Some(torn("checksum mismatch"))
                    } else {
                        let (acked_us, events) =
                            decode_payload(payload).map_err(|reason| invalid(torn(&reason)))?;
                        let location = Location {
                            segment: id,
                            offset: position,
                            length: payload_len,
                        };
                        self.push_record(location, acked_us, &events);
                        position = end;
                        None
                    }
                }
            };
            if let Some(problem) = problem {
                if !is_last {
                    return Err(invalid(problem));
                }
                tracing::warn!(
                    "spool: {problem}; dropping the unacknowledged tail of an interrupted write"
                );
                let file = OpenOptions::new().write(true).open(&path)?;
                file.set_len(position)?;
                file.sync_all()?;
                break;
            }
        }
        if is_last {
            self.active_len = position.min(length).max(MAGIC_LEN);
        }
        Ok(())
    }

    fn push_record(&mut self, location: Location, acked_us: i64, events: &[Event]) -> u64 {
        let keys: Vec<(u32, u64)> = events.iter().map(|e| (e.partner_id, e.dedup_key)).collect();
        self.keys.extend(keys.iter().copied());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending_events += events.len() as u64;
        self.pending_bytes += location.end() - location.offset;
        self.records.push_back(Record {
            seq,
            location,
            events: events.len() as u64,
            acked_us,
            keys,
        });
        seq
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `events` as one record and syncs it; returns its `seq`.
    ///
    /// # Errors
    /// On I/O errors; nothing is then acknowledged (a partial write is cut
    /// off again when possible, or at the next open).
    pub fn append(&mut self, events: &[Event], acked_us: i64) -> io::Result<u64> {
        if self.active_len >= self.segment_bytes {
            let next = self.active_id + 1;
            self.active = create_segment(&self.dir, next)?;
            self.active_id = next;
            self.active_len = MAGIC_LEN;
        }
        let mut payload = Writer::with_capacity(events.len() * 192 + 12);
        payload.i64(acked_us);
        payload.u32(events.len() as u32);
        for event in events {
            codec::write_event(&mut payload, event);
        }
        let payload = payload.into_bytes();
        let length = u32::try_from(payload.len())
            .map_err(|_| invalid("a batch of more than 4 GiB cannot be spooled".into()))?;
        let mut record = Vec::with_capacity(payload.len() + HEADER_LEN as usize);
        record.extend_from_slice(&length.to_le_bytes());
        record.extend_from_slice(&checksum(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        let written = self
            .active
            .write_all(&record)
            .and_then(|()| self.active.sync_data());
        if let Err(error) = written {
            let _ = self.active.set_len(self.active_len);
            return Err(error);
        }
        let location = Location {
            segment: self.active_id,
            offset: self.active_len,
            length,
        };
        self.active_len = location.end();
        Ok(self.push_record(location, acked_us, events))
    }

    /// Whether an unshipped event has this (partner, dedup key).
    pub fn contains(&self, key: &(u32, u64)) -> bool {
        self.keys.contains(key)
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records waiting.
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// The `seq` of the newest record ever appended in this process (0
    /// before any).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Every record up to this `seq` is shipped.
    pub fn shipped_through(&self) -> u64 {
        self.records.front().map_or(self.last_seq(), |r| r.seq - 1)
    }

    /// When the oldest waiting record was acknowledged.
    pub fn oldest_acked_us(&self) -> Option<i64> {
        self.records.front().map(|r| r.acked_us)
    }

    /// The oldest records, whole, up to `max_events` events (at least one
    /// record); `None` when nothing waits.
    pub fn next_batch(&self, max_events: u64) -> Option<Batch> {
        let mut batch = Batch {
            through: 0,
            locations: Vec::new(),
            events: 0,
        };
        for record in &self.records {
            if !batch.locations.is_empty() && batch.events + record.events > max_events {
                break;
            }
            batch.through = record.seq;
            batch.locations.push(record.location);
            batch.events += record.events;
        }
        (!batch.locations.is_empty()).then_some(batch)
    }

    /// Marks every record up to `through` shipped: moves the cursor past
    /// them and deletes the segments left wholly behind.
    ///
    /// # Errors
    /// On I/O errors (the records are then shipped again after a restart,
    /// and the dedup check drops the copies).
    pub fn commit(&mut self, through: u64) -> io::Result<()> {
        while self.records.front().is_some_and(|r| r.seq <= through) {
            if let Some(record) = self.records.pop_front() {
                for key in &record.keys {
                    self.keys.remove(key);
                }
                self.pending_events -= record.events;
                self.pending_bytes -= record.location.end() - record.location.offset;
            }
        }
        let (segment, offset) = self
            .records
            .front()
            .map_or((self.active_id, self.active_len), |r| {
                (r.location.segment, r.location.offset)
            });
        write_cursor(&self.dir, segment, offset)?;
        for id in segment_ids(&self.dir)? {
            if id < segment && id != self.active_id {
                std::fs::remove_file(segment_path(&self.dir, id))?;
            }
        }
        Ok(())
    }

    /// Copies the record at `location`, whole (header and payload), to
    /// `rejected/<segment>-<offset>.rec` in the spool's directory and syncs
    /// it; the caller then commits past it.
    ///
    /// # Errors
    /// On I/O errors.
    pub fn set_aside(&self, location: &Location) -> io::Result<PathBuf> {
        let file = File::open(segment_path(&self.dir, location.segment))?;
        let mut record = vec![0u8; (HEADER_LEN + u64::from(location.length)) as usize];
        file.read_exact_at(&mut record, location.offset)?;
        let rejected = self.dir.join("rejected");
        std::fs::create_dir_all(&rejected)?;
        let path = rejected.join(format!("{:020}-{}.rec", location.segment, location.offset));
        let mut out = File::create(&path)?;
        out.write_all(&record)?;
        out.sync_all()?;
        sync_dir(&rejected)?;
        Ok(path)
    }

    /// Depth and age, with `now_us` as the current time.
    pub fn status(&self, now_us: i64) -> SpoolStatus {
        SpoolStatus {
            events: self.pending_events,
            bytes: self.pending_bytes,
            oldest_age_seconds: self
                .oldest_acked_us()
                .map_or(0.0, |acked| (now_us - acked).max(0) as f64 / 1e6),
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(LOCK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathlens_store::conformance::sample_views as events;

    fn all(spool: &Spool) -> Vec<Event> {
        let batch = spool.next_batch(u64::MAX).unwrap();
        read_batch(spool.dir(), &batch.locations).unwrap()
    }

    #[test]
    fn records_survive_a_reopen_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
            assert!(spool.is_empty());
            spool.append(&events("a", 3), 10).unwrap();
            spool.append(&events("b", 2), 20).unwrap();
            assert_eq!(spool.status(1_000_010).oldest_age_seconds, 1.0);
            assert_eq!(spool.status(0).events, 5);
        }
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        let mut expected = events("a", 3);
        expected.extend(events("b", 2));
        assert_eq!(all(&spool), expected);
        assert!(spool.contains(&(1, expected[0].dedup_key)));
        let first = spool.next_batch(3).unwrap();
        assert_eq!(first.events, 3, "whole records up to the limit");
        spool.commit(first.through).unwrap();
        assert!(!spool.contains(&(1, expected[0].dedup_key)));
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(all(&spool), events("b", 2));
        assert_eq!(spool.status(0).events, 2);
    }

    #[test]
    fn segments_rotate_and_shipped_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 200).unwrap();
        for round in 0..5 {
            spool.append(&events(&format!("s{round}"), 2), 0).unwrap();
        }
        assert!(segment_ids(dir.path()).unwrap().len() >= 3);
        let batch = spool.next_batch(u64::MAX).unwrap();
        assert_eq!(batch.events, 10);
        spool.commit(batch.through).unwrap();
        assert!(spool.is_empty());
        assert_eq!(
            segment_ids(dir.path()).unwrap().len(),
            1,
            "only the active segment stays"
        );
        assert_eq!(spool.status(0), SpoolStatus::default());
        spool.append(&events("later", 1), 0).unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 200).unwrap();
        assert_eq!(all(&spool), events("later", 1));
    }

    #[test]
    fn a_torn_tail_is_cut_and_earlier_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
            spool.append(&events("a", 2), 0).unwrap();
        }
        let path = segment_path(dir.path(), 1);
        let good_len = std::fs::metadata(&path).unwrap().len();
        // A write interrupted half way through a record.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3]).unwrap();
        drop(file);
        let mut spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good_len);
        assert_eq!(all(&spool), events("a", 2));
        spool.append(&events("b", 1), 0).unwrap();
        drop(spool);
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(spool.status(0).events, 3);
    }

    #[test]
    fn a_spool_held_by_another_live_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // Process 1 (init) is always alive and never a pathlens node.
        std::fs::write(dir.path().join(LOCK), "1\n").unwrap();
        let error = Spool::open(dir.path(), 1 << 20).unwrap_err();
        assert!(error.to_string().contains("in use by process 1"), "{error}");
        // A lock left by a process that is gone is taken over.
        std::fs::write(dir.path().join(LOCK), format!("{}\n", u32::MAX)).unwrap();
        let spool = Spool::open(dir.path(), 1 << 20).unwrap();
        drop(spool);
        assert!(!dir.path().join(LOCK).exists());
    }

    #[test]
    fn corruption_before_the_tail_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), 100).unwrap();
            spool.append(&events("a", 2), 0).unwrap();
            spool.append(&events("b", 2), 0).unwrap();
        }
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let error = Spool::open(dir.path(), 100).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("checksum"), "{error}");
    }
}
