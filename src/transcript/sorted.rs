//! A value written as compact JSON with every object's keys in byte order, at every depth: the
//! bytes `serde_json::to_writer(&serde_json::to_value(v)?)` writes, without building the
//! `Value`. It writes strings, numbers, booleans, `null`, lists, structs and maps with string
//! keys; anything else it refuses (an error), and the caller writes that through a `Value`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;

use serde::Serialize;
use serde::ser::{self, Impossible};

/// Why a value was not written: a shape this writer leaves to `serde_json::Value`.
type Error = serde_json::Error;

fn unsupported() -> Error {
    ser::Error::custom("a shape written through a JSON value")
}

/// Appends `value` to `out`, each object's keys in byte order.
pub(super) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
    value.serialize(Sorted { out })
}

/// The writer of one value into `out`.
struct Sorted<'o> {
    out: &'o mut Vec<u8>,
}

impl Sorted<'_> {
    fn scalar<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        serde_json::to_writer(self.out, value)
    }
}

/// An object's keys, each with where its value's bytes are.
type Entries = Vec<(Cow<'static, str>, Range<usize>)>;

/// Spare buffers for the objects being written, kept from objects written before: once as many
/// objects as nest in a value have been written, the next such value costs no allocation.
struct Spare {
    buffers: RefCell<Vec<(Vec<u8>, Entries)>>,
}

impl Spare {
    /// A buffer larger than this goes back to the allocator, not to the spares.
    const KEPT: usize = 1 << 16;

    fn take(&self) -> (Vec<u8>, Entries) {
        self.buffers.borrow_mut().pop().unwrap_or_default()
    }

    fn give(&self, (mut values, mut entries): (Vec<u8>, Entries)) {
        if values.capacity() <= Self::KEPT {
            values.clear();
            entries.clear();
            self.buffers.borrow_mut().push((values, entries));
        }
    }
}

thread_local! {
    static SPARE: Spare = const {
        Spare {
            buffers: RefCell::new(Vec::new()),
        }
    };
}

/// An object's entries: each key with where its value's bytes are in `values`, written in key
/// order at the end. Its buffers go back to the spares when it is dropped.
struct Object<'o> {
    out: &'o mut Vec<u8>,
    values: Vec<u8>,
    entries: Entries,
    key: Option<String>,
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        let buffers = (
            std::mem::take(&mut self.values),
            std::mem::take(&mut self.entries),
        );
        SPARE.with(|spare| spare.give(buffers));
    }
}

impl Object<'_> {
    fn entry<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        let start = self.values.len();
        write(&mut self.values, value)?;
        self.entries.push((key, start..self.values.len()));
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        // A stable sort: of values given for one key, the last stands, as in a JSON object.
        self.entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        self.out.push(b'{');
        let mut first = true;
        for (n, (key, range)) in self.entries.iter().enumerate() {
            if self.entries.get(n + 1).is_some_and(|(next, _)| next == key) {
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *self.out, key)?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.values[range.clone()]);
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A list's elements, written as they come.
struct List<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl ser::SerializeSeq for List<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write(self.out, value)
    }
    fn end(self) -> Result<(), Error> {
        self.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.entry(Cow::Borrowed(key), value)
    }
    fn end(mut self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(Key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(unsupported)?;
        self.entry(Cow::Owned(key), value)
    }
    fn end(mut self) -> Result<(), Error> {
        self.finish()
    }
}

/// A map's key: a string only.
struct Key;

macro_rules! refuse {
    ($($name:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, Error> {
            Err(unsupported())
        })*
    };
}

impl ser::Serializer for Key {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;
    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, Error> {
        Err(unsupported())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(unsupported())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, Error> {
        Err(unsupported())
    }
    refuse! {
        serialize_bool(bool) -> String;
        serialize_i8(i8) -> String;
        serialize_i16(i16) -> String;
        serialize_i32(i32) -> String;
        serialize_i64(i64) -> String;
        serialize_u8(u8) -> String;
        serialize_u16(u16) -> String;
        serialize_u32(u32) -> String;
        serialize_u64(u64) -> String;
        serialize_f32(f32) -> String;
        serialize_f64(f64) -> String;
        serialize_char(char) -> String;
        serialize_bytes(&[u8]) -> String;
        serialize_none() -> String;
        serialize_unit() -> String;
        serialize_unit_struct(&'static str) -> String;
        serialize_unit_variant(&'static str, u32, &'static str) -> String;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

impl<'o> ser::Serializer for Sorted<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = List<'o>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Object<'o>;
    type SerializeStruct = Object<'o>;
    type SerializeStructVariant = Impossible<(), Error>;
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.scalar(&v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.scalar(v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(unsupported())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<List<'o>, Error> {
        self.out.push(b'[');
        Ok(List {
            out: self.out,
            first: true,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'o>, Error> {
        let (values, entries) = SPARE.with(Spare::take);
        Ok(Object {
            out: self.out,
            values,
            entries,
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'o>, Error> {
        self.serialize_map(None)
    }
    refuse! {
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}
