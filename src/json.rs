//! Strict JSON: an object parsed with duplicate keys refused at any depth (serde_json keeps the
//! last one silently), and the readers of its fields by name or dotted path.
//!
//! It trusts nothing in the bytes it parses; it imports nothing of keyrite's other modules.

use serde_json::{Map, Value};

/// Why a JSON file or one of its fields was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters file is not JSON.
    #[error("the parameters file is not valid JSON: {source}")]
    Syntax {
        /// Why not.
        #[source]
        source: Syntax,
    },
    /// The parameters file names a key twice.
    #[error("the parameters file has the key {key:?} more than once")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// The parameters file is JSON but not an object.
    #[error("the parameters file is not a JSON object")]
    NotAnObject,
    /// A field the provider always prints is missing.
    #[error("the parameters file has no {field}")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("{field} in the parameters file must be {expected}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
}

/// Why bytes are not JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Syntax {
    /// They start with a UTF-8 byte order mark.
    #[error("it starts with a byte order mark (save it as UTF-8 without one)")]
    ByteOrderMark,
    /// They are nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// What the parser said.
    #[error(transparent)]
    Parser(serde_json::Error),
}

/// Parses JSON, refusing duplicate keys at any depth (serde_json keeps the last one silently).
pub fn parse_json_object(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    if bytes.starts_with(b"\xef\xbb\xbf") {
        return Err(Error::Syntax {
            source: Syntax::ByteOrderMark,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Syntax {
            source: Syntax::Empty,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde::de::DeserializeSeed::deserialize(strict::StrictValue, &mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| match strict::duplicate_key(&e) {
            Some(key) => Error::DuplicateKey { key },
            None => Error::Syntax {
                source: Syntax::Parser(e),
            },
        })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(Error::NotAnObject),
    }
}

mod strict {
    //! A `serde_json::Value` that refuses duplicate object keys.
    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::fmt;

    const DUPLICATE: &str = "duplicate key ";

    pub(super) fn duplicate_key(e: &serde_json::Error) -> Option<String> {
        let msg = e.to_string();
        let rest = msg.strip_prefix(DUPLICATE)?;
        let end = rest.find(" at line ").unwrap_or(rest.len());
        serde_json::from_str(&rest[..end]).ok()
    }

    pub(super) struct StrictValue;

    impl<'de> DeserializeSeed<'de> for StrictValue {
        type Value = Value;
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for StrictValue {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(StrictValue)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if out.contains_key(&key) {
                    let quoted = serde_json::to_string(&key).unwrap_or_default();
                    return Err(de::Error::custom(format_args!("{DUPLICATE}{quoted}")));
                }
                let value = map.next_value_seed(StrictValue)?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
    }
}

/// Reads a required string field.
pub fn string_field<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, Error> {
    match map.get(field) {
        None | Some(Value::Null) => Err(Error::MissingField { field }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// Finds a value by a dotted path (`publicKey.pem`); `None` if any part is missing or null.
pub fn value_at<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = map.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    (!value.is_null()).then_some(value)
}

/// Reads a required string at a dotted path, naming the whole path in errors.
pub fn string_at<'a>(map: &'a Map<String, Value>, path: &'static str) -> Result<&'a str, Error> {
    match value_at(map, path) {
        None => Err(Error::MissingField { field: path }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::WrongType {
            field: path,
            expected: "a string",
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        let e = parse_json_object(br#"{"a": 1, "b": {"c": 1, "c": 2}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the parameters file has the key "c" more than once"#
        );
        let e = parse_json_object(br#"{"KeyId": "x", "KeyId": "y"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the parameters file has the key "KeyId" more than once"#
        );
        assert!(parse_json_object(br#"{"a": [{"c": 1}, {"c": 2}]}"#).is_ok());
    }

    #[test]
    fn trailing_bytes_and_non_objects_are_refused() {
        assert!(matches!(
            parse_json_object(b"{} {}"),
            Err(Error::Syntax { .. })
        ));
        assert!(matches!(parse_json_object(b"[1]"), Err(Error::NotAnObject)));
    }
}
