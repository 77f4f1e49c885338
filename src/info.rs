//! `keyrite token info`: the module, its tokens, and what each token can really do — found by
//! trial with throw-away public session objects, so no PIN is needed on most tokens.

use serde::Serialize;

use crate::hsm::backup::UnwrapTemplateSupport;
use crate::hsm::keys::KcvResult;
use crate::hsm::pair::KeyPairSupport;
use crate::hsm::wrapping::{AlgorithmSupport, TrustedWrapSupport};
use crate::hsm::{Module, TokenDescription};
use crate::pin::PinSource;
use crate::spec::KeySpec;
use crate::wrap::Error;

/// One token's report.
#[derive(Debug, Serialize)]
pub struct TokenReport {
    /// What the token says about itself.
    #[serde(flatten)]
    pub token: TokenDescription,
    /// Per wrapping algorithm, whether a trial wrap worked.
    pub wrapping: Vec<AlgorithmSupport>,
    /// How the token gives key check values for AES keys, or why it gives none.
    pub kcv: String,
    /// Whether the token enforces `CKA_WRAP_WITH_TRUSTED` (`wrap --wrap-with-trusted`).
    pub wrap_with_trusted: TrustedWrapSupport,
    /// Whether keyrite can wrap key pairs on the token.
    pub key_pairs: KeyPairSupport,
    /// Whether the token applies `CKA_UNWRAP_TEMPLATE` (what a backup key relies on).
    pub unwrap_template: UnwrapTemplateSupport,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The module path.
    pub module: String,
    /// The module's own description.
    pub library: String,
    /// Initialised tokens, with their capabilities.
    pub tokens: Vec<TokenReport>,
    /// Slots whose token is not initialised.
    pub uninitialized_slots: Vec<u64>,
    /// What could not be read in a slot's token info, naming the slot and the field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Builds the report: every token, or only the one labelled `token`. With a PIN source it logs
/// in first (for tokens that demand it) — to one token only, named or the only one, since a PIN
/// tried on every token would count as a wrong attempt on all but one.
pub fn report(
    module: &Module,
    token: Option<&str>,
    pin: Option<&PinSource>,
) -> Result<Report, Error> {
    let mut tokens = Vec::new();
    let mut uninitialized_slots = Vec::new();
    let mut warnings = Vec::new();
    let chosen = if token.is_some() || pin.is_some() {
        vec![module.find_token(token)?]
    } else {
        let list = module.tokens()?;
        warnings = list.unreadable;
        let all = list.tokens;
        uninitialized_slots = all
            .iter()
            .filter(|d| !d.initialized)
            .map(|d| d.slot)
            .collect();
        all.into_iter().filter(|d| d.initialized).collect()
    };
    for description in chosen {
        warnings.extend(description.warnings.iter().cloned());
        let token = module.open(description.clone())?;
        if let Some(source) = pin {
            let pin = source.read(&format!("User PIN for token {:?}: ", description.label))?;
            token.login(&pin)?;
        }
        let wrapping = token.wrapping_support()?;
        let kcv = match token.kcv_support(KeySpec::Aes256)? {
            KcvResult::Known(k) => format!("{} (read from the token)", k.method.name()),
            KcvResult::Unavailable(why) => format!("none: {why}"),
        };
        let wrap_with_trusted = token.trusted_wrap_support()?;
        let key_pairs = token.key_pair_support()?;
        let unwrap_template = token.unwrap_template_support()?;
        tokens.push(TokenReport {
            token: description,
            wrapping,
            kcv,
            wrap_with_trusted,
            key_pairs,
            unwrap_template,
        });
    }
    Ok(Report {
        module: module.path().display().to_string(),
        library: module.library_description()?,
        tokens,
        uninitialized_slots,
        warnings,
    })
}
