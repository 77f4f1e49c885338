//! JSON on standard output, shared by every command that has a `--json`. Trusts serde_json to
//! serialise what the library returns. Every output is one object whose first field, `schema`,
//! names it and its version (docs/json.md documents each field by field).

use serde::Serialize;

use super::out::outln;
use keyrite::Error;

/// What a `--json` output is: its name and its version, as `"keyrite.NAME/VERSION"`. The
/// version is raised when a field is removed or renamed, or changes its type or its meaning;
/// a new field does not raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `keyrite verify --json`.
    Verify,
    /// `keyrite wrap --json` and `keyrite rewrap --json`: the manifest.
    Wrap,
    /// `keyrite restore --json`.
    Restore,
    /// `keyrite keys list --json`.
    KeysList,
    /// `keyrite token info --json`.
    TokenInfo,
}

impl Schema {
    /// The value of `schema`.
    pub fn name(self) -> &'static str {
        match self {
            Schema::Verify => "keyrite.verify/1",
            Schema::Wrap => "keyrite.wrap/1",
            Schema::Restore => "keyrite.restore/1",
            Schema::KeysList => "keyrite.keys.list/1",
            Schema::TokenInfo => "keyrite.token.info/1",
        }
    }
}

/// `value`'s fields after `schema`.
#[derive(Serialize)]
struct Versioned<'a, T> {
    schema: &'static str,
    #[serde(flatten)]
    value: &'a T,
}

/// Pretty JSON: `value`'s fields after `schema`.
fn pretty<T: Serialize>(schema: Schema, value: &T) -> Result<String, Error> {
    let versioned = Versioned {
        schema: schema.name(),
        value,
    };
    serde_json::to_string_pretty(&versioned).map_err(|e| {
        keyrite::wrap::Error::Internal {
            what: format!("cannot serialise JSON: {e}"),
        }
        .into()
    })
}

/// Prints `value` as pretty JSON, after its `schema`.
pub fn print_json<T: Serialize>(schema: Schema, value: &T) -> Result<(), Error> {
    let text = pretty(schema, value)?;
    outln!("{text}");
    Ok(())
}

/// [`print_json`] with every character beyond ASCII written as a JSON `\uXXXX` escape, so
/// that what a token holds cannot reach the terminal as a control or a bidi override.
pub fn print_json_ascii<T: Serialize>(schema: Schema, value: &T) -> Result<(), Error> {
    let text = pretty(schema, value)?;
    let mut ascii = String::with_capacity(text.len());
    for c in text.chars() {
        if u32::from(c) < 0x7f {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                ascii.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    outln!("{ascii}");
    Ok(())
}
