//! The HTML pages keyrite writes — the audit report (`verify --report`) and the ceremony
//! script (`plan script`) — share this: a Content-Security-Policy under which nothing loads or
//! runs but the page's own inline stylesheet, every value from outside escaped (by maud),
//! its control and bidi characters shown as escapes and isolated from the page's own text, and
//! the page written to a new file only.

use std::path::Path;

use base64::Engine as _;
use maud::{Markup, PreEscaped, html};
use sha2::{Digest as _, Sha256};

use crate::visible::visible;

/// Writes `html` to `path`, created new (see [`crate::output::write_new_file`]).
pub fn write(path: &Path, html: &str) -> Result<(), crate::output::Error> {
    crate::output::write_new_file(path, html.as_bytes())
}

/// The Content-Security-Policy of a page whose only style is `style`, inline: nothing may
/// load or run, and only that stylesheet (by its hash) applies.
pub fn csp(style: &str) -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    format!(
        "default-src 'none'; script-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; \
         font-src 'none'; connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
    )
}

/// A page's `head`: its title (keyrite's own text, escaped all the same), the CSP of
/// [`csp`], no referrer, and `style` inline.
pub fn head(title: &str, style: &'static str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta http-equiv="Content-Security-Policy" content=(csp(style));
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="referrer" content="no-referrer";
            title { (title) }
            style { (PreEscaped(style)) }
        }
    }
}

/// A value from outside (a transcript, a plan, a policy, a file name): isolated from the page's
/// own text in a `bdi`, its control, bidi and other invisible characters shown as escapes.
pub fn ext(text: &str) -> Markup {
    html! { bdi { (visible(text)) } }
}

/// [`ext`] in a monospace `code` element: a name, a path or an identifier.
pub fn code(text: &str) -> Markup {
    html! { code { (ext(text)) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csp_allows_only_the_stylesheet_given_and_nothing_to_run_or_load() {
        let csp = csp("body { color: #000; }");
        // printf 'body { color: #000; }' | openssl dgst -sha256 -binary | base64
        assert!(
            csp.contains("style-src 'sha256-1aWl5icYhS97YQ/01LLr1NnNtW80YDeDybiz/JrsbkI='"),
            "{csp}"
        );
        for none in [
            "default-src",
            "script-src",
            "img-src",
            "connect-src",
            "object-src",
        ] {
            assert!(csp.contains(&format!("{none} 'none'")), "{csp}");
        }
    }
}
