//! The referrer domain: the site that embedded the player.
//!
//! Players send the referrer in three shapes, all accepted:
//!
//! - a URL, as current players send the page's address
//!   (`https://www.Example.com:8443/course?id=1`);
//! - a bare domain, as our own clients send `referrer_domain`
//!   (`example.com`, possibly followed by a path);
//! - Base64 of a URL, as players older than 2018 send it
//!   (`aHR0cHM6Ly9leGFtcGxlLmNvbS8=`), in the standard or URL-safe alphabet,
//!   padded or not, with `+` possibly turned into a space by query-string
//!   decoding.
//!
//! The domain is the URL's host, lower-cased, without user info, port or a
//! trailing dot. A leading `www.` is removed when a registrable name remains
//! (`www.example.com` and `example.com` are one site to an administrator;
//! `www.com` stays as it is). Anything else (empty strings, `about:blank`,
//! `file:///` URLs, undecodable Base64) has no domain.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The longest domain name DNS allows.
const MAX_DOMAIN_CHARS: usize = 253;

/// How many Base64 characters are decoded: enough for any URL's scheme and
/// host, and a multiple of 4 so a cut never splits a quantum.
const BASE64_PREFIX_CHARS: usize = 512;

/// Base64 as old players wrote it, padded or not.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Extracts the domain of a referrer given as a URL, a bare domain or Base64
/// of a URL, normalised as the module documentation describes. Returns `None`
/// for empty or unreadable input.
pub fn domain(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Some(host) = url_host(raw).or_else(|| bare_host(raw)) {
        return normalise(host);
    }
    let mut buffer = [0u8; BASE64_PREFIX_CHARS / 4 * 3];
    let decoded = decode_base64_prefix(raw, &mut buffer)?;
    let url = std::str::from_utf8(decoded).ok()?;
    normalise(url_host(url)?)
}

/// The host of `text` when it is an absolute (`scheme://`) or
/// protocol-relative (`//`) URL.
fn url_host(text: &str) -> Option<&str> {
    let after_scheme = match text.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => text.strip_prefix("//")?,
    };
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_and_port = match authority.rsplit_once('@') {
        Some((_user_info, host)) => host,
        None => authority,
    };
    Some(strip_port(host_and_port))
}

/// Whether `scheme` is a URL scheme: a letter, then letters, digits, `+`,
/// `-` or `.`.
fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn strip_port(host_and_port: &str) -> &str {
    if host_and_port.starts_with('[') {
        // An IPv6 literal keeps its brackets; its colons are not a port.
        return match host_and_port.find(']') {
            Some(end) => &host_and_port[..=end],
            None => host_and_port,
        };
    }
    match host_and_port.split_once(':') {
        Some((host, _port)) => host,
        None => host_and_port,
    }
}

/// The host of a bare domain, possibly followed by a port or path. It needs a
/// dot, which also tells it apart from Base64 (whose alphabet has none).
fn bare_host(text: &str) -> Option<&str> {
    let host = strip_port(text.split(['/', '?', '#']).next().unwrap_or_default());
    host.contains('.').then_some(host)
}

/// Lower-cases `host`, drops a trailing dot and a leading `www.`, and checks
/// it is a plausible host name.
fn normalise(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let host = match host.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("www.") && host[4..].contains('.') => {
            &host[4..]
        }
        _ => host,
    };
    is_host_name(host).then(|| host.to_ascii_lowercase())
}

/// Whether `host` is made of non-empty labels of letters, digits, `-` and `_`
/// (non-ASCII letters allowed for internationalised names), or is an IPv6
/// literal in brackets.
fn is_host_name(host: &str) -> bool {
    if host.is_empty() || host.chars().count() > MAX_DOMAIN_CHARS {
        return false;
    }
    if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !literal.is_empty() && literal.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// Decodes the first [`BASE64_PREFIX_CHARS`] characters of `text` into
/// `buffer`, accepting both alphabets and spaces for `+`. Returns `None` when
/// `text` is not Base64.
fn decode_base64_prefix<'b>(text: &str, buffer: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut prefix = [0u8; BASE64_PREFIX_CHARS];
    let length = text.len().min(BASE64_PREFIX_CHARS);
    for (target, byte) in prefix.iter_mut().zip(&text.as_bytes()[..length]) {
        *target = match byte {
            b' ' | b'-' => b'+',
            b'_' => b'/',
            other => *other,
        };
    }
    // A long text is cut after a whole number of 4-character quanta, and
    // padding only ever ends a text, so the cut prefix is valid Base64 too.
    let written = LENIENT_BASE64
        .decode_slice(&prefix[..length], buffer)
        .ok()?;
    Some(&buffer[..written])
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    #[test]
    fn urls_give_their_host_lower_cased_without_www() {
        assert_eq!(
            domain("https://www.Example.com/x?y").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            domain("http://Sub.Example.co.uk").as_deref(),
            Some("sub.example.co.uk")
        );
        assert_eq!(
            domain("https://user:pw@example.com:8443/p").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            domain("//cdn.example.net/embed").as_deref(),
            Some("cdn.example.net")
        );
        assert_eq!(
            domain("https://example.com./").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            domain("http://localhost:3000/").as_deref(),
            Some("localhost")
        );
        assert_eq!(domain("https://www.com/").as_deref(), Some("www.com"));
        assert_eq!(domain("http://[::1]:8080/").as_deref(), Some("[::1]"));
    }

    #[test]
    fn bare_domains_are_accepted() {
        assert_eq!(domain("example.com").as_deref(), Some("example.com"));
        assert_eq!(
            domain("  WWW.lms.example.edu  ").as_deref(),
            Some("lms.example.edu")
        );
        assert_eq!(
            domain("example.com/some/page").as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn base64_urls_of_old_players_are_decoded() {
        let url = "https://www.example.org/course/1?lang=en";
        assert_eq!(
            domain(&STANDARD.encode(url)).as_deref(),
            Some("example.org")
        );
        assert_eq!(
            domain(&URL_SAFE_NO_PAD.encode(url)).as_deref(),
            Some("example.org")
        );
        let long_url = format!("https://long.example.org/{}", "p".repeat(2000));
        assert_eq!(
            domain(&STANDARD.encode(long_url)).as_deref(),
            Some("long.example.org")
        );
    }

    #[test]
    fn base64_with_plus_turned_into_space_is_decoded() {
        // This URL encodes with a `+`, which a query string turns into a space.
        let url = "http://a.example.com/?q=>>>";
        let encoded = STANDARD.encode(url);
        assert!(encoded.contains('+'), "{encoded}");
        assert_eq!(
            domain(&encoded.replace('+', " ")).as_deref(),
            Some("a.example.com")
        );
    }

    #[test]
    fn garbage_has_no_domain() {
        for raw in [
            "",
            "   ",
            "about:blank",
            "file:///home/me/page.html",
            "not a referrer",
            "!!!!",
            "aGVsbG8gd29ybGQ=",
            "https://bad..example.com/",
            "https://exa mple.com/",
        ] {
            assert_eq!(domain(raw), None, "{raw:?}");
        }
    }
}
