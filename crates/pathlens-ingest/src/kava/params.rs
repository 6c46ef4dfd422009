//! The parameters of one beacon, from the query string and the body, as one
//! flat list of `name → text` pairs.

use serde_json::Value;

use super::KavaError;

/// The most parameters one beacon may carry; a real one has a few dozen.
const MAX_PARAMS: usize = 512;

/// A beacon's parameters in the order they were read: the query string
/// first, then the body. Lookups take the first non-empty value, so the
/// query string wins over the body.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    /// Top-level names of a JSON body whose value was an object or an
    /// array (flattened into `name:…` pairs), with what it was.
    nested: Vec<(String, &'static str)>,
}

impl Params {
    /// Reads `query` (form-encoded: `+` is a space, `%XX` a byte) and `body`:
    /// a JSON object when its first non-blank byte is `{` (nested objects
    /// flattened into `outer:inner` names, arrays into `name:0`, `name:1`,
    /// …; numbers and booleans as their JSON text; `null` as absent),
    /// otherwise a form-encoded string like the query.
    pub(crate) fn read(query: &str, body: &[u8]) -> Result<Params, KavaError> {
        let mut params = Params::default();
        params.pairs.extend(form_pairs(query.as_bytes())?);
        let body = trim(body);
        if body.first() == Some(&b'{') {
            let value: Value = serde_json::from_slice(body).map_err(|error| {
                KavaError::body(format!("the body starts like JSON but is not: {error}"))
            })?;
            if let Value::Object(fields) = &value {
                for (name, item) in fields {
                    match item {
                        Value::Object(_) => params.nested.push((name.clone(), "an object")),
                        Value::Array(_) => params.nested.push((name.clone(), "an array")),
                        _ => {}
                    }
                }
            }
            flatten("", &value, &mut params.pairs);
        } else if !body.is_empty() {
            params.pairs.extend(form_pairs(body)?);
        }
        if params.pairs.len() > MAX_PARAMS {
            return Err(KavaError::body(format!(
                "a beacon carries at most {MAX_PARAMS} parameters, this one {}",
                params.pairs.len()
            )));
        }
        Ok(params)
    }

    /// What a JSON body sent as `name` when that was an object or an array
    /// rather than one value.
    pub(crate) fn nested(&self, name: &str) -> Option<&'static str> {
        self.nested
            .iter()
            .find(|(nested, _)| nested == name)
            .map(|(_, shape)| *shape)
    }

    /// The first non-empty value of `name` (names are case-sensitive, as
    /// the player sends them).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.as_str())
    }
}

/// The pairs of a form-encoded string. A name or value whose `%XX` escapes
/// do not spell UTF-8 is refused, naming the parameter, rather than read
/// with replacement characters that would be stored as if sent.
fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, KavaError> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&byte| if byte == b'+' { b' ' } else { byte })
            .collect();
        percent_encoding::percent_decode(&spaced)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    let mut pairs = Vec::new();
    for pair in input.split(|&byte| byte == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let name = decode(name).map_err(|_| {
            KavaError::new(
                &String::from_utf8_lossy(name),
                "the parameter's name is not UTF-8 once its %-escapes are decoded",
            )
        })?;
        let value = decode(value).map_err(|_| {
            KavaError::new(
                &name,
                "not UTF-8 once its %-escapes are decoded (a %XX escape spells a byte of UTF-8)",
            )
        })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

fn trim(body: &[u8]) -> &[u8] {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(body.len());
    &body[start..]
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}:{name}")
        }
    };
    match value {
        Value::Null => {}
        Value::Bool(flag) => out.push((prefix.to_owned(), flag.to_string())),
        Value::Number(number) => out.push((prefix.to_owned(), number.to_string())),
        Value::String(text) => out.push((prefix.to_owned(), text.clone())),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&join(&index.to_string()), item, out);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                flatten(&join(name), item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode_plus_and_percent() {
        let params = Params::read("a=1&referrer=aHR0c+Rv&b=x%3Ay%20z&c=", b"").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("referrer"), Some("aHR0c Rv"));
        assert_eq!(params.get("b"), Some("x:y z"));
        assert_eq!(params.get("c"), None);
        assert_eq!(params.get("missing"), None);
    }

    #[test]
    fn json_bodies_are_flattened_with_colons() {
        let body = br#" {"eventIndex": 4, "playTimeSum": 10.5, "flag": true, "none": null,
            "customVar": {"a": "x", "deep": {"b": 2}}, "list": ["p", "q"]}"#;
        let params = Params::read("eventType=99", body).unwrap();
        assert_eq!(params.get("eventType"), Some("99"));
        assert_eq!(params.get("eventIndex"), Some("4"));
        assert_eq!(params.get("playTimeSum"), Some("10.5"));
        assert_eq!(params.get("flag"), Some("true"));
        assert_eq!(params.get("none"), None);
        assert_eq!(params.get("customVar:a"), Some("x"));
        assert_eq!(params.get("customVar:deep:b"), Some("2"));
        assert_eq!(params.get("list:1"), Some("q"));
    }

    #[test]
    fn form_bodies_are_read_like_the_query() {
        let params = Params::read("eventType=3", b"position=1.5&userId=ada+lovelace").unwrap();
        assert_eq!(params.get("position"), Some("1.5"));
        assert_eq!(params.get("userId"), Some("ada lovelace"));
    }

    #[test]
    fn the_query_wins_over_the_body() {
        let params = Params::read("partnerId=1", br#"{"partnerId": 2}"#).unwrap();
        assert_eq!(params.get("partnerId"), Some("1"));
    }

    #[test]
    fn escapes_that_are_not_utf8_are_refused_with_the_parameter() {
        let error = Params::read("eventType=1&userId=al%FFce", b"").unwrap_err();
        assert_eq!(error.field, "userId");
        assert!(error.reason.contains("UTF-8"), "{}", error.reason);
        let error = Params::read("eventType=1", b"referrer=%C3%28").unwrap_err();
        assert_eq!(error.field, "referrer");
        // Escaped UTF-8, a lone `=` and empty pairs are fine.
        let params = Params::read("name=Jos%C3%A9&&flag&x=a%3Db", b"").unwrap();
        assert_eq!(params.get("name"), Some("José"));
        assert_eq!(params.get("x"), Some("a=b"));
        assert_eq!(params.get("flag"), None);
    }

    #[test]
    fn objects_and_arrays_are_remembered_by_name() {
        let params = Params::read(
            "",
            br#"{"eventIndex": {"n": 3}, "ids": [1], "position": 2}"#,
        )
        .unwrap();
        assert_eq!(params.nested("eventIndex"), Some("an object"));
        assert_eq!(params.nested("ids"), Some("an array"));
        assert_eq!(params.nested("position"), None);
        assert_eq!(params.get("eventIndex:n"), Some("3"));
    }

    #[test]
    fn broken_json_is_a_body_error() {
        let error = Params::read("", b"{\"eventIndex\": ").unwrap_err();
        assert_eq!(error.field, "(body)");
        assert!(error.reason.contains("JSON"), "{}", error.reason);
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let query: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert!(Params::read(&query.join("&"), b"").is_err());
    }
}
