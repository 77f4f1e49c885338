//! `keyrite token info`: the module, its tokens, and what each token can really do — found by
//! trial with throw-away public session objects, so no PIN is needed on most tokens.

use cryptoki::context::Function;
use cryptoki::error::RvError;
use serde::Serialize;

use crate::hsm::backup::UnwrapTemplateSupport;
use crate::hsm::keys::KcvResult;
use crate::hsm::pair::KeyPairSupport;
use crate::hsm::wrapping::{AlgorithmSupport, TrustedWrapSupport};
use crate::hsm::{Module, Pkcs11Failure, TokenDescription};
use crate::pin::PinSource;
use crate::signer_key::SignerAlgorithm;
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
    /// The ceremony signer `token signer create` makes here, by the mechanisms the token offers.
    pub signer: String,
    /// Present when the token made no object, not even a session object, in a session that
    /// has not logged in: the call and its return value. The trials then say little; run
    /// again logged in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_needed: Option<String>,
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
        // Each capability is its own trial: one that fails in a way keyrite did not foresee
        // is a "no" with what the token said, and the next one is tried all the same.
        let mut login_needed = None;
        let mut failed = |e: crate::hsm::Error| {
            if pin.is_none() && login_needed.is_none() {
                login_needed = needs_login(&e);
            }
            e.to_string()
        };
        let wrapping = token
            .wrapping_support()
            .unwrap_or_else(|e| AlgorithmSupport::none_tried(&failed(e)));
        let kcv = match token.kcv_support(KeySpec::Aes256) {
            Ok(KcvResult::Known(k)) => format!("{} (read from the token)", k.method.name()),
            Ok(KcvResult::Unavailable(why)) => format!("none: {why}"),
            Err(e) => format!("none: the trial failed: {}", failed(e)),
        };
        let wrap_with_trusted =
            token
                .trusted_wrap_support()
                .unwrap_or_else(|e| TrustedWrapSupport {
                    enforced: false,
                    trusted_set_by: "not known",
                    detail: format!("no: the trial failed: {}", failed(e)),
                    lacking: None,
                });
        let key_pairs = token.key_pair_support().unwrap_or_else(|e| KeyPairSupport {
            rsa: false,
            ec: false,
            detail: format!("the trial failed: {}", failed(e)),
        });
        let unwrap_template =
            token
                .unwrap_template_support()
                .unwrap_or_else(|e| UnwrapTemplateSupport {
                    applied: false,
                    detail: format!("NOT known: the trial failed: {}", failed(e)),
                });
        let signer = match token.signer_algorithm() {
            Ok(algorithm @ SignerAlgorithm::EcdsaP256) => {
                format!("{algorithm} (the token offers CKM_EC_KEY_PAIR_GEN and CKM_ECDSA)")
            }
            Ok(algorithm) => format!("{algorithm}, for want of ECDSA P-256"),
            Err(e) => format!("none: {}", failed(e)),
        };
        tokens.push(TokenReport {
            token: description,
            wrapping,
            kcv,
            wrap_with_trusted,
            key_pairs,
            unwrap_template,
            signer,
            login_needed,
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

/// The call and return value, when `e` is a token refusing to make an object in a session that
/// has not logged in (tpm2-pkcs11: `C_CreateObject` returns `CKR_SESSION_READ_ONLY`).
fn needs_login(e: &crate::hsm::Error) -> Option<String> {
    let crate::hsm::Error::Pkcs11(failure @ Pkcs11Failure::Returned { function, rv }) = e else {
        return None;
    };
    let makes = matches!(function, Function::CreateObject | Function::GenerateKey);
    let refused = matches!(rv, RvError::SessionReadOnly | RvError::UserNotLoggedIn);
    (makes && refused).then(|| failure.to_string())
}
