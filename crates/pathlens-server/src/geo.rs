//! The viewer's country from the client's address, in an IP-to-country
//! database in the MaxMind DB format (MMDB), read with the `maxminddb`
//! crate.
//!
//! - **Database.** Any MMDB whose records name a country as
//!   `country_code` (the ip-location-db databases, such as the
//!   `geo-whois-asn-country` one `scripts/geoip` installs) or as
//!   `country.iso_code` (MaxMind's GeoLite2 / GeoIP2 and DB-IP's layout).
//!   The code is stored upper-case when it is two ASCII letters; anything
//!   else counts as no country. Subdivisions (regions) are not read: the
//!   stored event has no field for them, and the database `scripts/geoip`
//!   installs names countries only.
//! - **Addresses.** Loopback, private, link-local, shared (CGNAT),
//!   documentation and other non-public addresses give no country without
//!   a lookup; an IPv4 address mapped into IPv6 is looked up as IPv4.
//! - **Reload.** [`GeoIp::refresh`] reloads the file when its modification
//!   time, size or inode changed since it was last read; [`GeoIp::watch`]
//!   calls it from a thread of its own every [`RELOAD_INTERVAL`] (60 s),
//!   so a database replaced on disk (`scripts/geoip` again) is used within
//!   a minute, without a restart or a rebuild. Lookups meanwhile go on
//!   with the database in memory. A file that cannot be read or is not a
//!   valid MMDB (see `load`) is refused — at start with an error naming
//!   the path and the `geoip_database` setting, at a reload with a warning
//!   in the log, the previous database staying in use (and the warning is
//!   not repeated until the file changes again).
//! - **Privacy.** The address is looked up and forgotten: it is neither
//!   stored nor logged here.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use maxminddb::Reader;
use pathlens_ingest::country_code;

/// How often [`GeoIp::watch`] looks at the database file.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// An IP-to-country database, reloaded when its file changes.
pub struct GeoIp {
    path: PathBuf,
    current: RwLock<Arc<Reader<Vec<u8>>>>,
    /// The file as it was at the last load attempt, successful or not.
    seen: Mutex<Option<Stamp>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp").field("path", &self.path).finish()
    }
}

/// A database file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("geoip_database: {}: {reason}", path.display())]
pub struct GeoError {
    pub path: PathBuf,
    pub reason: String,
}

/// What [`GeoIp::refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The file has not changed since it was last read.
    Unchanged,
    /// The file changed and its new content is in use.
    Reloaded,
    /// The file changed but cannot be used; the previous database stays.
    Kept(String),
}

/// What tells that a file changed: modification time, size, inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let metadata = std::fs::metadata(path)?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Ok(Stamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        })
    }
}

impl GeoIp {
    /// Opens the database at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid MMDB; the error names
    /// the path.
    pub fn open(path: impl Into<PathBuf>) -> Result<GeoIp, GeoError> {
        let path = path.into();
        let stamp = Stamp::of(&path).ok();
        let reader = load(&path).map_err(|reason| GeoError {
            path: path.clone(),
            reason,
        })?;
        Ok(GeoIp {
            path,
            current: RwLock::new(Arc::new(reader)),
            seen: Mutex::new(stamp),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the database in use says of itself: its type and build date.
    pub fn describe(&self) -> String {
        let reader = self.reader();
        let metadata = reader.metadata();
        let built = chrono::DateTime::from_timestamp(
            i64::try_from(metadata.build_epoch).unwrap_or(i64::MAX),
            0,
        )
        .map_or_else(|| "unknown".to_string(), |t| t.date_naive().to_string());
        format!("{}, built {built}", metadata.database_type)
    }

    /// The ISO 3166-1 alpha-2 code (upper-case) of the country the database
    /// places `address` in, if any.
    pub fn country(&self, address: IpAddr) -> Option<String> {
        let address = address.to_canonical();
        if !is_public(address) {
            return None;
        }
        let reader = self.reader();
        let found = reader.lookup(address).ok()?;
        let code = found
            .decode_path::<&str>(&maxminddb::path!["country_code"])
            .ok()
            .flatten()
            .or_else(|| {
                found
                    .decode_path::<&str>(&maxminddb::path!["country", "iso_code"])
                    .ok()
                    .flatten()
            })?;
        country_code(code)
    }

    /// Reloads the file if it changed since it was last read (see the
    /// module documentation).
    pub fn refresh(&self) -> Refresh {
        let stamp = Stamp::of(&self.path);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let now = stamp.as_ref().ok().copied();
            if now.is_some() && *seen == now {
                return Refresh::Unchanged;
            }
            if now.is_none() && seen.is_none() {
                return Refresh::Unchanged;
            }
            *seen = now;
        }
        let loaded = match stamp {
            Ok(_) => load(&self.path),
            Err(error) => Err(format!("cannot read the file: {error}")),
        };
        match loaded {
            Ok(reader) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(reader);
                tracing::info!(
                    path = %self.path.display(),
                    database = %self.describe(),
                    "geolocation database reloaded"
                );
                Refresh::Reloaded
            }
            Err(reason) => {
                tracing::warn!(
                    path = %self.path.display(),
                    %reason,
                    "geolocation database changed but cannot be used; keeping the one in memory"
                );
                Refresh::Kept(reason)
            }
        }
    }

    /// Calls [`GeoIp::refresh`] every `every` on a thread of its own, which
    /// ends once `geo` is dropped.
    ///
    /// # Errors
    /// When the thread cannot be started.
    pub fn watch(geo: &Arc<GeoIp>, every: Duration) -> std::io::Result<()> {
        let weak: Weak<GeoIp> = Arc::downgrade(geo);
        std::thread::Builder::new()
            .name("geoip-reload".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(geo) = weak.upgrade() else { break };
                    geo.refresh();
                }
            })
            .map(drop)
    }

    fn reader(&self) -> Arc<Reader<Vec<u8>>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Reads the database and checks it: its metadata and the layout of its
/// search tree (`Reader::from_source`), then a few lookups, so that a file
/// that is not an MMDB, or is cut short, is refused here rather than
/// failing lookups later. (`Reader::verify` is stricter than the databases
/// in use: it refuses ip-location-db's files for their empty
/// `description`.)
fn load(path: &Path) -> Result<Reader<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("cannot read the file: {error}"))?;
    let reader = Reader::from_source(bytes)
        .map_err(|error| format!("not a MaxMind DB (MMDB) file: {error}"))?;
    let probes: &[IpAddr] = &[
        IpAddr::from([8, 8, 8, 8]),
        IpAddr::from([1, 1, 1, 1]),
        IpAddr::from([200, 1, 1, 1]),
        IpAddr::from([0x2001, 0x4860, 0x4860, 0, 0, 0, 0, 0x8888]),
    ];
    for &probe in probes {
        if probe.is_ipv6() && reader.metadata().ip_version == 4 {
            continue;
        }
        let found = reader
            .lookup(probe)
            .map_err(|error| format!("a damaged MaxMind DB (MMDB) file: {error}"))?;
        found
            .decode::<serde::de::IgnoredAny>()
            .map_err(|error| format!("a damaged MaxMind DB (MMDB) file: {error}"))?;
    }
    Ok(reader)
}

/// Whether `address` (canonical) can be placed in a country: not loopback,
/// private, link-local, shared, documentation, multicast or unspecified.
fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

impl crate::AppState {
    /// The country a request's events fall back on when they carry none:
    /// the trusted proxy's header (`country_header`) when it holds a
    /// two-letter code, else — for live events only (`geolocate`), not an
    /// administrator's import, whose address is the importer's — the
    /// country of the client's address in the geolocation database
    /// (`geoip_database`), if one is configured.
    pub fn fallback_country(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        geolocate: bool,
    ) -> Option<String> {
        let header = self
            .config
            .country_header
            .as_deref()
            .and_then(|name| headers.get(name))
            .and_then(|value| value.to_str().ok())
            .and_then(|value| country_code(value.trim()));
        header.or_else(|| {
            let geo = self.config.geoip.as_ref().filter(|_| geolocate)?;
            geo.country(client?)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The database `scripts/geoip` installed, as `scripts/test` exports it.
    pub(crate) fn installed_database() -> PathBuf {
        match std::env::var_os("PATHLENS_TEST_GEOIP_DATABASE") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => panic!(
                "PATHLENS_TEST_GEOIP_DATABASE is not set: run `export PATHLENS_TEST_GEOIP_DATABASE=$(scripts/geoip)` \
                 (scripts/geoip installs the geolocation database; scripts/test does both)"
            ),
        }
    }

    /// A tiny IPv4 MMDB: 0.0.0.0/1 in `low` (as `country_code`, the
    /// ip-location-db layout), 128.0.0.0/1 in `high` (as `country.iso_code`,
    /// MaxMind's layout).
    pub(crate) fn tiny_mmdb(low: &str, high: &str) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, text: &str) {
            assert!(text.len() < 29);
            out.push(0x40 | text.len() as u8);
            out.extend_from_slice(text.as_bytes());
        }
        fn uint(out: &mut Vec<u8>, type_byte: u8, value: u64, width: usize) {
            let bytes = &value.to_be_bytes()[8 - width..];
            if type_byte >= 8 {
                out.push(width as u8);
                out.push(type_byte - 7);
            } else {
                out.push((type_byte << 5) | width as u8);
            }
            out.extend_from_slice(bytes);
        }
        let mut data = Vec::new();
        data.push(0xE1); // a map of one entry
        string(&mut data, "country_code");
        string(&mut data, low);
        let high_offset = data.len() as u32;
        data.push(0xE1);
        string(&mut data, "country");
        data.push(0xE1);
        string(&mut data, "iso_code");
        string(&mut data, high);
        let node_count: u32 = 1;
        let pointer = |offset: u32| node_count + 16 + offset;
        let mut out = Vec::new();
        // One node of two 24-bit records: the first bit of the address.
        out.extend_from_slice(&pointer(0).to_be_bytes()[1..]);
        out.extend_from_slice(&pointer(high_offset).to_be_bytes()[1..]);
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        out.push(0xE0 | 9);
        string(&mut out, "binary_format_major_version");
        uint(&mut out, 5, 2, 2);
        string(&mut out, "binary_format_minor_version");
        uint(&mut out, 5, 0, 2);
        string(&mut out, "build_epoch");
        uint(&mut out, 9, 1_767_225_600, 8);
        string(&mut out, "database_type");
        string(&mut out, "pathlens-test");
        string(&mut out, "description");
        out.push(0xE0);
        string(&mut out, "ip_version");
        uint(&mut out, 5, 4, 2);
        string(&mut out, "languages");
        out.extend_from_slice(&[0x00, 11 - 7]); // an empty array
        string(&mut out, "node_count");
        uint(&mut out, 6, u64::from(node_count), 4);
        string(&mut out, "record_size");
        uint(&mut out, 5, 24, 2);
        out
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_installed_database_places_well_known_addresses() {
        let path = installed_database();
        let geo = GeoIp::open(&path).unwrap_or_else(|e| panic!("{e} (run scripts/geoip)"));
        // Stable, long-held allocations: Google's public DNS (US), Deutsche
        // Telekom (DE), Orange (FR), NTT (JP) — also over IPv6.
        for (address, country) in [
            ("8.8.8.8", "US"),
            ("2001:4860:4860::8888", "US"),
            ("80.128.0.1", "DE"),
            ("2003::1", "DE"),
            ("90.0.0.1", "FR"),
            ("::ffff:90.0.0.1", "FR"),
        ] {
            assert_eq!(
                geo.country(ip(address)).as_deref(),
                Some(country),
                "{address} in {}",
                path.display()
            );
        }
    }

    #[test]
    fn non_public_addresses_give_no_country() {
        let geo = GeoIp::open(installed_database()).unwrap();
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "192.0.2.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:192.168.1.1",
        ] {
            assert_eq!(geo.country(ip(address)), None, "{address}");
        }
    }

    #[test]
    fn both_layouts_are_read_and_upper_cased() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.mmdb");
        std::fs::write(&path, tiny_mmdb("se", "no")).unwrap();
        let geo = GeoIp::open(&path).unwrap();
        assert_eq!(geo.country(ip("1.2.3.4")).as_deref(), Some("SE"));
        assert_eq!(geo.country(ip("200.1.1.1")).as_deref(), Some("NO"));
        // An IPv6 address in an IPv4 database: no country.
        assert_eq!(geo.country(ip("2003::1")), None);
        assert!(
            geo.describe()
                .starts_with("pathlens-test, built 2026-01-01")
        );
    }

    #[test]
    fn a_missing_or_damaged_file_is_refused_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.mmdb");
        let error = GeoIp::open(&missing).unwrap_err().to_string();
        assert!(error.starts_with("geoip_database: "), "{error}");
        assert!(error.contains("absent.mmdb"), "{error}");
        let damaged = dir.path().join("damaged.mmdb");
        std::fs::write(&damaged, b"not a database").unwrap();
        let error = GeoIp::open(&damaged).unwrap_err().to_string();
        assert!(error.contains("damaged.mmdb"), "{error}");
        assert!(error.contains("MMDB"), "{error}");
        // Cut short: the second record (the 22 bytes after the search
        // tree's 6, the separator's 16 and the first record's 17) is gone,
        // so the tree points past the end of the data.
        let mut cut = tiny_mmdb("se", "no");
        cut.drain(39..61);
        std::fs::write(&damaged, cut).unwrap();
        let error = GeoIp::open(&damaged).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
    }

    #[test]
    fn a_replaced_file_is_reloaded_and_a_bad_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("country.mmdb");
        std::fs::write(&path, tiny_mmdb("se", "no")).unwrap();
        let geo = GeoIp::open(&path).unwrap();
        assert_eq!(geo.refresh(), Refresh::Unchanged);
        // Replaced by a rename, as scripts/geoip does.
        let next = dir.path().join("country.mmdb.new");
        std::fs::write(&next, tiny_mmdb("fi", "dk")).unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(geo.refresh(), Refresh::Reloaded);
        assert_eq!(geo.country(ip("1.2.3.4")).as_deref(), Some("FI"));
        assert_eq!(geo.country(ip("200.1.1.1")).as_deref(), Some("DK"));
        assert_eq!(geo.refresh(), Refresh::Unchanged);
        // A damaged file, then none: the database in memory stays.
        std::fs::write(&path, b"garbage, not an MMDB").unwrap();
        assert!(matches!(geo.refresh(), Refresh::Kept(reason) if reason.contains("MMDB")));
        assert_eq!(geo.refresh(), Refresh::Unchanged, "warned once per change");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(geo.refresh(), Refresh::Kept(_)));
        assert_eq!(geo.refresh(), Refresh::Unchanged);
        assert_eq!(geo.country(ip("1.2.3.4")).as_deref(), Some("FI"));
        // The real database written over it in place: used.
        std::fs::copy(installed_database(), &path).unwrap();
        assert_eq!(geo.refresh(), Refresh::Reloaded);
        assert_eq!(geo.country(ip("8.8.8.8")).as_deref(), Some("US"));
    }

    #[test]
    fn country_codes_are_two_letters() {
        assert_eq!(country_code("fr").as_deref(), Some("FR"));
        for bad in ["", "F", "FRA", "T1", "é"] {
            assert_eq!(country_code(bad), None, "{bad:?}");
        }
    }
}
