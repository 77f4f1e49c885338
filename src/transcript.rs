//! The ceremony transcript: JSON Lines, append-only, chained line to line by `prev`, the SHA-256 (hex) of the previous line's exact bytes
//! without its newline. A `finish` line states the outcome; the seal line,
//! `{v, seq, time, step:"seal", prev, signer, signature}`, carries the token signer's signature
//! (standard base64: ECDSA P-256 as DER, or RSA-PSS) over the 32-byte chain head, which is its
//! own `prev`.
//!
//! Each line has one encoding, keyrite's ([`line_text`], [`seal_text`]), and `verify` takes no
//! other: the seal and witness lines are covered by no signature over their own bytes, so a
//! second encoding of one would be a second line for the same seal.
//!
//! A line is durable (fsynced) before anything it announces happens: [`Transcript::append`]
//! writes and fsyncs; [`Transcript::append_unsynced`] only writes, for lines that announce
//! nothing irreversible (a result, a trial), which become durable with the next fsync — at the
//! latest the seal's. The file is written in order, so an fsync makes every line before it
//! durable too.
//!
//! The writer trusts nothing but itself: it never reads the file back. A crash leaves a valid
//! unsealed prefix.

pub mod entry;
mod sorted;

pub use entry::{Entry, Step};

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// The transcript format version.
pub const VERSION: u32 = 1;

/// The namespace witnesses sign in.
pub const WITNESS_NAMESPACE: &str = "keyrite-witness";

/// What a witness signs: the chain head at the seal line — the SHA-256 (hex) of the seal
/// line's exact bytes — and a newline, so `tail`/`sed` and `sha256sum` rebuild it.
pub fn witness_message(seal_line: &[u8]) -> String {
    format!("{}\n", hex::encode(Sha256::digest(seal_line)))
}

/// Why a transcript could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transcript file exists; a new run never appends to one.
    #[error("the transcript {} already exists; each run writes a new transcript", path.display())]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// A write failed.
    #[error("cannot write the transcript {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A line could not be serialised.
    #[error("cannot write the transcript {}: {source}", path.display())]
    Serialize {
        /// The path.
        path: PathBuf,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): the transcript path named exists. A write that
    /// fails is not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Exists { .. } => true,
            Error::Io { .. } | Error::Serialize { .. } => false,
        }
    }
}

/// An open transcript, appended to line by line.
#[derive(Debug)]
pub struct Transcript {
    file: File,
    path: PathBuf,
    seq: u64,
    /// SHA-256 of the last line written (the chain head), or of nothing before the first line.
    head: [u8; 32],
}

fn now() -> String {
    crate::timestamp::format_time(time::OffsetDateTime::now_utc())
}

impl Transcript {
    /// Creates a new transcript; refuses a file that exists.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::Exists {
                    path: path.to_path_buf(),
                },
                _ => Error::Io {
                    path: path.to_path_buf(),
                    source: e,
                },
            })?;
        // The new name is durable before the first line is (a bare file name is in `.`).
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Transcript {
            file,
            path: path.to_path_buf(),
            seq: 0,
            head: Sha256::digest(b"").into(),
        })
    }

    /// Continues a sealed transcript to append witness lines, through `file`, the transcript
    /// opened for appending (`O_APPEND`) and verified through that same open file by the
    /// caller; `path` only names it. The chain continues from its last line, whose exact bytes
    /// are hashed.
    pub fn reopen(file: File, path: &Path, last_line: &[u8], next_seq: u64) -> Self {
        Transcript {
            file,
            path: path.to_path_buf(),
            seq: next_seq,
            head: Sha256::digest(last_line).into(),
        }
    }

    /// The chain head: SHA-256 of the last line written.
    pub fn head(&self) -> [u8; 32] {
        self.head
    }

    /// The transcript's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every line written so far durable (fsync).
    pub fn sync(&self) -> Result<(), Error> {
        self.file.sync_all().map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })
    }

    fn write_line(
        &mut self,
        text: Result<String, serde_json::Error>,
        durable: bool,
    ) -> Result<(), Error> {
        let io = |e: std::io::Error| Error::Io {
            path: self.path.clone(),
            source: e,
        };
        let text = text.map_err(|e| Error::Serialize {
            path: self.path.clone(),
            source: e,
        })?;
        let mut bytes = text.into_bytes();
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.push(b'\n');
        self.file.write_all(&bytes).map_err(io)?;
        if durable {
            self.sync()?;
        }
        self.head = digest;
        self.seq += 1;
        crate::fault::point("transcript-line");
        Ok(())
    }

    /// Appends a line `{v, seq, time, step, actor, data, prev}` of `entry` and fsyncs it: for a
    /// line that must be durable before what it announces happens.
    pub fn append(&mut self, actor: &str, entry: &Entry) -> Result<(), Error> {
        self.append_line(actor, entry, true)
    }

    /// Appends a line like [`Transcript::append`] without fsyncing it: it becomes durable with
    /// the next line appended with `append`, [`Transcript::sync`], or the seal.
    pub fn append_unsynced(&mut self, actor: &str, entry: &Entry) -> Result<(), Error> {
        self.append_line(actor, entry, false)
    }

    fn append_line(&mut self, actor: &str, entry: &Entry, durable: bool) -> Result<(), Error> {
        let text = line_text(self.seq, &now(), actor, entry, &hex::encode(self.head));
        self.write_line(text, durable)
    }

    /// Appends the seal line: `signature_der` is the signature over [`Transcript::head`] (DER
    /// ECDSA, or RSA-PSS) by the key whose fingerprint is `signer`. Consumes the transcript:
    /// nothing follows a seal but witness lines, which are appended by other runs. Returns its
    /// path and the chain head at the seal line, what witnesses sign ([`witness_message`]).
    pub fn seal(mut self, signer: &str, signature_der: &[u8]) -> Result<Sealed, Error> {
        use base64::Engine as _;
        let signature = base64::engine::general_purpose::STANDARD.encode(signature_der);
        let text = seal_text(
            self.seq,
            &now(),
            &hex::encode(self.head),
            signer,
            &signature,
        );
        self.write_line(text, true)?;
        Ok(Sealed {
            path: self.path,
            seal_sha256: hex::encode(self.head),
        })
    }
}

/// A sealed transcript.
#[derive(Debug)]
pub struct Sealed {
    /// Its path.
    pub path: PathBuf,
    /// The chain head at its seal line: the SHA-256 (hex) of that line, what witnesses sign and
    /// people read aloud at the seal.
    pub seal_sha256: String,
}

/// The exact text keyrite writes for line `seq` of `entry` (without its newline), at `time`, by
/// `actor`, chained to `prev` (hex). Its encoding is keyrite's, and the only one `verify` takes:
/// compact JSON (no whitespace between tokens), every object's keys in byte order, at every
/// depth, serde_json's string escapes (`\"`, `\\`, `\b \f \n \r \t`, other control
/// characters as `\u00xx` in lowercase hex, nothing else escaped), canonical integers, and each
/// optional field as [`Entry`] writes it (left out, or `null`).
pub fn line_text(
    seq: u64,
    time: &str,
    actor: &str,
    entry: &Entry,
    prev: &str,
) -> Result<String, serde_json::Error> {
    let mut text = Vec::new();
    write_line_text(&mut text, seq, time, actor, entry, prev)?;
    utf8(text)
}

/// Appends [`line_text`]'s bytes to `out`.
pub fn write_line_text(
    out: &mut Vec<u8>,
    seq: u64,
    time: &str,
    actor: &str,
    entry: &Entry,
    prev: &str,
) -> Result<(), serde_json::Error> {
    // The fields in byte order, as serde_json writes an object's.
    write_field(out, "{\"actor\":", actor)?;
    out.extend_from_slice(b",\"data\":");
    let start = out.len();
    if entry::write_sorted_data(out, entry).is_err() {
        // A shape the sorted writer leaves to a JSON value: written through one.
        out.truncate(start);
        serde_json::to_writer(&mut *out, &entry.data()?)?;
    }
    write_field(out, ",\"prev\":", prev)?;
    write_field(out, ",\"seq\":", &seq)?;
    write_field(out, ",\"step\":", entry.step().as_str())?;
    write_field(out, ",\"time\":", time)?;
    write_field(out, ",\"v\":", &VERSION)?;
    out.push(b'}');
    Ok(())
}

/// The exact text keyrite writes for the seal line `seq` (without its newline), at `time`,
/// over the chain head `prev` (hex), by the key whose fingerprint is `signer`, with `signature`
/// (standard base64), in keyrite's encoding ([`line_text`]).
pub fn seal_text(
    seq: u64,
    time: &str,
    prev: &str,
    signer: &str,
    signature: &str,
) -> Result<String, serde_json::Error> {
    let mut text = Vec::new();
    write_seal_text(&mut text, seq, time, prev, signer, signature)?;
    utf8(text)
}

/// Appends [`seal_text`]'s bytes to `out`.
pub fn write_seal_text(
    out: &mut Vec<u8>,
    seq: u64,
    time: &str,
    prev: &str,
    signer: &str,
    signature: &str,
) -> Result<(), serde_json::Error> {
    write_field(out, "{\"prev\":", prev)?;
    write_field(out, ",\"seq\":", &seq)?;
    write_field(out, ",\"signature\":", signature)?;
    write_field(out, ",\"signer\":", signer)?;
    write_field(out, ",\"step\":", Step::Seal.as_str())?;
    write_field(out, ",\"time\":", time)?;
    write_field(out, ",\"v\":", &VERSION)?;
    out.push(b'}');
    Ok(())
}

/// Appends `before` (punctuation and a key) and `value` as serde_json writes it.
fn write_field<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    before: &str,
    value: &T,
) -> Result<(), serde_json::Error> {
    out.extend_from_slice(before.as_bytes());
    serde_json::to_writer(out, value)
}

/// The text serde_json wrote.
fn utf8(bytes: Vec<u8>) -> Result<String, serde_json::Error> {
    String::from_utf8(bytes).map_err(serde::ser::Error::custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_line_writer_writes_what_serde_json_writes_for_the_line_as_a_value() {
        let (time, prev) = ("2026-01-01T00:00:00Z", hex::encode([7u8; 32]));
        let entry = Entry::Destroy(entry::DestroyData {
            index: Some(2),
            key_label: "k\n\"\u{1}é".into(),
            kcv: None,
            check_sha256: Some("ab".into()),
            why: None,
        });
        for actor in ["keyrite", "a\\b\u{7f}"] {
            let value = serde_json::json!({
                "v": VERSION,
                "seq": u64::MAX,
                "time": time,
                "step": entry.step().as_str(),
                "actor": actor,
                "data": entry.data().unwrap(),
                "prev": prev,
            });
            assert_eq!(
                line_text(u64::MAX, time, actor, &entry, &prev).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        let value = serde_json::json!({
            "v": VERSION,
            "seq": 9,
            "time": time,
            "step": "seal",
            "prev": prev,
            "signer": "f\"p",
            "signature": "c2ln",
        });
        assert_eq!(
            seal_text(9, time, &prev, "f\"p", "c2ln").unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }

    #[test]
    fn nested_objects_are_written_alike_however_often_their_buffers_are_reused() {
        let (time, prev) = ("2026-01-01T00:00:00Z", hex::encode([7u8; 32]));
        let key = |label: &str| entry::Key {
            label: label.into(),
            id: "01".into(),
            spec: "AES_256".into(),
            kcv: Some("abcdef".into()),
            kcv_method: "aes-ecb-zero-3".into(),
            check_sha256: None,
            template: [("CKA_TOKEN", "true"), ("CKA_CLASS", "CKO_SECRET_KEY")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            check_values: [("b", "2"), ("a", "1")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            discarded: 1,
        };
        for label in ["k", "a longer label, written into buffers used before", "é"] {
            let entry = Entry::Generated(entry::GeneratedData {
                index: 3,
                key: key(label),
            });
            let value = serde_json::json!({
                "v": VERSION,
                "seq": 1,
                "time": time,
                "step": "generated",
                "actor": "keyrite",
                "data": entry.data().unwrap(),
                "prev": prev,
            });
            assert_eq!(
                line_text(1, time, "keyrite", &entry, &prev).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
    }

    #[test]
    fn lines_chain_by_the_previous_lines_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut t = Transcript::create(&path).unwrap();
        let marker = |value: &str| {
            Entry::Marker(entry::MarkerData {
                label: "l".into(),
                value: value.into(),
            })
        };
        t.append("keyrite", &marker("a")).unwrap();
        t.append("keyrite", &marker("b")).unwrap();
        let head = t.head();
        let sealed = t.seal("fp", b"sig").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(sealed.path, path);
        assert_eq!(
            format!("{}\n", sealed.seal_sha256),
            witness_message(lines[2].as_bytes())
        );
        let first: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["prev"], hex::encode(Sha256::digest(b"")));
        let second: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(
            second["prev"],
            hex::encode(Sha256::digest(lines[0].as_bytes()))
        );
        let seal: Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(seal["prev"], hex::encode(head));
        assert_eq!(head, <[u8; 32]>::from(Sha256::digest(lines[1].as_bytes())));
        assert_eq!(
            seal.as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
            ["prev", "seq", "signature", "signer", "step", "time", "v"]
        );
        assert!(matches!(
            Transcript::create(&path),
            Err(Error::Exists { .. })
        ));
    }
}
