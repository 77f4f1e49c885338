//! A transcript line read in one pass without building it: the JSON is checked exactly as
//! strictly as [`crate::json::parse_json_object`] checks it (serde_json's grammar, strings
//! decoded, no key repeated at any depth), but only the fields the line checks and the KCV check
//! (the KCV and the full check value) need are kept, borrowed from the line where they need no unescaping. `verify` builds a line's
//! whole `Map` only when a check needs more than this.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};

/// A value as the line checks see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) enum Scalar<'a> {
    /// The field is not there.
    #[default]
    Absent,
    /// A non-negative integer.
    U64(u64),
    /// A negative integer (or `-0`).
    I64(i64),
    /// A number with a fraction or an exponent.
    F64,
    /// A string, decoded.
    Str(Cow<'a, str>),
    /// `true`, `false`, `null`, an array or an object.
    Other,
}

impl Scalar<'_> {
    /// The string, if it is one.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as `serde_json::Value::as_u64` reads it.
    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::U64(n) => Some(*n),
            Scalar::I64(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }
}

/// What the KCV check reads of a line's `data`, when `data` is an object.
#[derive(Debug, Default)]
pub(super) struct DataView<'a> {
    /// `data.key_label`.
    pub(super) key_label: Scalar<'a>,
    /// `data.kcv`.
    pub(super) kcv: Scalar<'a>,
    /// `data.check_sha256`.
    pub(super) check_sha256: Scalar<'a>,
    /// Whether `data` has a `key` field (of any type).
    pub(super) has_key: bool,
    /// `data.key.label`, when `data.key` is an object.
    pub(super) key_label_in_key: Scalar<'a>,
    /// `data.key.kcv`, when `data.key` is an object.
    pub(super) kcv_in_key: Scalar<'a>,
    /// `data.key.check_sha256`, when `data.key` is an object.
    pub(super) check_sha256_in_key: Scalar<'a>,
}

/// A line's top-level fields.
#[derive(Debug, Default)]
pub(super) struct Head<'a> {
    /// The keys, in the order they appear.
    pub(super) keys: Vec<Cow<'a, str>>,
    pub(super) v: Scalar<'a>,
    pub(super) seq: Scalar<'a>,
    pub(super) time: Scalar<'a>,
    pub(super) step: Scalar<'a>,
    pub(super) actor: Scalar<'a>,
    pub(super) prev: Scalar<'a>,
    pub(super) data: DataView<'a>,
}

impl<'a> Head<'a> {
    /// The line's bytes (without the newline) read as a JSON object; `None` where
    /// [`crate::json::parse_json_object`] refuses them, or they are not an object.
    pub(super) fn parse(line: &'a [u8]) -> Option<Self> {
        // Valid UTF-8 is checked once for the whole line, not string by string; invalid UTF-8
        // anywhere is refused, as it is inside a string or a syntax error outside one.
        let text = std::str::from_utf8(line).ok()?;
        let mut de = serde_json::Deserializer::from_str(text);
        let head = de.deserialize_any(HeadVisitor).ok()?;
        de.end().ok()?;
        head
    }

    /// The step, if it is a string.
    pub(super) fn step(&self) -> Option<&str> {
        self.step.as_str()
    }
}

/// The keys of the objects being read, innermost last: one stack for the whole line, so an
/// object costs no allocation of its own. A repeated key is refused.
struct Keys<'a> {
    stack: Vec<Cow<'a, str>>,
}

/// The keys of one object: where they start on the stack, whether each came after the one
/// before in byte order (so far), and a set once there are many.
struct Frame<'a> {
    start: usize,
    ascending: bool,
    many: Option<BTreeSet<Cow<'a, str>>>,
}

impl<'a> Keys<'a> {
    /// Up to this many keys of an object are compared one by one; more go into a set.
    const FEW: usize = 32;

    fn open(&self) -> Frame<'a> {
        Frame {
            start: self.stack.len(),
            ascending: true,
            many: None,
        }
    }

    /// Adds a key of the object `frame`; an error if the object already has it.
    fn insert<E: de::Error>(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>) -> Result<(), E> {
        let repeated = match &mut frame.many {
            Some(many) => !many.insert(key),
            None if self.stack.len() - frame.start < Self::FEW => {
                let keys = &self.stack[frame.start..];
                // Keys in byte order so far, and this one after the last: a new key.
                frame.ascending &= keys.last().is_none_or(|last| **last < *key);
                let repeated = !frame.ascending && keys.contains(&key);
                self.stack.push(key);
                repeated
            }
            None => {
                let mut many: BTreeSet<Cow<'a, str>> = self.stack.drain(frame.start..).collect();
                let repeated = !many.insert(key);
                frame.many = Some(many);
                repeated
            }
        };
        if repeated {
            Err(E::custom("a key appears twice"))
        } else {
            Ok(())
        }
    }

    fn close(&mut self, frame: Frame<'a>) {
        self.stack.truncate(frame.start);
    }
}

/// A string (an object key), borrowed where it needs no unescaping.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Reads the entries of an object, its keys checked against `keys`, each value by `value`.
fn entries<'a, A: MapAccess<'a>>(
    mut map: A,
    keys: &mut Keys<'a>,
    mut value: impl FnMut(&mut A, &mut Keys<'a>, &Cow<'a, str>) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut frame = keys.open();
    while let Some(key) = map.next_key_seed(Text)? {
        keys.insert(&mut frame, key.clone())?;
        value(&mut map, keys, &key)?;
    }
    keys.close(frame);
    Ok(())
}

/// Any value, checked strictly and dropped.
struct Ignore<'k, 'a>(&'k mut Keys<'a>);

impl<'a> DeserializeSeed<'a> for Ignore<'_, 'a> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for Ignore<'_, 'a> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Ignore(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<(), A::Error> {
        entries(map, self.0, |map, keys, _| {
            map.next_value_seed(Ignore(keys))
        })
    }
}

/// A value kept as a [`Scalar`] (arrays and objects checked strictly, kept as `Other`).
struct ScalarSeed<'k, 'a>(&'k mut Keys<'a>);

impl<'a> DeserializeSeed<'a> for ScalarSeed<'_, 'a> {
    type Value = Scalar<'a>;
    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for ScalarSeed<'_, 'a> {
    type Value = Scalar<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64)
    }
    fn visit_borrowed_str<E>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other)
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ignore(self.0).visit_seq(seq).map(|()| Scalar::Other)
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ignore(self.0).visit_map(map).map(|()| Scalar::Other)
    }
}

/// Where in a line an object is, for what is kept of it.
#[derive(Clone, Copy)]
enum Place {
    /// The line itself.
    Top,
    /// Its `data`.
    Data,
    /// `data.key`.
    Key,
}

/// What is kept of a field's value.
enum Kept<'h, 'a> {
    /// The value, as a [`Scalar`].
    Scalar(&'h mut Scalar<'a>),
    /// The fields of the object there.
    Object(Place),
    /// Nothing.
    Nothing,
}

/// An object at a [`Place`], checked strictly, with the fields kept there filled in; any other
/// value is checked strictly and leaves nothing.
struct Object<'h, 'k, 'a> {
    place: Place,
    head: &'h mut Head<'a>,
    keys: &'k mut Keys<'a>,
}

impl<'a> DeserializeSeed<'a> for Object<'_, '_, 'a> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'a> Visitor<'a> for Object<'_, '_, 'a> {
    /// Whether the value is an object.
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<bool, A::Error> {
        Ignore(self.keys).visit_seq(seq).map(|()| false)
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<bool, A::Error> {
        let place = self.place;
        let head = self.head;
        entries(map, self.keys, |map, keys, key| {
            let kept = match (place, key.as_ref()) {
                (Place::Top, "v") => Kept::Scalar(&mut head.v),
                (Place::Top, "seq") => Kept::Scalar(&mut head.seq),
                (Place::Top, "time") => Kept::Scalar(&mut head.time),
                (Place::Top, "step") => Kept::Scalar(&mut head.step),
                (Place::Top, "actor") => Kept::Scalar(&mut head.actor),
                (Place::Top, "prev") => Kept::Scalar(&mut head.prev),
                (Place::Data, "key_label") => Kept::Scalar(&mut head.data.key_label),
                (Place::Data, "kcv") => Kept::Scalar(&mut head.data.kcv),
                (Place::Data, "check_sha256") => Kept::Scalar(&mut head.data.check_sha256),
                (Place::Key, "label") => Kept::Scalar(&mut head.data.key_label_in_key),
                (Place::Key, "kcv") => Kept::Scalar(&mut head.data.kcv_in_key),
                (Place::Key, "check_sha256") => Kept::Scalar(&mut head.data.check_sha256_in_key),
                (Place::Top, "data") => Kept::Object(Place::Data),
                (Place::Data, "key") => {
                    head.data.has_key = true;
                    Kept::Object(Place::Key)
                }
                _ => Kept::Nothing,
            };
            match kept {
                Kept::Scalar(field) => *field = map.next_value_seed(ScalarSeed(keys))?,
                Kept::Object(place) => {
                    map.next_value_seed(Object {
                        place,
                        head: &mut *head,
                        keys,
                    })?;
                }
                Kept::Nothing => map.next_value_seed(Ignore(keys))?,
            }
            if let Place::Top = place {
                head.keys.push(key.clone());
            }
            Ok(())
        })?;
        Ok(true)
    }
}

/// The whole line: `Some` head if it is an object.
struct HeadVisitor;

impl<'a> Visitor<'a> for HeadVisitor {
    type Value = Option<Head<'a>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'a>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ignore(&mut Keys { stack: Vec::new() })
            .visit_seq(seq)
            .map(|()| None)
    }
    fn visit_map<A: MapAccess<'a>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut head = Head::default();
        let mut keys = Keys {
            stack: Vec::with_capacity(64),
        };
        Object {
            place: Place::Top,
            head: &mut head,
            keys: &mut keys,
        }
        .visit_map(map)?;
        Ok(Some(head))
    }
}
