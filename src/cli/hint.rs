//! The "what to do" line printed under an error: one sentence per kind of failure, in the
//! binary's words. The library's errors state the facts; this table only reads them.

use keyrite::hsm::Error as H;
use keyrite::signer_key::{KeyError, PemProblem};
use keyrite::wrap::Error as W;
use keyrite::{Error, ceremony, hsm, kms, output, pin, restore, shares, token, verify, witness};

use super::Command;
use super::ceremony::CeremonyCommand;
use super::keys::KeysCommand;
use super::plan::PlanCommand;
use super::token::{BackupKeyCommand, TokenCommand};

/// What to do about a file of a ceremony that cannot be read.
const READ: &str = "Check the path names the plan, policy, approval or (for --resume-from) interrupted run's transcript meant; keyrite reads at most 1 MiB of each.";

/// What to do about a file a witness command names that cannot be read.
const WITNESS_READ: &str = "Check the path names the sealed transcript, policy or witness signature (the file `keyrite witness sign` wrote) meant; keyrite reads at most 1 MiB of each.";

/// Where the command that failed took what it was told: its hints name that place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Its options (`--token`, `--pin-env`).
    Options,
    /// An approved plan (`ceremony run`, `keys destroy`): its fields (`token_label`, `pin`).
    Plan,
    /// `token backup-key export`, which names a backup key to print, never a backup.
    BackupKeyExport,
    /// The security officer's options (`token trust-wrapping-key`: `--so-pin-env`), who logs
    /// in with the SO PIN.
    SecurityOfficer,
    /// `plan script`, whose `--out` is one file rather than a directory.
    OutFile,
}

impl Context {
    /// The context of `command`.
    pub fn of(command: &Command) -> Self {
        match command {
            Command::Ceremony(CeremonyCommand::Run { .. })
            | Command::Keys(KeysCommand::Destroy { .. }) => Context::Plan,
            Command::Token(TokenCommand::TrustWrappingKey(_)) => Context::SecurityOfficer,
            Command::Token(TokenCommand::BackupKey(BackupKeyCommand::Export { .. })) => {
                Context::BackupKeyExport
            }
            Command::Plan(PlanCommand::Script { .. }) => Context::OutFile,
            _ => Context::Options,
        }
    }
}

/// What to do about a token not found, in the words of where its label is given.
fn name_the_token(c: Context) -> &'static str {
    match c {
        Context::Plan => {
            "Run `keyrite token info` to list the tokens, then set token_label in the plan to the token's label; a changed plan needs new approvals."
        }
        _ => "Run `keyrite token info` to list the tokens, then pass --token LABEL.",
    }
}

/// One sentence on what to do about `e`, if keyrite has one.
pub fn hint(e: &Error, c: Context) -> Option<String> {
    match e {
        Error::Wrap(e) => wrap(e, c),
        Error::Ceremony(e) => ceremony(e, c),
        Error::Restore(e) => restore(e, c),
        Error::Shares(e) => shares(e, c),
        Error::Verify(e) => verify(e),
        Error::Witness(e) => witness(e, c),
        Error::Token(e) => token(e, c),
        _ => None,
    }
}

fn wrap(e: &W, c: Context) -> Option<String> {
    Some(match e {
        W::Verify(e) => return verify(e),
        W::Hsm(e) => return hsm(e, c),
        W::Output(e) => return output(e, c),
        W::Pin(e) => return pin(e, c),
        W::Params {
            source: kms::Error::Expired { .. },
            ..
        } => "Ask the KMS for new import parameters (get-parameters-for-import) and run again."
            .to_owned(),
        W::Params {
            source: kms::Error::KeySpecMismatch { .. },
            ..
        } => "Check that the parameters file belongs to the KMS key you meant, or fix --wrapping-key-spec."
            .to_owned(),
        W::Params {
            source: kms::Error::JobNotActive { .. } | kms::Error::JobExpired { .. },
            ..
        } => "Create a new import job (gcloud kms import-jobs create), describe it again and run again."
            .to_owned(),
        W::Params {
            source: kms::Error::NoImportOperation { .. },
            ..
        } => "Make the key exchange key with import as its only operation (az keyvault key create --kty RSA-HSM --ops import) and show it again."
            .to_owned(),
        W::Params {
            source: kms::Error::KekDisabled { .. } | kms::Error::KekExpired { .. },
            ..
        } => "Make a new key exchange key (az keyvault key create --kty RSA-HSM --ops import) and show it again."
            .to_owned(),
        W::Params {
            source: kms::Error::PrivateKeyNeedsRsaAes { .. },
            ..
        } => "Ask the KMS for import parameters for RSA_AES_KEY_WRAP_SHA_256 (or _SHA_1) and pass that --algorithm."
            .to_owned(),
        W::Params {
            source: kms::Error::WrappingKeyTooSmallFor { .. },
            ..
        } => "Ask the KMS for import parameters with an RSA_3072 or RSA_4096 wrapping key (get-parameters-for-import --wrapping-key-spec) and run again."
            .to_owned(),
        W::Params {
            source: kms::Error::GcpAlgorithmMismatch { .. } | kms::Error::OptionRequired { provider: kms::Provider::Gcp, .. },
            ..
        } => "Pass --gcp-algorithm with the algorithm of the Google key (gcloud kms keys describe shows its versionTemplate), one that takes this --key-spec."
            .to_owned(),
        W::Params {
            source: kms::Error::KeyVaultNoSecretKeys { .. },
            ..
        } => "Import AES keys into a Managed HSM: use a key exchange key made there (az keyvault key create --hsm-name …)."
            .to_owned(),
        W::Params {
            source: source @ (kms::Error::OtherProvider { .. } | kms::Error::PemParams { .. }),
            ..
        } => return other_provider(source, false),
        W::TrustedKeyPair => {
            "Leave out --wrap-with-trusted (or wrap_with_trusted in the plan) for a key pair."
                .to_owned()
        }
        W::RecordOfAnotherToken { .. } => {
            "Pass the transcript a ceremony on this token wrote (with its signer's --signer), or --expect-kcv with the KCV the custodians approved."
                .to_owned()
        }
        W::KcvTooShort { .. } => {
            "Take the full check value from the record of the key (the backup's manifest or the transcript that made it), never from the token itself."
                .to_owned()
        }
        W::PublicKeyObject { .. } => {
            "keyrite makes every key private: have the token's objects checked (pkcs11-tool --list-objects --login) and remove the public one before running again."
                .to_owned()
        }
        W::LegacyRefused { .. } => {
            "Prefer RSAES_OAEP_SHA_256 or RSAES_OAEP_SHA_1; pass --allow-legacy-pkcs1 only if the KMS accepts nothing else."
                .to_owned()
        }
        W::ReadParams { .. } => {
            "Pass the file the KMS's CLI printed (docs/operators.md: Providers).".to_owned()
        }
        W::Params { .. } | W::Options(_) => {
            "Pass the import parameters exactly as the KMS's CLI printed them, with the options that provider takes (docs/operators.md: Providers, Options of keyrite wrap)."
                .to_owned()
        }
        W::StepFailed { source, .. } => return wrap(source, c),
        W::RewrapNeedsKcv => {
            "Take the check value from the record of the key, never from the token: the key.kcv (or key.check_sha256) of the manifest.json its wrap wrote, or that run's sealed transcript (--from-transcript T --signer PEM)."
                .to_owned()
        }
        W::RewrapTrusted => {
            "Leave out --wrap-with-trusted: a key made with CKA_WRAP_WITH_TRUSTED keeps it, and is wrapped only under a KMS key the security officer trusted (keyrite token trust-wrapping-key)."
                .to_owned()
        }
        W::RewrapRecording => {
            "Leave out --transcript, or put the rewrap in a ceremony plan (action = \"rewrap\", ceremony/README.md) to have it approved and recorded."
                .to_owned()
        }
        W::BadExpectedKcv { .. } => {
            "Give the check value the key's record holds: its 6-hex KCV or its 64-hex check_sha256, as the manifest.json of the wrap that made it records them."
                .to_owned()
        }
        W::KcvMismatch { .. } | W::CheckValueMismatch { .. } | W::NotTheRecordedKey { .. } => {
            "The token's key of that label is other material than the one expected: check that --key-label names the key meant (`keyrite keys list` shows the labels) and that the check value is the one its record holds; never wrap a key that does not match."
                .to_owned()
        }
        W::NoCheckSha256 { .. } => {
            "Prove the key by its 6-hex KCV (accepted for a key this token generated) or by the sealed record of the run that made it (--from-transcript T --signer PEM)."
                .to_owned()
        }
        W::NotCeremonyKey { role: Some(_), .. } => {
            "Name the ceremony key meant with --key-label (`keyrite keys list` shows the labels): keyrite's signer and backup keys never leave the token, and are never wrapped."
                .to_owned()
        }
        W::NotCeremonyKey { .. } => {
            "keyrite wraps only a key that is sensitive, extractable by wrapping alone and unmodifiable, as it makes them, so this one was made by something else or changed: have the token's objects checked (pkcs11-tool --list-objects --login) before trusting it."
                .to_owned()
        }
        W::ExistingSpec { .. } => {
            "Pass --key-spec the kind the key is (`keyrite keys list` shows it), or --key-label the key meant."
                .to_owned()
        }
        W::ValidToPast { .. } => {
            "Give a --valid-to in the future (RFC 3339), or leave it out for material that never expires."
                .to_owned()
        }
        _ => return None,
    })
}

/// Whether a policy's problem is a plan's field (`ceremony_id`): a plan given as the policy.
fn looks_like_plan(problem: &keyrite::ceremony::policy::Problem) -> bool {
    matches!(
        problem,
        keyrite::ceremony::policy::Problem::Toml { error, .. }
            if error.message().contains("`ceremony_id`")
    )
}

/// What to do about a plan step's parameters of another provider than the step names.
fn plan_params(e: &W) -> Option<String> {
    match e {
        W::Params { source, .. } => other_provider(source, true),
        _ => None,
    }
}

/// What to do about parameters of another provider than the one named, on the command line or
/// in a plan's step (`plan`); `None` for any other refusal of parameters.
fn other_provider(e: &kms::Error, plan: bool) -> Option<String> {
    Some(match e {
        kms::Error::OtherProvider { detected, .. } => {
            let (option, field) = match detected {
                kms::Provider::Gcp => (", with --gcp-key NAME", " and gcp_key"),
                kms::Provider::Azure => (", with --azure-key NAME", " and azure_key"),
                kms::Provider::Vault => (", with --vault-key NAME", " and vault_key"),
                _ => ("", ""),
            };
            if plan {
                format!(
                    "Set provider = \"{detected}\"{field} in that step, or name the parameters file of the KMS meant; a changed plan needs new approvals."
                )
            } else {
                format!(
                    "Use --provider {detected} for it{option} (in a plan: provider = \"{detected}\"{field}), or pass the parameters file of the KMS meant."
                )
            }
        }
        kms::Error::PemParams { .. } if plan => {
            "A bare PEM public key is a backup key's (provider = \"pkcs11-backup\"), a Vault transit wrapping key (\"vault\") or an Azure key exchange key (\"azure\", with azure_kid): set the step's provider to the one it came from, or name the parameters file of the KMS meant; a changed plan needs new approvals."
                .to_owned()
        }
        kms::Error::PemParams { .. } => {
            "A bare PEM public key is a backup key's (--provider pkcs11-backup), a Vault transit wrapping key (--provider vault) or an Azure key exchange key (--provider azure --azure-kid URL): use the provider it came from, or pass the parameters file of the KMS meant."
                .to_owned()
        }
        _ => return None,
    })
}

fn hsm(e: &H, c: Context) -> Option<String> {
    Some(match e {
        H::BackupKeyUnproven { .. } | H::BackupPublicKeySwapped { .. } | H::BackupKeyCopies { .. } => {
            "Nothing was exported or restored: have the backup token's objects checked (pkcs11-tool --list-objects --login); a backup key is an RSA private key, a private object, and one public key object of its label holding its public key."
                .to_owned()
        }
        H::PublicKey { .. } => {
            "A key pair keeps its public key object beside its private key, with the same label and CKA_ID: check the token's objects (keyrite keys list)."
                .to_owned()
        }
        H::SameLabel { .. } => {
            "keyrite makes one key per label, always private: have the token's objects checked (pkcs11-tool --list-objects --login) and remove the one that is not the ceremony key before running again."
                .to_owned()
        }
        H::NoModule
        | H::ModuleNotFound { .. }
        | H::ModuleRead { .. }
        | H::ModuleNotRegular { .. }
        | H::NotModule { .. } => format!(
            "Pass --module the PKCS#11 module of the token, the .so its vendor installs (the one pkcs11-tool --module takes), or set {} to it; SoftHSM2's is {} (on Debian: apt-get install softhsm2).",
            hsm::MODULE_ENV,
            hsm::SOFTHSM2_DEBIAN
        ),
        H::ModuleLoad { .. } => format!(
            "Check that --module (or {}) names the PKCS#11 module of the token, built for this machine, and that the libraries it needs are installed (ldd shows them) and its configuration is in place (SoftHSM2: SOFTHSM2_CONF).",
            hsm::MODULE_ENV
        ),
        H::TraceOpen { .. } => {
            "Name a new file for --trace (or KEYRITE_TRACE): keyrite never replaces a file, and nothing was done on the token.".to_owned()
        }
        H::NoToken { .. } => {
            "Check that the module is the one meant and that what it reaches is there: a p11-kit client needs its server running (P11_KIT_SERVER_ADDRESS), a network HSM its connection, a USB token to be plugged in."
                .to_owned()
        }
        H::NoSuchToken { .. } | H::TokenRequired { .. } | H::AmbiguousToken { .. } => {
            name_the_token(c).to_owned()
        }
        H::NoInitializedToken => match c {
            Context::Plan => "Initialise a token first, with the vendor's tool (SoftHSM2: softhsm2-util --init-token --free --label LABEL), and set token_label in the plan to its label; a changed plan needs new approvals.",
            _ => "Initialise a token first, with the vendor's tool (SoftHSM2: softhsm2-util --init-token --free --label LABEL), then pass --token LABEL.",
        }
        .to_owned(),
        H::WrongPin { .. } if c == Context::SecurityOfficer => {
            "Check the SO PIN: most tokens lock the SO PIN after a few wrong attempts (SoftHSM2 never does).".to_owned()
        }
        H::WrongPin { .. } => {
            "Check the PIN: most tokens lock the user PIN after a few wrong attempts (SoftHSM2 never does).".to_owned()
        }
        H::PinLocked { .. } | H::PinFinalTry { .. } if c == Context::SecurityOfficer => {
            "The SO PIN is locked or one wrong attempt from it: only the token's vendor tool can help (most tokens must then be initialised again).".to_owned()
        }
        H::PinLocked { .. } | H::PinFinalTry { .. } => {
            "The token's security officer must reset the user PIN before keyrite logs in.".to_owned()
        }
        H::NoSuchKey { .. } => {
            "Run `keyrite keys list` to see the labels of the token's keys, and name the key meant (--key-label, in a plan key_label); `keyrite wrap` makes a new key, rewrap and destroy take one the token holds."
                .to_owned()
        }
        H::NoSigner { .. } => {
            "Name the token's signer with --key-label: `keyrite keys list` shows every label on the token, signers among them; `keyrite token signer create` makes one."
                .to_owned()
        }
        H::LabelExists { .. } => match c {
            Context::Plan => "Choose another key_label in the plan (a changed plan needs new approvals); keyrite never reuses or replaces a key.".to_owned(),
            _ => "Choose another --key-label; keyrite never reuses or replaces a key.".to_owned(),
        },
        H::NoKwp { tested: false, .. } => {
            "RSA-AES needs AES key wrap with padding in the token (CKM_AES_KEY_WRAP_KWP or CKM_AES_KEY_WRAP_PAD), and keyrite refuses before generating anything when it has none to test: use a token that offers one (see `keyrite token info`), or, for a secret key, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256."
                .to_owned()
        }
        H::KnownAnswer { .. } | H::NoKwp { .. } => {
            "keyrite never wraps with a mechanism that failed its known-answer test: use a token whose AES key wrap with padding passes (see `keyrite token info`), or, for a secret key, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256."
                .to_owned()
        }
        H::NoTrustedKey { .. } => {
            "The security officer stores the KMS key first (keyrite token trust-wrapping-key); `keyrite token info` says whether the token can trust a key at all."
                .to_owned()
        }
        H::NoWrapWithTrusted { .. } => {
            "No key on this token can be wrapped only under a trusted key, and trust-wrapping-key cannot change that: leave out --wrap-with-trusted (or wrap_with_trusted in the plan), or use a token whose `keyrite token info` says CKA_WRAP_WITH_TRUSTED: enforced."
                .to_owned()
        }
        H::UnsupportedWrapping { .. } => {
            "keyrite never falls back to another algorithm: use a token that supports this one (see `keyrite token info`), or ask the KMS for another wrapping algorithm."
                .to_owned()
        }
        H::BackupUnwrap { .. } => {
            "Make the backup again with an algorithm this token unwraps: `keyrite token backup-key export` on it lists them."
                .to_owned()
        }
        H::BackupKeyOracle { .. } => {
            "Nothing was left on the token. For secret keys, make the backup key without --for-key-pairs on a token whose `keyrite token info` says it applies unwrap templates; to accept the risk, name a policy with accept_backup_unwrap_oracle = true (--policy)."
                .to_owned()
        }
        H::NoUnwrapTemplate { .. } => {
            "A backup key needs a token that applies CKA_UNWRAP_TEMPLATE: make it on a token whose `keyrite token info` says CKA_UNWRAP_TEMPLATE: applied."
                .to_owned()
        }
        H::NoBackupKey { .. } if c == Context::BackupKeyExport => {
            "Name the backup key with --key-label (`keyrite keys list` on the backup token shows the labels; `keyrite token backup-key create` makes one)."
                .to_owned()
        }
        H::NoBackupKeyFor { .. } | H::NoBackupKey { .. } => {
            "Restore on the token that made the backup key (--token LABEL), or make the backup again under this token's key."
                .to_owned()
        }
        H::SignerUnproven {
            why: hsm::Unproven::OriginUnreported { .. },
            ..
        } => {
            "Nothing was printed or signed. keyrite seals only with a signer whose private key the token shows it generated and kept secret (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE): use a token that reports them."
                .to_owned()
        }
        H::SignerUnproven {
            why: hsm::Unproven::NotMadeInToken { .. },
            ..
        } => {
            "Nothing was printed or signed. A PIN holder can put a private key they know on the token under the signer's label: have the token's objects of that label removed with the security team, make a new signer (keyrite token signer create) and pin its fingerprint."
                .to_owned()
        }
        H::SignerUnproven { .. } => {
            "Nothing was printed or signed. A session without the PIN can add public objects to a token: list the token's objects of that label, remove what is not the signer's with the security team, or make a new signer (keyrite token signer create) and pin its fingerprint."
                .to_owned()
        }
        _ => return None,
    })
}

fn output(e: &output::Error, c: Context) -> Option<String> {
    Some(match e {
        output::Error::Exists { .. } if c == Context::OutFile => {
            "Choose a new --out file; keyrite never replaces a file.".to_owned()
        }
        output::Error::Exists { .. } => {
            "Choose a new --out directory; keyrite never replaces an output.".to_owned()
        }
        output::Error::NotWritable { .. } | output::Error::NoRoom { .. } => {
            "Choose an --out on a writable file system with room; nothing was generated.".to_owned()
        }
        output::Error::NoParent { .. } => {
            "Create the parent directory first, or choose another --out.".to_owned()
        }
        _ => return None,
    })
}

fn pin(e: &pin::Error, c: Context) -> Option<String> {
    Some(match e {
        pin::Error::FileMode { path, .. } => {
            format!("Run: chmod 600 {}", path.display())
        }
        pin::Error::NoTerminal => match c {
            Context::Plan => "The plan takes the PIN from a terminal (pin = \"prompt\"): run it on one, or have the plan say pin = \"env:NAME\", NAME a variable holding the PIN; a changed plan needs new approvals.",
            Context::SecurityOfficer => "Pass --so-pin-env NAME (the name of a variable holding the SO PIN) or --so-pin-file PATH.",
            Context::Options | Context::BackupKeyExport | Context::OutFile => "Pass --pin-env NAME (the name of a variable holding the PIN) or --pin-file PATH.",
        }
        .to_owned(),
        pin::Error::EnvName | pin::Error::EnvUnset => match c {
            Context::Plan => "Name a variable that holds the PIN, never the PIN itself: `read -rs KR_PIN && export KR_PIN`, with pin = \"env:KR_PIN\" in the plan (a changed plan needs new approvals).",
            Context::SecurityOfficer => "Name a variable that holds the SO PIN, never the PIN itself: `read -rs KR_SO_PIN && export KR_SO_PIN`, then --so-pin-env KR_SO_PIN.",
            Context::Options | Context::BackupKeyExport | Context::OutFile => "Name a variable that holds the PIN, never the PIN itself: `read -rs KR_PIN && export KR_PIN`, then --pin-env KR_PIN (in a plan, pin = \"env:KR_PIN\").",
        }
        .to_owned(),
        pin::Error::FileOpen { .. } if c == Context::SecurityOfficer => {
            "Give --so-pin-file the path of a file holding the SO PIN (mode 0600), never the PIN itself."
                .to_owned()
        }
        pin::Error::FileOpen { .. } => {
            "Give --pin-file the path of a file holding the PIN (mode 0600), never the PIN itself."
                .to_owned()
        }
        _ => return None,
    })
}

fn restore(e: &restore::Error, c: Context) -> Option<String> {
    Some(match e {
        restore::Error::Verify(e) => return verify(e),
        restore::Error::Open(e) => return wrap(e, c),
        restore::Error::Hsm(e) => return hsm(e, c),
        restore::Error::TokenLine(e) => return ceremony(e, c),
        restore::Error::Transcript(_) => return None,
        restore::Error::KcvMismatch { .. } | restore::Error::NoCommonKcv { .. } => {
            "Check the backup against the sealed transcript of the run that made it (keyrite verify T --outputs DIR) before trusting it again."
                .to_owned()
        }
        restore::Error::ShortExpectedKcv { pair: true, .. } => {
            "Pass --expect-kcv with the key pair's spki-sha256 (64 hex digits, as `keyrite keys list` on the source token shows it), or --from-transcript T --signer PEM, the sealed record of the run that made the backup."
                .to_owned()
        }
        restore::Error::ShortExpectedKcv { pair: false, .. } => {
            "Pass --expect-kcv with the key's full check value (64 hex digits, the check_sha256 the source token reports), or --from-transcript T --signer PEM, the sealed record of the run that made the backup."
                .to_owned()
        }
        restore::Error::NoFullCheckValue { .. } => {
            "On this token pass the key's 6-digit KCV with --expect-kcv, or --from-transcript T --signer PEM, the sealed record of the run that made the backup."
                .to_owned()
        }
        restore::Error::ExpectedKcvMismatch { .. } => {
            "This backup does not hold the key expected: find out where the directory came from before restoring anything from it."
                .to_owned()
        }
        restore::Error::OtherSource { .. } => {
            "Pass the transcript of the run on the token that made this backup, and check the directory with `keyrite verify T --outputs DIR`."
                .to_owned()
        }
        _ => {
            "Pass the directory a recorded wrap with --provider pkcs11-backup wrote, unchanged, and the key label it holds."
                .to_owned()
        }
    })
}

fn ceremony(e: &ceremony::Error, c: Context) -> Option<String> {
    Some(match e {
        ceremony::Error::Wrap(e) => return wrap(e, c),
        ceremony::Error::Hsm(e) => return hsm(e, c),
        ceremony::Error::Pin(e) => return pin(e, c),
        ceremony::Error::Shares(e) => return shares(e, c),
        ceremony::Error::StepInput { source, .. } if plan_params(source).is_some() => {
            return plan_params(source);
        }
        ceremony::Error::StepInput { source, .. }
            if matches!(**source, W::Output(output::Error::Exists { .. })) =>
        {
            "If this plan already ran, its outputs are there: a new ceremony needs a new ceremony_id and new approvals; otherwise move the directory aside or give the step another out (a changed plan needs new approvals)."
                .to_owned()
        }
        ceremony::Error::Plan { .. } | ceremony::Error::StepInput { .. } => {
            "Fix the plan (ceremony/README.md documents every field); a changed plan needs new approvals."
                .to_owned()
        }
        ceremony::Error::Replay { left, .. } if !left.is_empty() => {
            "If that run was interrupted, check its transcript (keyrite verify) and end its keys with an approved destroy plan (keyrite keys destroy); a new run needs a new ceremony_id and new approvals."
                .to_owned()
        }
        ceremony::Error::Replay { .. } => {
            "A plan runs once per token: give a new ceremony_id, and have it approved again."
                .to_owned()
        }
        ceremony::Error::Resume { reason, .. } => resume(reason).to_owned(),
        ceremony::Error::Read { .. } | ceremony::Error::Lock { .. } => READ.to_owned(),
        ceremony::Error::ModuleUnpinned { .. } => {
            "Put the SHA-256 of the module file the ceremony loads there, as `sha256sum MODULE` prints it (for SoftHSM2 on Debian: sha256sum /usr/lib/softhsm/libsofthsm2.so)."
                .to_owned()
        }
        ceremony::Error::ModulePath { expected, .. } => format!(
            "Run with --module {} (or {} set to it), the module the policy pins.",
            expected.display(),
            hsm::MODULE_ENV
        ),
        ceremony::Error::ModuleDigest { .. } => format!(
            "Run with the module the policy pins (--module PATH or {}); if this module is the one meant, the security team puts its sha256sum in the policy's module_sha256.",
            hsm::MODULE_ENV
        ),
        ceremony::Error::TrustedWrappingRequired { .. } => {
            "Set wrap_with_trusted = true on every generate step (a changed plan needs new approvals); the security officer marks each KMS wrapping key trusted first (keyrite token trust-wrapping-key)."
                .to_owned()
        }
        ceremony::Error::ExistingNotTrusted { .. } => {
            "A key made without CKA_WRAP_WITH_TRUSTED never gains it: leave it out of this plan, or wrap it under a policy without require_trusted_wrapping."
                .to_owned()
        }
        ceremony::Error::Policy { problem, .. } if looks_like_plan(problem) => {
            "This looks like a plan, not a policy: pass it as --plan, and the policy (the file with threshold and custodians) as --policy."
                .to_owned()
        }
        ceremony::Error::Policy { .. } => {
            "Fix the policy (ceremony/README.md documents every field).".to_owned()
        }
        ceremony::Error::Window { over: true, .. } => {
            "A plan never runs after its not_after: write a new plan with a new window and a new ceremony_id, and have it approved."
                .to_owned()
        }
        ceremony::Error::Window { over: false, .. } => {
            "Run the plan once its window has opened; moving the window changes the plan, which then needs new approvals."
                .to_owned()
        }
        ceremony::Error::ParamsExpireBeforeWindow { .. } => {
            "Get new import parameters from the KMS close to the ceremony (they expire: AWS's after 24 hours, a Google import job after 3 days), or open the window earlier; either change needs new approvals."
                .to_owned()
        }
        ceremony::Error::ValidToBeforeWindow { .. } => {
            "Give a valid_to after the plan's window (RFC 3339), or leave it out for material that never expires; a changed plan needs new approvals."
                .to_owned()
        }
        ceremony::Error::SignerMismatch { .. } => {
            "Check that this is the token meant (--module, the plan's token_label) and its signer the one the policy pins: `keyrite token signer export` prints the token's signer fingerprint; only the security team changes the policy's signer_fingerprint."
                .to_owned()
        }
        ceremony::Error::SerialMismatch { .. } => {
            "Run the ceremony on the production token the policy pins (its token_serial; `keyrite token info` shows each token's serial)."
                .to_owned()
        }
        ceremony::Error::NotADestroyPlan { .. } => {
            "Pass --key-label the key the plan destroys, or a plan whose only steps destroy that key (action = \"destroy\", ceremony/README.md), approved."
                .to_owned()
        }
        ceremony::Error::NoQuorum(_) => {
            "Each custodian signs the output of `keyrite plan digest` with ssh-keygen -Y sign -n keyrite-plan; put the signatures in the approvals directory."
                .to_owned()
        }
        _ => return None,
    })
}

/// What to do about a warning of `plan check`.
pub fn warning(w: &ceremony::Warning) -> &'static str {
    match w {
        ceremony::Warning::ParamsExpireInWindow { .. } => {
            "Run the ceremony before the parameters expire, or get new ones from the KMS (the plan then needs new approvals)."
        }
        ceremony::Warning::ValidToInWindow { .. } => {
            "Run the ceremony before the step's valid_to, or give a later one (the plan then needs new approvals)."
        }
        _ => "Check the plan before the custodians approve it.",
    }
}

fn resume(e: &ceremony::Unresumable) -> &'static str {
    use ceremony::Unresumable as U;
    match e {
        U::Sealed | U::Settled => {
            "That run ended: a new run needs a new ceremony_id and new approvals."
        }
        U::OutputsExist { .. } => {
            "Move it aside (it holds only wrapped material) and resume again: the resumed run writes every output anew."
        }
        U::NoMarker { .. } => "Run the plan without --resume-from.",
        U::PublicMarker { .. } | U::Markers { .. } => {
            "keyrite left no such object: have the token's objects checked (pkcs11-tool --list-objects --login) before a ceremony runs on it."
        }
        U::OtherPlanMarker { .. } => {
            "Resume with the plan that ran (the marker holds its SHA-256); a new plan needs a new ceremony_id and new approvals."
        }
        U::HalfGenerated { .. } => {
            "End the key with an approved destroy plan (keyrite keys destroy), then run the plan under a new ceremony_id."
        }
        U::KeyNotFound { .. }
        | U::PublicKeyObject { .. }
        | U::NotCeremonyKey { .. }
        | U::NotLocal { .. }
        | U::IdDiffers { .. }
        | U::IdNotBound { .. }
        | U::OtherSpec { .. }
        | U::KcvDiffers { .. }
        | U::KcvMethodDiffers { .. }
        | U::CheckValueDiffers { .. } => {
            "Resume only from the transcript the interrupted run wrote, unaltered; if it is that one, the token's key is not the key that run generated: end it with an approved destroy plan (keyrite keys destroy)."
        }
        _ => {
            "Pass the transcript the interrupted run of this plan left, as it left it; keyrite verify T --policy POLICY --plan PLAN says whether it is intact."
        }
    }
}

fn shares(e: &shares::Error, c: Context) -> Option<String> {
    Some(match e {
        shares::Error::Pin(e) => return pin(e, c),
        shares::Error::Token(e) => return hsm(e, c),
        shares::Error::Policy(e) => return ceremony(e, c),
        shares::Error::NoRecipients => {
            "Pass --to-policy policy.toml to encrypt each custodian's share to their SSH key (share-NAME.age), or --plaintext for share files in the clear."
                .to_owned()
        }
        shares::Error::NoIdentity { .. }
        | shares::Error::NotForThese { .. }
        | shares::Error::WrongPassphrase { .. } => {
            "Give each custodian's SSH private key with --identity KEY (repeat for each), or have the custodian open their share with `age -d -i KEY FILE` and type it."
                .to_owned()
        }
        shares::Error::Malformed { .. }
        | shares::Error::Typo { .. }
        | shares::Error::NotTheirs { .. }
        | shares::Error::NotPinned { .. }
        | shares::Error::OtherThreshold { .. }
        | shares::Error::Duplicate { .. }
        | shares::Error::TooFew { .. }
        | shares::Error::ShareFileOpen { .. }
        | shares::Error::Io { .. } => {
            "Use the share files `keyrite pin split` wrote, unchanged, from as many custodians as the threshold."
                .to_owned()
        }
        shares::Error::Misplaced { .. } => {
            "List pin_shares in the order keyrite pin split printed them (share 1 first, every share of the split), and have the plan approved again if the policy changed."
                .to_owned()
        }
        shares::Error::NotHere { .. } => {
            "Run the ceremony again when as many custodians as the threshold are here with their shares, or pass their share files with --pin-share."
                .to_owned()
        }
        shares::Error::Counts => {
            "Pass a --threshold from 2 to --shares, and --shares at most 255 (for example --threshold 2 --shares 3)."
                .to_owned()
        }
        shares::Error::Exists { .. } => {
            "Choose a new --out directory: keyrite writes shares only into a directory it creates."
                .to_owned()
        }
        shares::Error::NoPolicyShares => {
            "Put the pin_shares line `keyrite pin split` printed in the policy (with module_sha256), or have the plan take the PIN another way (pin = \"prompt\" or \"env:NAME\"), which needs new approvals."
                .to_owned()
        }
        _ => return None,
    })
}

fn verify(e: &verify::Error) -> Option<String> {
    Some(match e {
        verify::Error::Read {
            reason: verify::ReadProblem::LongLine { .. },
            ..
        } => {
            "Pass the transcript and signer files keyrite wrote; it reads at most 16 MiB of one transcript line."
                .to_owned()
        }
        verify::Error::Read { .. }
        | verify::Error::Ceremony(ceremony::Error::Read { .. } | ceremony::Error::Lock { .. }) => {
            "Check the path names the transcript, the signer's public key (the PEM `keyrite token signer export` printed), the policy or the plan meant; keyrite reads at most 1 MiB of a signer, policy or plan."
                .to_owned()
        }
        verify::Error::Ceremony(e) => return ceremony(e, Context::Options),
        verify::Error::NoKcv { .. } => {
            "Name a key that transcript records (a key_label of the plan its run carried out) with --key-label, or pass the key's check value from its record with --expect-kcv."
                .to_owned()
        }
        verify::Error::NotRecorded { .. } => {
            "Pass the sealed transcript of the run that made the backup (keyrite wrap --provider pkcs11-backup --transcript, or a ceremony's wrap step), and check the directory with `keyrite verify T --outputs DIR`."
                .to_owned()
        }
        verify::Error::NotVerified { .. } => {
            "Pass a transcript that `keyrite verify T --signer PEM` reports VERIFIED, with the signer.pem the security team holds: a transcript sealed by any other key proves nothing."
                .to_owned()
        }
        verify::Error::NoOutputs(unfound) => match &unfound.suggestion {
            Some(dir) => format!(
                "Did you mean --outputs {}? --outputs names the directory that holds the output directories.",
                dir.display()
            ),
            None => "--outputs names the directory that holds each output directory by its last name: for a plan step's `out = \"out/us-east-1\"`, pass --outputs out (the plan's directory's out).".to_owned(),
        },
        verify::Error::Signer {
            reason: KeyError::Pem(PemProblem::SshPublicKey(_) | PemProblem::SshPrivateKey),
            ..
        } => {
            "--signer takes the token's ceremony signer, the PEM `keyrite token signer export` printed; SSH keys are the custodians' and witnesses' (a policy's ssh_key, `keyrite witness sign --ssh-key`)."
                .to_owned()
        }
        verify::Error::Signer {
            reason: KeyError::Pem(PemProblem::Certificate),
            ..
        } => {
            "--signer takes the token's ceremony signer as a bare public key, the PEM `keyrite token signer export` printed, never a certificate."
                .to_owned()
        }
        verify::Error::Signer {
            reason: KeyError::Pem(PemProblem::PrivateKey(_)),
            ..
        } => {
            "--signer takes the token's ceremony signer, whose private key never leaves the token: pass the public key `keyrite token signer export` printed."
                .to_owned()
        }
        verify::Error::Signer { .. } => {
            "Pass the signer's public key as `keyrite token signer export` printed it.".to_owned()
        }
        _ => return None,
    })
}

fn token(e: &token::Error, c: Context) -> Option<String> {
    match e {
        token::Error::Wrap(e) => wrap(e, c),
        token::Error::Hsm(e) => hsm(e, c),
        token::Error::Pin(e) => pin(e, c),
        token::Error::Policy(e) => ceremony(e, c),
        _ => None,
    }
}

fn witness(e: &witness::Error, c: Context) -> Option<String> {
    Some(match e {
        witness::Error::Policy(e) => return ceremony(e, c),
        witness::Error::Verify(e) => return verify(e),
        witness::Error::Read { .. } | witness::Error::Lock { .. } => WITNESS_READ.to_owned(),
        witness::Error::NoWitnesses => {
            "A witness signs only a transcript whose policy lists their ssh_key under [[witnesses]]; this ceremony's policy lists none, so its transcript takes no witness."
                .to_owned()
        }
        witness::Error::NotSignature { .. }
        | witness::Error::Namespace { .. }
        | witness::Error::NotWitness { .. }
        | witness::Error::BadSignature { .. } => {
            "Sign with `keyrite witness sign` (or ssh-keygen -Y sign -n keyrite-witness over `keyrite witness message`) with a witness key of the policy."
                .to_owned()
        }
        _ => return None,
    })
}
