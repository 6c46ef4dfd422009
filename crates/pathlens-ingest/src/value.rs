//! One field's JSON value, read without building a tree, and its checked
//! conversions to the types the native format expects.
//!
//! A conversion failure is a reason in words ("expected a string, got 5"),
//! which the reader turns into a rejection naming the field.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// How many characters of a bad string a rejection quotes.
const QUOTED_CHARS: usize = 40;

/// A field's value as the JSON held it. Strings borrow from the body unless
/// they contain escapes; arrays and objects are skipped, since no native field
/// takes one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldValue<'de> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(Cow<'de, str>),
    Array,
    Object,
}

impl<'de> FieldValue<'de> {
    /// A string of at most `max_chars` characters; null and the empty string
    /// are absent.
    pub(crate) fn into_text(self, max_chars: usize) -> Result<Option<Cow<'de, str>>, String> {
        match self {
            FieldValue::Null => Ok(None),
            FieldValue::Text(text) if text.is_empty() => Ok(None),
            FieldValue::Text(text) if is_longer_than(&text, max_chars) => {
                Err(format!("longer than {max_chars} characters"))
            }
            FieldValue::Text(text) => Ok(Some(text)),
            other => Err(format!("expected a string, got {other}")),
        }
    }

    /// An integer from 0 to `u32::MAX`; null is absent.
    pub(crate) fn into_u32(self) -> Result<Option<u32>, String> {
        match self {
            FieldValue::Null => Ok(None),
            FieldValue::Unsigned(number) => u32::try_from(number).map(Some).map_err(|_| {
                format!(
                    "expected a non-negative integer no larger than {}, got {number}",
                    u32::MAX
                )
            }),
            other => Err(format!("expected a non-negative integer, got {other}")),
        }
    }

    /// A finite number, zero or more; null is absent.
    pub(crate) fn into_amount(self) -> Result<Option<f64>, String> {
        let amount = match self {
            FieldValue::Null => return Ok(None),
            FieldValue::Unsigned(number) => number as f64,
            FieldValue::Float(number) if number.is_finite() && number >= 0.0 => number,
            other => {
                return Err(format!(
                    "expected a finite number of 0 or more, got {other}"
                ));
            }
        };
        Ok(Some(amount))
    }
}

/// Whether `text` has more than `max_chars` characters; counts them only when
/// its byte length leaves a doubt.
fn is_longer_than(text: &str, max_chars: usize) -> bool {
    text.len() > max_chars && text.chars().count() > max_chars
}

/// Shows the value as a rejection quotes it: JSON-like, long strings cut.
impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Null => formatter.write_str("null"),
            FieldValue::Bool(value) => write!(formatter, "{value}"),
            FieldValue::Unsigned(number) => write!(formatter, "{number}"),
            FieldValue::Signed(number) => write!(formatter, "{number}"),
            FieldValue::Float(number) => write!(formatter, "{number:?}"),
            FieldValue::Text(text) => write_quoted(formatter, text),
            FieldValue::Array => formatter.write_str("an array"),
            FieldValue::Object => formatter.write_str("an object"),
        }
    }
}

/// Writes `text` in quotes with escapes, cut after [`QUOTED_CHARS`].
pub(crate) fn write_quoted(formatter: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => write!(formatter, "{:?}…", &text[..cut]),
        None => write!(formatter, "{text:?}"),
    }
}

/// `text` in quotes as a rejection shows it.
pub(crate) fn quoted(text: &str) -> String {
    struct Quoted<'t>(&'t str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_quoted(formatter, self.0)
        }
    }
    Quoted(text).to_string()
}

impl<'de> Deserialize<'de> for FieldValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldValueVisitor)
    }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
    type Value = FieldValue<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(FieldValue::Null)
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(FieldValue::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(FieldValue::Bool(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(FieldValue::Unsigned(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(match u64::try_from(value) {
            Ok(unsigned) => FieldValue::Unsigned(unsigned),
            Err(_) => FieldValue::Signed(value),
        })
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(FieldValue::Float(value))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(FieldValue::Text(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(FieldValue::Text(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(FieldValue::Text(Cow::Owned(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(FieldValue::Object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> FieldValue<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn reads_every_json_type() {
        assert_eq!(read("null"), FieldValue::Null);
        assert_eq!(read("true"), FieldValue::Bool(true));
        assert_eq!(read("7"), FieldValue::Unsigned(7));
        assert_eq!(read("-7"), FieldValue::Signed(-7));
        assert_eq!(read("1.5"), FieldValue::Float(1.5));
        assert_eq!(read("[1, [2]]"), FieldValue::Array);
        assert_eq!(read("{\"a\": {}}"), FieldValue::Object);
    }

    #[test]
    fn plain_strings_borrow_and_escaped_ones_own() {
        assert!(matches!(
            read("\"abc\""),
            FieldValue::Text(Cow::Borrowed("abc"))
        ));
        assert!(matches!(read("\"a\\u00e9\""), FieldValue::Text(Cow::Owned(text)) if text == "aé"));
    }

    #[test]
    fn text_conversion_treats_empty_as_absent_and_counts_characters() {
        assert_eq!(read("\"\"").into_text(3), Ok(None));
        assert_eq!(read("null").into_text(3), Ok(None));
        assert_eq!(
            read("\"ééé\"").into_text(3).unwrap().as_deref(),
            Some("ééé")
        );
        assert_eq!(
            read("\"abcd\"").into_text(3),
            Err("longer than 3 characters".to_owned())
        );
        assert_eq!(
            read("5").into_text(3),
            Err("expected a string, got 5".to_owned())
        );
    }

    #[test]
    fn integer_conversion_names_what_it_got() {
        assert_eq!(read("4294967295").into_u32(), Ok(Some(u32::MAX)));
        assert_eq!(
            read("\"x\"").into_u32(),
            Err("expected a non-negative integer, got \"x\"".to_owned())
        );
        assert_eq!(
            read("-1").into_u32(),
            Err("expected a non-negative integer, got -1".to_owned())
        );
        assert_eq!(
            read("2.5").into_u32(),
            Err("expected a non-negative integer, got 2.5".to_owned())
        );
        assert!(
            read("4294967296")
                .into_u32()
                .unwrap_err()
                .contains("no larger than")
        );
    }

    #[test]
    fn amount_conversion_accepts_integers_and_rejects_negatives() {
        assert_eq!(read("3").into_amount(), Ok(Some(3.0)));
        assert_eq!(read("0.25").into_amount(), Ok(Some(0.25)));
        assert_eq!(
            read("-0.5").into_amount(),
            Err("expected a finite number of 0 or more, got -0.5".to_owned())
        );
        assert_eq!(
            read("[]").into_amount(),
            Err("expected a finite number of 0 or more, got an array".to_owned())
        );
    }

    #[test]
    fn long_strings_are_cut_when_quoted() {
        let long = "x".repeat(100);
        let shown = quoted(&long);
        assert!(shown.ends_with('…'));
        assert_eq!(shown.chars().filter(|c| *c == 'x').count(), QUOTED_CHARS);
    }
}
