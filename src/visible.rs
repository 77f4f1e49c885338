//! Text from outside made safe to show on a terminal: a name with a newline, a carriage return,
//! a terminal escape or a bidi override (U+202E) could otherwise draw a line that is not there
//! or show its characters in another order than the bytes keyrite acts on.

/// `text` with every character that Rust's `escape_debug` escapes written as that escape
/// (`\n`, `\\`, `\u{202e}`): control characters, bidi and other format characters, line and
/// paragraph separators, combining marks, private-use and unassigned code points. Quotes are
/// kept, so a name without such characters is shown as it is.
pub fn visible(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\'' => shown.push(c),
            _ => shown.extend(c.escape_debug()),
        }
    }
    shown
}

/// keyrite's own sentence `text`, which may hold names from outside (a check's detail, with
/// names already written as Rust strings or as they are): every character [`visible`] escapes
/// is escaped but the backslash, so an escape the sentence already holds is not escaped again.
pub fn visible_sentence(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\'' | '\\' => shown.push(c),
            _ => shown.extend(c.escape_debug()),
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_keeps_its_own_escapes_and_escapes_what_a_name_brought() {
        assert_eq!(
            visible_sentence("2 of 2 required: alice, bob\u{2067}"),
            "2 of 2 required: alice, bob\\u{2067}"
        );
        assert_eq!(
            visible_sentence("key \"a\\u{202e}b\" appears twice"),
            "key \"a\\u{202e}b\" appears twice"
        );
        assert_eq!(visible_sentence("line\nbreak"), "line\\nbreak");
    }

    #[test]
    fn controls_bidi_and_backslashes_are_escaped_and_the_rest_is_kept() {
        for (text, shown) in [
            ("payments-2026/out", "payments-2026/out"),
            ("it's \"quoted\" é ü 鍵", "it's \"quoted\" é ü 鍵"),
            ("a\nb\r\tc", "a\\nb\\r\\tc"),
            ("\u{1b}[2K\u{1b}[1A", "\\u{1b}[2K\\u{1b}[1A"),
            ("out\u{202e}txt.exe", "out\\u{202e}txt.exe"),
            (
                "\u{2066}\u{2069}\u{200f}\u{61c}\u{feff}\u{2028}",
                "\\u{2066}\\u{2069}\\u{200f}\\u{61c}\\u{feff}\\u{2028}",
            ),
            ("\\u{202e}", "\\\\u{202e}"),
            ("x\u{7f}\u{85}\u{200b}", "x\\u{7f}\\u{85}\\u{200b}"),
        ] {
            assert_eq!(visible(text), shown, "{text:?}");
        }
    }
}
