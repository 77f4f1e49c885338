//! The text of a PIN share, made to be typed blind: Crockford base32 in groups, each group
//! with its own check character, so that keyrite can say which group holds a typo, and the
//! whole share with a check of its own.
//!
//! # The format (`v2`)
//!
//! A share is `G` groups of five characters, written in capitals and joined by `-`:
//!
//! ```text
//! K4X1Q-7ZM2C-…-RT0PA
//! ```
//!
//! - **Alphabet**: Crockford's base32, `0123456789ABCDEFGHJKMNPQRSTVWXYZ` (digit and letter
//!   values 0–31). Reading is case-insensitive, `O` is read as `0` and `I` and `L` as `1`;
//!   `U` is in no share. Spaces, tabs and dashes anywhere are ignored.
//! - **Groups**: four data characters then one check character. The check character of group
//!   `g` (1-based) with data values `d1 d2 d3 d4` is, in GF(32) (polynomial `x⁵ + x² + 1`,
//!   `α = x`), `α·d1 + α²·d2 + α³·d3 + α⁴·d4 + α⁵·g`. Any single wrong character and any swap
//!   of two different neighbours within a group (its check character included) changes it,
//!   and, because `g` is in it, so does a group typed in another group's place.
//! - **Data**: the data characters, read in order five bits each (most significant first),
//!   are the bytes `KIND INDEX THRESHOLD Y… CHECK…`:
//!   - `KIND` is `0x98` for a 32-byte `Y` and `0x99` for a 64-byte `Y` (so every share starts
//!     with `K`);
//!   - `INDEX` (1–255) is the share's x coordinate, `THRESHOLD` (2–255) how many shares
//!     rebuild the PIN;
//!   - `Y` is the share's y values: the PIN padded to 32 bytes (one length byte, the PIN, zeros;
//!     PINs up to 31 bytes) or to 64 (PINs of 32 to 63 bytes), split byte by byte with Shamir's
//!     scheme over GF(256);
//!   - `CHECK` is the first bytes of the SHA-256 of the bytes before it: 5 of them with a
//!     32-byte `Y` and 3 with a 64-byte one, which fill the last group. It catches what the
//!     group checks can miss: more than one typo in a group that happens to keep its check
//!     (one time in 32).
//!
//! A share of a PIN up to 31 bytes is so 40 bytes, 64 data characters, 16 groups (80
//! characters typed); one of a longer PIN is 70 bytes, 28 groups (140 characters). The padding
//! hides a PIN's length within its class, no further: a share tells whether the PIN is at most
//! 31 bytes long. That is the trade for halving what the custodians of most PINs type; a team
//! that wants the length hidden up to 63 bytes uses a PIN of 32 bytes or more.
//!
//! The canonical text — capitals, groups joined by `-`, no spaces — is what `pin split`
//! writes and what the policy's digest is taken of, so the same share typed with other
//! spacing, dashes or case, or with `o`/`i`/`l` for `0`/`1`, is the same share.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The Crockford base32 alphabet, by value.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Data characters in a group, and characters in a written group.
const DATA: usize = 4;
const GROUP: usize = DATA + 1;

/// How long a share's y values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Short,
    Long,
}

impl Class {
    fn of_kind(kind: u8) -> Option<Self> {
        match kind {
            0x98 => Some(Class::Short),
            0x99 => Some(Class::Long),
            _ => None,
        }
    }

    fn kind(self) -> u8 {
        match self {
            Class::Short => 0x98,
            Class::Long => 0x99,
        }
    }

    fn y_len(self) -> usize {
        match self {
            Class::Short => 32,
            Class::Long => 64,
        }
    }

    fn check_len(self) -> usize {
        match self {
            Class::Short => 5,
            Class::Long => 3,
        }
    }

    fn bytes(self) -> usize {
        3 + self.y_len() + self.check_len()
    }

    fn groups(self) -> usize {
        self.bytes() * 8 / 5 / DATA
    }

    fn chars(self) -> usize {
        self.groups() * GROUP
    }
}

/// The padded length for a PIN of `len` bytes, if it is short enough for one.
pub(super) fn padded_len(len: usize) -> Option<usize> {
    [Class::Short, Class::Long]
        .into_iter()
        .map(Class::y_len)
        .find(|&n| len < n)
}

/// Why a text is not a share, said without repeating any of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Typo {
    /// A character that is in no share.
    #[error(
        "group {group} holds a character that is in no share (a share is digits and letters other than U)"
    )]
    Letter {
        /// The group it is in (1-based).
        group: usize,
    },
    /// Characters missing or extra.
    #[error(
        "{typed} characters (not counting spaces and dashes) where a share has {expected}, in {groups} groups of 5{}",
        first_bad.map_or_else(String::new, |g| format!("; group {g} is the first that does not match its checksum"))
    )]
    Length {
        /// How many were typed.
        typed: usize,
        /// How many a share has.
        expected: usize,
        /// How many groups a share has.
        groups: usize,
        /// The first group, counted in fives from the start, whose check fails.
        first_bad: Option<usize>,
    },
    /// Groups whose check character does not match.
    #[error("{} of {groups} {}", list(bad), if bad.len() == 1 { "does not match its checksum" } else { "do not match their checksums" })]
    Groups {
        /// The groups (1-based), in order.
        bad: Vec<usize>,
        /// How many groups a share has.
        groups: usize,
    },
    /// Each group checks, the whole does not.
    #[error(
        "each group matches its checksum but the whole share does not: more than one typo in a group"
    )]
    Whole,
    /// Well formed, but not a keyrite PIN share this version reads.
    #[error("not a keyrite PIN share")]
    NotShare,
}

/// "group 7", "groups 3 and 7", "groups 2, 3 and 7".
fn list(groups: &[usize]) -> String {
    match groups {
        [] => String::new(),
        [one] => format!("group {one}"),
        [rest @ .., last] => format!(
            "groups {} and {last}",
            rest.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A share read from its text.
pub(super) struct Decoded {
    /// Its x coordinate.
    pub(super) index: u8,
    /// How many rebuild the PIN.
    pub(super) threshold: u8,
    /// Its y values.
    pub(super) y: Zeroizing<Vec<u8>>,
    /// Its canonical text.
    pub(super) canonical: Zeroizing<String>,
}

/// Multiplication in GF(32), modulo `x⁵ + x² + 1`.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut out = 0;
    while b != 0 {
        if b & 1 != 0 {
            out ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0x25;
        }
    }
    out
}

/// The check character's value for group `group` (1-based) with data values `data`.
fn check(data: &[u8], group: usize) -> u8 {
    // α¹ … α⁵: x, x², x³, x⁴, x² + 1.
    const POWERS: [u8; GROUP] = [2, 4, 8, 16, 5];
    let position = (group % 32) as u8;
    data.iter()
        .chain(std::iter::once(&position))
        .zip(POWERS)
        .fold(0, |sum, (&v, w)| sum ^ mul(v, w))
}

/// A character's value, or `None` for one in no share.
fn value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .map(|v| v as u8)
}

/// The groups (1-based) of `values`, taken five at a time, whose check fails.
fn bad_groups(values: &[u8]) -> Vec<usize> {
    values
        .chunks_exact(GROUP)
        .enumerate()
        .filter(|(i, g)| check(&g[..DATA], i + 1) != g[DATA])
        .map(|(i, _)| i + 1)
        .collect()
}

/// Writes a share in its canonical text.
pub(super) fn encode(index: u8, threshold: u8, y: &[u8]) -> Option<Zeroizing<String>> {
    let class = [Class::Short, Class::Long]
        .into_iter()
        .find(|c| c.y_len() == y.len())?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(class.bytes()));
    bytes.extend_from_slice(&[class.kind(), index, threshold]);
    bytes.extend_from_slice(y);
    let digest = Sha256::digest(bytes.as_slice());
    bytes.extend_from_slice(&digest[..class.check_len()]);
    let mut values = Zeroizing::new(Vec::with_capacity(class.groups() * DATA));
    for chunk in bytes.chunks_exact(5) {
        let bits = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        values.extend((0..8).rev().map(|k| ((bits >> (5 * k)) & 31) as u8));
    }
    let mut text = Zeroizing::new(String::with_capacity(class.chars() + class.groups()));
    for (i, data) in values.chunks_exact(DATA).enumerate() {
        if i > 0 {
            text.push('-');
        }
        for &v in data.iter().chain(std::iter::once(&check(data, i + 1))) {
            text.push(char::from(ALPHABET[usize::from(v)]));
        }
    }
    Some(text)
}

/// Reads a share's text (see the module's documentation). A refusal says where the typo is,
/// never what was typed.
pub(super) fn decode(text: &str) -> Result<Decoded, Typo> {
    let mut values = Zeroizing::new(Vec::with_capacity(text.len()));
    for c in text.chars() {
        if c == '-' || c.is_ascii_whitespace() {
            continue;
        }
        let v = value(c).ok_or(Typo::Letter {
            group: values.len() / GROUP + 1,
        })?;
        values.push(v);
    }
    if values.is_empty() {
        return Err(Typo::NotShare);
    }
    // The kind is in the first two characters: 5 bits, then 3 of the second's 5. A typo there
    // may make it the other kind, so the length typed chooses the class when it is one's;
    // group 1's check then finds the typo.
    let kind = values
        .get(1)
        .and_then(|&second| Class::of_kind((values[0] << 3) | (second >> 2)));
    let Some(class) = [Class::Short, Class::Long]
        .into_iter()
        .find(|c| c.chars() == values.len())
    else {
        let class = kind.unwrap_or(
            if values.len() <= (Class::Short.chars() + Class::Long.chars()) / 2 {
                Class::Short
            } else {
                Class::Long
            },
        );
        return Err(Typo::Length {
            typed: values.len(),
            expected: class.chars(),
            groups: class.groups(),
            first_bad: bad_groups(&values).first().copied(),
        });
    };
    let bad = bad_groups(&values);
    if !bad.is_empty() {
        return Err(Typo::Groups {
            bad,
            groups: class.groups(),
        });
    }
    match kind {
        None => return Err(Typo::NotShare),
        // Every group checks: the start of a longer share, or one with groups added.
        Some(other) if other != class => {
            return Err(Typo::Length {
                typed: values.len(),
                expected: other.chars(),
                groups: other.groups(),
                first_bad: None,
            });
        }
        Some(_) => {}
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(class.bytes()));
    let data: Zeroizing<Vec<u8>> = Zeroizing::new(
        values
            .chunks_exact(GROUP)
            .flat_map(|g| g[..DATA].iter().copied())
            .collect(),
    );
    for chunk in data.chunks_exact(8) {
        let bits = chunk.iter().fold(0u64, |acc, &v| (acc << 5) | u64::from(v));
        bytes.extend((0..5).rev().map(|k| (bits >> (8 * k)) as u8));
    }
    let body = class.bytes() - class.check_len();
    let digest = Sha256::digest(&bytes[..body]);
    if digest[..class.check_len()] != bytes[body..] {
        return Err(Typo::Whole);
    }
    let (index, threshold) = (bytes[1], bytes[2]);
    if index == 0 || threshold < 2 {
        return Err(Typo::NotShare);
    }
    let canonical = encode(index, threshold, &bytes[3..body]).ok_or(Typo::NotShare)?;
    Ok(Decoded {
        index,
        threshold,
        y: Zeroizing::new(bytes[3..body].to_vec()),
        canonical,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(len: usize) -> Zeroizing<String> {
        let y: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        encode(3, 2, &y).unwrap()
    }

    /// The share with the character at `at` (counting every character of the text) replaced.
    fn with_char(text: &str, at: usize, c: char) -> String {
        text.char_indices()
            .map(|(i, o)| if i == at { c } else { o })
            .collect()
    }

    #[test]
    fn a_share_reads_back_and_its_length_is_its_class() {
        for (len, groups) in [(32, 16), (64, 28)] {
            let text = sample(len);
            assert_eq!(text.len(), groups * 6 - 1);
            assert!(text.starts_with('K'));
            let d = decode(&text).unwrap();
            assert_eq!((d.index, d.threshold), (3, 2));
            let y: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(d.y.as_slice(), y.as_slice());
            assert_eq!(d.canonical, text);
        }
        assert_eq!(padded_len(0), Some(32));
        assert_eq!(padded_len(31), Some(32));
        assert_eq!(padded_len(32), Some(64));
        assert_eq!(padded_len(63), Some(64));
        assert_eq!(padded_len(64), None);
        assert!(encode(1, 2, &[0; 33]).is_none());
    }

    #[test]
    fn case_spacing_dashes_and_look_alike_letters_are_the_same_share() {
        let text = sample(32);
        let spaced: String = text
            .to_ascii_lowercase()
            .replace('-', " ")
            .replace('0', "o")
            .replace('1', "l");
        let joined: String = text.chars().filter(|&c| c != '-').collect();
        for typed in [
            spaced,
            joined,
            format!("  {}\t\n", text.replace('-', " - ")),
        ] {
            assert_eq!(decode(&typed).unwrap().canonical, text, "{typed}");
        }
    }

    #[test]
    fn each_typo_is_found_in_its_group() {
        let text = sample(32);
        for group in 1..=16 {
            for offset in 0..GROUP {
                let at = (group - 1) * 6 + offset;
                let here = text.as_bytes()[at];
                for &c in ALPHABET.iter().filter(|&&c| c != here) {
                    assert_eq!(
                        decode(&with_char(&text, at, char::from(c))).err(),
                        Some(Typo::Groups {
                            bad: vec![group],
                            groups: 16
                        })
                    );
                }
            }
        }
        assert_eq!(
            decode(&with_char(&text, 6 * 6 + 2, 'U')).err(),
            Some(Typo::Letter { group: 7 })
        );
        assert_eq!(
            Typo::Groups {
                bad: vec![7],
                groups: 24
            }
            .to_string(),
            "group 7 of 24 does not match its checksum"
        );
    }

    #[test]
    fn neighbours_swapped_in_a_group_are_found() {
        for len in [32, 64] {
            let text = sample(len);
            let bytes = text.as_bytes();
            for (g, group) in bytes.split(|&b| b == b'-').enumerate() {
                for i in 0..DATA {
                    if group[i] == group[i + 1] {
                        continue;
                    }
                    let mut swapped = bytes.to_vec();
                    swapped.swap(g * 6 + i, g * 6 + i + 1);
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(
                        matches!(decode(&swapped), Err(Typo::Groups { bad, .. }) if bad == vec![g + 1]),
                        "group {g}, {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn groups_swapped_dropped_or_repeated_are_found() {
        let text = sample(32);
        let groups: Vec<&str> = text.split('-').collect();
        let mut swapped = groups.clone();
        swapped.swap(2, 6);
        assert_eq!(
            decode(&swapped.join("-")).err(),
            Some(Typo::Groups {
                bad: vec![3, 7],
                groups: 16
            })
        );
        assert_eq!(
            Typo::Groups {
                bad: vec![3, 7],
                groups: 16
            }
            .to_string(),
            "groups 3 and 7 of 16 do not match their checksums"
        );
        let mut dropped = groups.clone();
        dropped.remove(4);
        assert_eq!(
            decode(&dropped.join(" ")).err(),
            Some(Typo::Length {
                typed: 75,
                expected: 80,
                groups: 16,
                first_bad: Some(5)
            })
        );
        // One character left out is found where it was left out.
        let short: String = text
            .char_indices()
            .filter(|&(i, _)| i != 3 * 6 + 1)
            .map(|(_, c)| c)
            .collect();
        let Err(typo @ Typo::Length { .. }) = decode(&short) else {
            panic!("accepted")
        };
        assert_eq!(
            typo.to_string(),
            "79 characters (not counting spaces and dashes) where a share has 80, in 16 groups of 5; group 4 is the first that does not match its checksum"
        );
    }

    #[test]
    fn a_long_share_cut_at_a_short_ones_length_is_short() {
        let text = sample(64);
        assert_eq!(
            decode(&text[..16 * 6 - 1]).err(),
            Some(Typo::Length {
                typed: 80,
                expected: 140,
                groups: 28,
                first_bad: None
            })
        );
    }

    #[test]
    fn the_whole_share_check_catches_what_group_checks_pass() {
        // The y values changed and the group checks made again: only the whole check knows.
        let text = sample(32);
        let mut values: Vec<u8> = text
            .chars()
            .filter(|&c| c != '-')
            .map(|c| value(c).unwrap())
            .collect();
        values[GROUP * 5] ^= 1;
        let group = &values[GROUP * 5..GROUP * 6];
        values[GROUP * 5 + DATA] = check(&group[..DATA], 6);
        let forged: String = values
            .iter()
            .map(|&v| char::from(ALPHABET[usize::from(v)]))
            .collect();
        assert_eq!(decode(&forged).err(), Some(Typo::Whole));
    }

    #[test]
    fn other_texts_are_not_shares() {
        assert_eq!(decode("").err(), Some(Typo::NotShare));
        assert_eq!(decode(" - ").err(), Some(Typo::NotShare));
        assert_eq!(decode("K4X1Q 7ZM:C").err(), Some(Typo::Letter { group: 2 }));
        // Well formed groups of another kind.
        let values = [0u8; 64];
        let mut text = String::new();
        for (i, data) in values.chunks_exact(DATA).enumerate() {
            for &v in data.iter().chain(std::iter::once(&check(data, i + 1))) {
                text.push(char::from(ALPHABET[usize::from(v)]));
            }
        }
        assert_eq!(decode(&text).err(), Some(Typo::NotShare));
    }
}
