//! JSON on standard output, shared by every command that has a `--json`. Trusts serde_json to
//! serialise what the library returns.

use super::out::outln;
use keyrite::Error;

/// Prints `value` as pretty JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| keyrite::wrap::Error::Internal {
        what: format!("cannot serialise JSON: {e}"),
    })?;
    outln!("{text}");
    Ok(())
}

/// [`print_json`] with every character beyond ASCII written as a JSON `\uXXXX` escape, so
/// that what a token holds cannot reach the terminal as a control or a bidi override.
pub fn print_json_ascii<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| keyrite::wrap::Error::Internal {
        what: format!("cannot serialise JSON: {e}"),
    })?;
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
