//! Country codes: two ASCII letters, stored upper-case (ISO 3166-1 alpha-2).

/// A country code, held without allocating until it goes into an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountryCode([u8; 2]);

impl CountryCode {
    /// The code `raw` spells, in either case, or `None` when it is not two
    /// ASCII letters (which also turns away a proxy's placeholders such as
    /// Cloudflare's `T1`).
    pub(crate) fn parse(raw: &str) -> Option<CountryCode> {
        match raw.as_bytes() {
            [first, second] if first.is_ascii_alphabetic() && second.is_ascii_alphabetic() => {
                Some(CountryCode([
                    first.to_ascii_uppercase(),
                    second.to_ascii_uppercase(),
                ]))
            }
            _ => None,
        }
    }

    /// The code as the event stores it.
    pub(crate) fn to_owned_string(self) -> String {
        self.0.iter().map(|letter| char::from(*letter)).collect()
    }
}

/// `raw` as events store a country (upper-case), or `None` when it is not
/// two ASCII letters: for callers that pick a country before decoding, such
/// as the server choosing between a proxy's header and geolocation.
pub fn country_code(raw: &str) -> Option<String> {
    CountryCode::parse(raw).map(CountryCode::to_owned_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_two_letters_in_any_case() {
        assert_eq!(CountryCode::parse("fr").unwrap().to_owned_string(), "FR");
        assert_eq!(CountryCode::parse("Us").unwrap().to_owned_string(), "US");
    }

    #[test]
    fn rejects_anything_else() {
        for raw in ["", "F", "FRA", "T1", "é", "  "] {
            assert_eq!(CountryCode::parse(raw), None, "{raw:?}");
        }
    }
}
