//! The chain and seal checks, on each line's exact bytes: every line has exactly the format's
//! fields, canonical integers and a bounded depth, and is in keyrite's encoding (the bytes
//! keyrite writes for it); `seq` runs without gaps and each `prev` is the SHA-256 of the line
//! before; one seal line follows the finish line, signed over the chain head by the key the
//! auditor gives.
//!
//! It trusts the `--signer` key and nothing in the transcript: the seal's own `signer` field is
//! only compared with that key's fingerprint.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::head::{self, Head};
use super::parsed::{FirstSeal, Parsed, SealHead};
use super::{Check, failed, not_checked, passed};
use crate::signer_key::{Signed, SignerKey};
use crate::transcript::{Entry, write_line_text, write_seal_text};

const LINE_KEYS: [&str; 7] = ["actor", "data", "prev", "seq", "step", "time", "v"];
const SEAL_KEYS: [&str; 7] = ["prev", "seq", "signature", "signer", "step", "time", "v"];

/// Check 1: every line parses with exactly the format's fields, in keyrite's encoding, `seq`
/// runs without gaps, and each `prev` is the SHA-256 of the previous line's exact bytes. Fed
/// line by line.
pub(super) struct Chain {
    /// The chain head: SHA-256 of the last line fed, or of nothing.
    head: [u8; 32],
    /// The first line that breaks the format, and how.
    broken: Option<(LineError, usize)>,
    /// Where the bytes keyrite writes for a line are put, line after line.
    text: Vec<u8>,
}

impl Chain {
    pub(super) fn new() -> Self {
        Chain {
            head: Sha256::digest(b"").into(),
            broken: None,
            text: Vec::new(),
        }
    }

    /// Feeds line `i`, its exact bytes `raw` read as `head` and as `entry` (where its data fits
    /// its step), whose SHA-256 is `digest`.
    pub(super) fn feed(
        &mut self,
        i: usize,
        raw: &[u8],
        head: Option<&Head<'_>>,
        entry: Option<&Entry>,
        digest: [u8; 32],
    ) {
        if self.broken.is_none() {
            // serde_json refuses a number beyond f64 (1e400) as it builds the line: name it.
            let number = || {
                serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok()
                    && matches!(check_tokens(raw), Err(LineError::Number { .. }))
            };
            let checked = match head {
                None if number() => check_tokens(raw),
                // The bytes keyrite writes hold only canonical integers, nested no deeper than
                // its entries: a line that is exactly those bytes passes check_tokens.
                _ => check_head(i, head, &self.head).and_then(|()| {
                    if as_keyrite_writes(&mut self.text, raw, head, entry) {
                        return Ok(());
                    }
                    check_tokens(raw)
                        .and_then(|()| check_encoding(&mut self.text, raw, head, entry))
                }),
            };
            if let Err(e) = checked {
                self.broken = Some((e, i));
            }
        }
        self.head = digest;
    }

    /// The check, once every line has been fed; `cut_short` if the last line has no newline.
    pub(super) fn check(&self, count: usize, cut_short: bool) -> Check {
        let name = "chain";
        if count == 0 {
            return failed(name, "the transcript is empty", None);
        }
        if cut_short {
            return failed(
                name,
                "the last line has no newline (cut short)",
                Some(count - 1),
            );
        }
        match &self.broken {
            Some((reason, line)) => failed(name, reason.to_string(), Some(*line)),
            None => passed(
                name,
                format!("{count} lines, each chained to the one before"),
            ),
        }
    }
}

/// One transcript line's bytes (without its newline) as a JSON object; `None` if they are not
/// one, or repeat a key.
pub fn parse_line(line: &[u8]) -> Option<Map<String, Value>> {
    crate::json::parse_json_object(line).ok()
}

/// Why a transcript line does not have the format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The bytes are not a JSON object without repeated keys.
    #[error("not a JSON object (or a key appears twice)")]
    NotAnObject,
    /// The fields are not exactly the format's.
    #[error("fields {found:?}, not {expected:?}")]
    Fields {
        /// The fields found, in order.
        found: Vec<String>,
        /// The fields of such a line.
        expected: &'static [&'static str],
    },
    /// `v` is not the format version.
    #[error("v is not 1")]
    Version,
    /// `seq` is not the line's position.
    #[error("seq is not {expected}")]
    Seq {
        /// The line's 0-based position.
        expected: usize,
    },
    /// `time` is not an RFC 3339 time.
    #[error("time is not an RFC 3339 time")]
    Time,
    /// `step` or `actor` is not a string.
    #[error("step and actor must be strings")]
    StepOrActor,
    /// `prev` is not the chain head before the line.
    #[error("prev is not the SHA-256 of the previous line's bytes")]
    Prev,
    /// A number that is not a canonical integer of 64 bits.
    #[error(
        "the number {found} is not a canonical integer (digits only, no fraction, exponent or -0, within 64 bits)"
    )]
    Number {
        /// The number as written (its first 40 characters).
        found: String,
    },
    /// Objects and arrays nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    Depth,
    /// The bytes are not those keyrite writes for the line.
    #[error("not in keyrite's encoding: {0}")]
    Encoding(Encoding),
}

/// How a line's bytes differ from those keyrite writes for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Encoding {
    /// Whitespace between tokens: keyrite writes compact JSON.
    #[error("whitespace between tokens")]
    Whitespace,
    /// A string escape serde_json does not write (`\/`, `\u` for a character it writes as
    /// itself or in short form, uppercase hex).
    #[error(
        r#"a string escape keyrite does not write (it escapes only ", \ and control characters: \b \f \n \r \t, others as \u00xx in lowercase hex)"#
    )]
    Escape,
    /// An object's keys not in byte order.
    #[error("keys out of order")]
    KeyOrder,
    /// An optional field written where keyrite leaves it out (`null`, `0`, `{}`).
    #[error("a field written that keyrite leaves out when it is empty (null, 0 or {{}})")]
    Absent,
}

/// How deep objects and arrays may nest in a line (the line's own object is level 1): the same
/// limit in all three verifiers.
pub const MAX_DEPTH: usize = 64;

/// Checks what the JSON grammar leaves open, on the exact bytes of a line that parses: every
/// number is a canonical integer that fits 64 bits (`-?(0|[1-9][0-9]*)`, not `-0`, between
/// -2^63 and 2^64-1), and nothing nests deeper than [`MAX_DEPTH`]. Every line is held to it,
/// witness lines included, so no verifier reads a number or a depth another would refuse.
fn check_tokens(raw: &[u8]) -> Result<(), LineError> {
    let (mut depth, mut in_string) = (0usize, false);
    let mut i = 0;
    while i < raw.len() {
        if in_string {
            // To the next quote or backslash: nothing between them is a token.
            let Some(n) = memchr::memchr2(b'"', b'\\', &raw[i..]) else {
                break;
            };
            i += n;
            // An escape is a backslash and the character after it.
            if raw[i] == b'\\' {
                i += 2;
            } else {
                in_string = false;
                i += 1;
            }
            continue;
        }
        let b = raw[i];
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(LineError::Depth);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let end = raw[i..]
                    .iter()
                    .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                    .map_or(raw.len(), |n| i + n);
                let text = String::from_utf8_lossy(&raw[i..end]);
                if !canonical_integer(&text) {
                    return Err(LineError::Number {
                        found: text.chars().take(40).collect(),
                    });
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Checks that the line `raw`, read as `head` and as `entry` (where its data fits its step), is
/// exactly the bytes keyrite writes for it ([`crate::transcript::line_text`],
/// [`crate::transcript::seal_text`], written into `text`): one encoding per
/// line, so that no one can re-encode a line (the seal line, a witness line, which no signature
/// covers) into a second line with another SHA-256. A line that is neither an entry nor a seal
/// is held to the same encoding of what it holds (its own checks fail it).
fn check_encoding(
    text: &mut Vec<u8>,
    raw: &[u8],
    head: Option<&Head<'_>>,
    entry: Option<&Entry>,
) -> Result<(), LineError> {
    if as_keyrite_writes(text, raw, head, entry) {
        return Ok(());
    }
    let written = !text.is_empty();
    if let Some(e) = misencoded(raw) {
        return Err(LineError::Encoding(e));
    }
    let reencoded = serde_json::from_slice::<Value>(raw)
        .and_then(|v| serde_json::to_string(&v))
        .ok();
    if reencoded.is_some_and(|r| r.as_bytes() != raw) {
        return Err(LineError::Encoding(Encoding::KeyOrder));
    }
    if written {
        Err(LineError::Encoding(Encoding::Absent))
    } else {
        Ok(())
    }
}

/// Whether the line `raw`, read as `head` and `entry`, is exactly the bytes keyrite writes for
/// it, which are left in `text` (empty where keyrite writes no such line).
fn as_keyrite_writes(
    text: &mut Vec<u8>,
    raw: &[u8],
    head: Option<&Head<'_>>,
    entry: Option<&Entry>,
) -> bool {
    text.clear();
    let written = head.is_some_and(|head| keyrite_text(text, raw, head, entry));
    if !written {
        text.clear();
    }
    written && text[..] == *raw
}

/// Writes into `text` the bytes keyrite writes for the line `raw` read as `head` and `entry`:
/// an entry's line, or the seal line; `false` for any other line, or where a field is not what
/// keyrite writes.
fn keyrite_text(text: &mut Vec<u8>, raw: &[u8], head: &Head<'_>, entry: Option<&Entry>) -> bool {
    let mut written = || {
        let seq = head.seq.as_u64()?;
        let (time, prev) = (head.time.as_str()?, head.prev.as_str()?);
        match entry {
            Some(entry) => write_line_text(text, seq, time, head.actor.as_str()?, entry, prev).ok(),
            None if head.step() == Some("seal") => {
                let seal = SealHead::parse(raw);
                let (signer, signature) = (seal.signer?, seal.signature?);
                write_seal_text(text, seq, time, prev, &signer, &signature).ok()
            }
            None => None,
        }
    };
    written().is_some()
}

/// How the JSON line `raw` is encoded otherwise than serde_json writes any line: whitespace
/// between tokens, or a string escape serde_json does not write.
fn misencoded(raw: &[u8]) -> Option<Encoding> {
    let (mut in_string, mut i) = (false, 0);
    while i < raw.len() {
        match (in_string, raw[i]) {
            (false, b' ' | b'\t' | b'\n' | b'\r') => return Some(Encoding::Whitespace),
            (_, b'"') => in_string = !in_string,
            (true, b'\\') => {
                let written = match raw.get(i + 1) {
                    Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => true,
                    Some(b'u') => raw.get(i + 2..i + 6).is_some_and(written_as_u_escape),
                    _ => false,
                };
                if !written {
                    return Some(Encoding::Escape);
                }
                i += if raw.get(i + 1) == Some(&b'u') { 6 } else { 2 };
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether the four hex digits of a `\u` escape are one serde_json writes: a control character
/// without a short form (`\b \t \n \f \r`), in lowercase hex.
fn written_as_u_escape(hex: &[u8]) -> bool {
    let lower = hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let code = std::str::from_utf8(hex)
        .ok()
        .and_then(|h| u16::from_str_radix(h, 16).ok());
    lower && code.is_some_and(|c| c < 0x20 && !matches!(c, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d))
}

/// `-?(0|[1-9][0-9]*)`, not `-0`, and within i64 or u64.
fn canonical_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let form = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && text != "-0";
    form && (text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok())
}

/// Checks a line parsed by [`parse_line`] against the format: exactly the format's fields (the
/// seal's own), `v` 1, `seq` equal to `index` (0-based), an RFC 3339 `time`, string `step` and
/// `actor`, and `prev` equal to `prev`, the SHA-256 (hex) of the line before (of nothing for
/// line 0).
pub fn check_line(
    index: usize,
    map: Option<&Map<String, Value>>,
    prev: &str,
) -> Result<(), LineError> {
    let map = map.ok_or(LineError::NotAnObject)?;
    let is_seal = map.get("step").and_then(Value::as_str) == Some("seal");
    let expected: &'static [&'static str] = if is_seal { &SEAL_KEYS } else { &LINE_KEYS };
    if !map.keys().map(String::as_str).eq(expected.iter().copied()) {
        return Err(LineError::Fields {
            found: map.keys().cloned().collect(),
            expected,
        });
    }
    if map.get("v") != Some(&Value::from(1)) {
        return Err(LineError::Version);
    }
    if map.get("seq").and_then(Value::as_u64) != Some(index as u64) {
        return Err(LineError::Seq { expected: index });
    }
    let time_ok = map
        .get("time")
        .and_then(Value::as_str)
        .is_some_and(|t| crate::timestamp::rfc3339("time", t).is_ok());
    if !time_ok {
        return Err(LineError::Time);
    }
    if !map.get("step").is_some_and(Value::is_string)
        || (!is_seal && !map.get("actor").is_some_and(Value::is_string))
    {
        return Err(LineError::StepOrActor);
    }
    if map.get("prev").and_then(Value::as_str) != Some(prev) {
        return Err(LineError::Prev);
    }
    Ok(())
}

/// [`check_line`] on a line read by [`Head::parse`], against the chain head `prev` (raw bytes):
/// the same rules, in the same order, with the same errors.
fn check_head(index: usize, head: Option<&Head<'_>>, prev: &[u8; 32]) -> Result<(), LineError> {
    let head = head.ok_or(LineError::NotAnObject)?;
    let is_seal = head.step() == Some("seal");
    let expected: &'static [&'static str] = if is_seal { &SEAL_KEYS } else { &LINE_KEYS };
    let mut keys: Vec<&str> = head.keys.iter().map(|k| k.as_ref()).collect();
    keys.sort_unstable();
    if keys != expected {
        return Err(LineError::Fields {
            found: keys.into_iter().map(str::to_owned).collect(),
            expected,
        });
    }
    if head.v != head::Scalar::U64(1) {
        return Err(LineError::Version);
    }
    if head.seq.as_u64() != Some(index as u64) {
        return Err(LineError::Seq { expected: index });
    }
    let time_ok = head
        .time
        .as_str()
        .is_some_and(|t| crate::timestamp::rfc3339("time", t).is_ok());
    if !time_ok {
        return Err(LineError::Time);
    }
    if head.step().is_none() || (!is_seal && head.actor.as_str().is_none()) {
        return Err(LineError::StepOrActor);
    }
    let mut hex_prev = [0u8; 64];
    let prev_ok = hex::encode_to_slice(prev, &mut hex_prev).is_ok()
        && head.prev.as_str().map(str::as_bytes) == Some(&hex_prev[..]);
    if !prev_ok {
        return Err(LineError::Prev);
    }
    Ok(())
}

/// Check 2: a finish line precedes exactly one seal line, only witness lines follow it, and the
/// seal is the signer's signature over the chain head.
pub(super) fn check_seal(parsed: &mut Parsed, signer: &SignerKey, signer_fp: &str) -> Check {
    let name = "seal";
    let Some(FirstSeal { line: i, head, .. }) = &parsed.first_seal else {
        return not_checked(
            name,
            "a seal line (there is none: the ceremony did not finish)",
        );
    };
    let i = *i;
    if let Some(misplaced) = misplaced_seal(parsed, i) {
        return misplaced;
    }
    if head.signer.as_deref() != Some(signer_fp) {
        return failed(
            name,
            format!(
                "sealed by the key with fingerprint {}, not by --signer ({signer_fp})",
                head.signer.as_deref().unwrap_or("?")
            ),
            Some(i),
        );
    }
    let check = seal_signature(head, signer, i);
    parsed.seal = Some(i);
    check
}

/// Why the first seal line, line `i`, is not where a seal stands: a second seal line, no finish
/// line just before it, or a line other than a witness line after it.
fn misplaced_seal(parsed: &Parsed, i: usize) -> Option<Check> {
    let name = "seal";
    if let Some(second) = parsed.second_seal {
        return Some(failed(name, "a second seal line", Some(second)));
    }
    if i == 0 || !parsed.finish_before_seal {
        return Some(failed(
            name,
            "the line before the seal is not a finish line",
            Some(i),
        ));
    }
    parsed.after_seal.map(|j| {
        failed(
            name,
            "a line other than a witness line follows the seal",
            Some(j),
        )
    })
}

/// The seal line `seal` (line `i`) signs its `prev`, the chain head, under `signer`: an ECDSA
/// signature low-S, an RSA-PSS one with SHA-256, MGF1-SHA-256 and a 32-byte salt.
fn seal_signature(seal: &SealHead, signer: &SignerKey, i: usize) -> Check {
    let name = "seal";
    let head: Option<[u8; 32]> = seal
        .prev
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|h| h.try_into().ok());
    let signature = seal.signature.as_deref().and_then(|s| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode(s).ok()
    });
    let signed = match (head, signature) {
        (Some(head), Some(signature)) => signer.check(&head, &signature),
        _ => Signed::Refused,
    };
    match signed {
        Signed::Verified => passed(
            name,
            format!(
                "the signer's {} signature over the chain head verifies",
                signer.algorithm().short()
            ),
        ),
        // A high-S signature is the twin of a valid low-S one: anyone could make a second seal line.
        Signed::HighS => failed(
            name,
            "the signature is high-S (s > n/2): keyrite seals with low-S only, so this seal line is not one keyrite made",
            Some(i),
        ),
        Signed::Refused => failed(
            name,
            "the signature does not verify under --signer",
            Some(i),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A line's fields with `data` and the other values given: `{data}` and `{rest}` spliced in.
    fn line_with(prev: &str, data: &str, rest: &str) -> String {
        format!(
            r#"{{"actor":"a","data":{data},"prev":"{prev}","seq":0,"step":"generated","time":"2026-01-01T00:00:00Z"{rest}}}"#
        )
    }

    #[test]
    fn the_one_pass_reader_and_the_map_agree_on_every_line() {
        let prev_bytes: [u8; 32] = Sha256::digest(b"").into();
        let prev = hex::encode(prev_bytes);
        let mut lines: Vec<String> = [
            "",
            " ",
            "[]",
            "{}",
            "null",
            "\u{feff}{}",
            r#"{"v":1}"#,
            r#"{"v":1,"v":1}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"b":1},{"b":1,"b":1}]}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\u00e9\n"}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1} x"#,
            r#"{"a":1}  "#,
            "{\"a\":\"\u{1}\"}",
        ]
        .map(str::to_owned)
        .to_vec();
        for rest in [
            r#","v":1"#,
            r#","v":1.0"#,
            r#","v":-1"#,
            r#","v":"1""#,
            r#","v":1,"x":0"#,
            "",
        ] {
            for data in [
                "{}",
                "[]",
                "null",
                r#"{"key":{"label":"k","kcv":"abcdef"}}"#,
                r#"{"key":{"label":"k","label":"k"}}"#,
                r#"{"key_label":"k\u0041","kcv":7,"key":null}"#,
            ] {
                lines.push(line_with(&prev, data, rest));
            }
        }
        for (seq, time, step, actor, prev_field) in [
            (
                "-0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0.0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-02-30T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "1",
                "\"a\"",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "null",
                format!("\"{prev}\""),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                format!("\"{}\"", prev.to_uppercase()),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"s\"",
                "\"a\"",
                "\"\\u0065\"".to_owned(),
            ),
            (
                "0",
                "\"2026-01-01T00:00:00Z\"",
                "\"seal\"",
                "\"a\"",
                format!("\"{prev}\""),
            ),
        ] {
            lines.push(format!(
                r#"{{"actor":{actor},"data":{{}},"prev":{prev_field},"seq":{seq},"step":{step},"time":{time},"v":1}}"#
            ));
        }
        lines.push(format!(
            r#"{{"prev":"{prev}","seq":0,"signature":"c2ln","signer":"fp","step":"seal","time":"2026-01-01T00:00:00Z","v":1}}"#
        ));
        let mut lines: Vec<Vec<u8>> = lines.into_iter().map(String::into_bytes).collect();
        lines.push(b"{\"a\":\"\xff\"}".to_vec());
        lines.push(b"{\"a\":1}\xff".to_vec());
        lines.push(b"{\"a\xc3\":1}".to_vec());
        for line in &lines {
            let map = parse_line(line);
            let head = Head::parse(line);
            let line = String::from_utf8_lossy(line);
            assert_eq!(map.is_some(), head.is_some(), "{line}");
            assert_eq!(
                check_line(0, map.as_ref(), &prev),
                check_head(0, head.as_ref(), &prev_bytes),
                "{line}"
            );
            if let (Some(map), Some(head)) = (&map, &head) {
                let d = map.get("data").unwrap_or(&Value::Null);
                let text = |v: &Value| v.as_str().map(str::to_owned);
                let own = |s: &head::Scalar<'_>| s.as_str().map(str::to_owned);
                assert_eq!(own(&head.data.key_label), text(&d["key_label"]), "{line}");
                assert_eq!(own(&head.data.kcv), text(&d["kcv"]), "{line}");
                assert_eq!(
                    own(&head.data.key_label_in_key),
                    text(&d["key"]["label"]),
                    "{line}"
                );
                assert_eq!(own(&head.data.kcv_in_key), text(&d["key"]["kcv"]), "{line}");
                assert_eq!(head.data.has_key, d.get("key").is_some(), "{line}");
            }
        }
    }

    #[test]
    fn only_the_escapes_serde_json_writes_are_keyrites() {
        use Encoding::{Escape, Whitespace};
        for (text, found) in [
            (
                r#"{"a":"\"\\\b\f\n\r\t\u0000\u001f\u000b","b":"x y/é"}"#,
                None,
            ),
            (r#"{"a":"\\u0041\\/"}"#, None),
            (r#"{"a":"\/"}"#, Some(Escape)),
            (r#"{"a":"\u0041"}"#, Some(Escape)),
            (r#"{"a":"\u000a"}"#, Some(Escape)),
            (r#"{"a":"\u001F"}"#, Some(Escape)),
            (r#"{"a":"\u00e9"}"#, Some(Escape)),
            (r#"{"a":"\ud83d\ude00"}"#, Some(Escape)),
            (r#"{"a": 1}"#, Some(Whitespace)),
            (r#"{"a":1} "#, Some(Whitespace)),
            ("{\"a\":1,\t\"b\":2}", Some(Whitespace)),
        ] {
            assert_eq!(misencoded(text.as_bytes()), found, "{text}");
        }
        let every: String = (0..0x80u8).map(char::from).chain(['é', '😀']).collect();
        let written = serde_json::to_string(&Value::from(every)).unwrap();
        assert_eq!(misencoded(written.as_bytes()), None, "{written}");
    }

    #[test]
    fn a_line_is_in_keyrites_encoding_only_as_keyrite_writes_it() {
        use crate::transcript::entry::DestroyData;
        use crate::transcript::{line_text, seal_text};
        let check = |text: &str| {
            let head = Head::parse(text.as_bytes());
            let entry = Entry::from_line(text.as_bytes()).ok();
            check_encoding(
                &mut Vec::new(),
                text.as_bytes(),
                head.as_ref(),
                entry.as_ref(),
            )
        };
        let entry = Entry::Destroy(DestroyData {
            index: None,
            key_label: "k\n".into(),
            kcv: None,
            check_sha256: None,
            why: None,
        });
        let (time, prev) = ("2026-01-01T00:00:00Z", hex::encode([0u8; 32]));
        let line = line_text(3, time, "keyrite", &entry, &prev).unwrap();
        assert_eq!(check(&line), Ok(()));
        let seal = seal_text(4, time, &prev, "fp", "c2ln").unwrap();
        assert_eq!(check(&seal), Ok(()));
        let wrong = |e| Err(LineError::Encoding(e));
        assert_eq!(check(&format!("{seal} ")), wrong(Encoding::Whitespace));
        assert_eq!(
            check(&line.replace("\\n", "\\u000a")),
            wrong(Encoding::Escape)
        );
        let reversed = line.replacen(r#"{"actor":"keyrite","#, "{", 1).replacen(
            r#""v":1}"#,
            r#""v":1,"actor":"keyrite"}"#,
            1,
        );
        assert_eq!(check(&reversed), wrong(Encoding::KeyOrder));
        let why = line.replacen(
            r#""key_label":"k\n"}"#,
            r#""key_label":"k\n","why":null}"#,
            1,
        );
        assert_ne!(why, line);
        assert_eq!(check(&why), wrong(Encoding::Absent));
        assert_eq!(
            LineError::Encoding(Encoding::KeyOrder).to_string(),
            "not in keyrite's encoding: keys out of order"
        );
    }

    #[test]
    fn line_errors_read_as_before() {
        let prev = hex::encode(Sha256::digest(b""));
        let line = |text: &str| check_line(0, parse_line(text.as_bytes()).as_ref(), &prev);
        assert_eq!(
            line("[]").unwrap_err().to_string(),
            "not a JSON object (or a key appears twice)"
        );
        assert_eq!(
            line(r#"{"v":1}"#).unwrap_err().to_string(),
            r#"fields ["v"], not ["actor", "data", "prev", "seq", "step", "time", "v"]"#
        );
        let good = format!(
            r#"{{"actor":"a","data":{{}},"prev":"{prev}","seq":0,"step":"s","time":"2026-01-01T00:00:00Z","v":1}}"#
        );
        assert_eq!(line(&good), Ok(()));
        assert_eq!(
            check_line(1, parse_line(good.as_bytes()).as_ref(), &prev),
            Err(LineError::Seq { expected: 1 })
        );
    }
}
