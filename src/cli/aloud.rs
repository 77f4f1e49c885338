//! What people compare aloud in the room: a digest, fingerprint or KCV in hex beside its PGP
//! words (`keyrite::words`), as `plan check`, `ceremony run` and `verify` print them. Trusts
//! the library for the values; only lays them out.

use keyrite::words::pgp_words_hex;

/// Words on a printed line: a 32-byte digest takes four lines, each in an 80-column terminal.
const PER_LINE: usize = 8;

/// `label: HEX` on one line, then `HEX`'s PGP words eight to a line, indented two more: every
/// line begins with `indent`. A value that is not hex (none the library gives) has no words.
pub fn digest_lines(indent: &str, label: &str, hex: &str) -> Vec<String> {
    let mut lines = vec![format!("{indent}{label}: {hex}")];
    if let Some(words) = pgp_words_hex(hex) {
        let words: Vec<&str> = words.split(' ').collect();
        lines.extend(
            words
                .chunks(PER_LINE)
                .map(|chunk| format!("{indent}  {}", chunk.join(" "))),
        );
    }
    lines
}

/// The PGP words of a short value (a 3-byte KCV) for the same line, or nothing.
pub fn inline_words(hex: &str) -> String {
    pgp_words_hex(hex)
        .filter(|words| !words.is_empty())
        .map(|words| format!(" [{words}]"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_its_hex_then_its_words_eight_to_a_line() {
        let hex = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592";
        let lines = digest_lines("  ", "Plan digest", hex);
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0], format!("  Plan digest: {hex}"));
        assert_eq!(
            lines[1],
            "    stopwatch paramount watchword pocketful ahead stethoscope merit molecule"
        );
        assert!(lines[4].ends_with("retrospect topmost misnomer"));
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
        assert_eq!(inline_words("cc7f36"), " [spigot integrate Christmas]");
        assert_eq!(inline_words("none"), "");
    }
}
