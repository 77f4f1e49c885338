//! The policy: who may approve a plan (custodians and the threshold M), who witnesses, which
//! token key seals transcripts, optionally which token serial is production. It is the trust
//! anchor and comes from outside the plan: a plan never names who approves it.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use ssh_key::{HashAlg, PublicKey};

use super::{Error, read_once};

/// The policy format version.
pub const VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    version: u32,
    threshold: usize,
    signer_fingerprint: String,
    token_serial: Option<String>,
    #[serde(default)]
    custodians: Vec<PersonFile>,
    custodians_file: Option<String>,
    #[serde(default)]
    witnesses: Vec<PersonFile>,
    #[serde(default)]
    pin_shares: Vec<String>,
    module_sha256: Option<String>,
    module_path: Option<String>,
    #[serde(default)]
    require_trusted_wrapping: bool,
    #[serde(default)]
    witnesses_required: usize,
    #[serde(default)]
    accept_backup_unwrap_oracle: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonFile {
    name: String,
    ssh_key: String,
}

/// A custodian or witness: a name and an SSH public key.
#[derive(Debug, Clone)]
pub struct Person {
    /// The name.
    pub name: String,
    /// The SSH public key.
    pub key: PublicKey,
}

impl Person {
    /// The key's OpenSSH fingerprint (`SHA256:…`).
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 (hex) of the file's bytes, as read.
    pub digest: String,
    /// M: how many distinct custodians must approve.
    pub threshold: usize,
    /// SHA-256 (hex) of the ceremony signer's SubjectPublicKeyInfo DER.
    pub signer_fingerprint: String,
    /// The production token's serial, if pinned.
    pub token_serial: Option<String>,
    /// The custodians.
    pub custodians: Vec<Person>,
    /// The witnesses.
    pub witnesses: Vec<Person>,
    /// SHA-256 (hex) of each PIN share, in share order (index 1 first).
    pub pin_shares: Vec<String>,
    /// The `allowed_signers` file the custodians came from, with its SHA-256, if any.
    pub custodians_file: Option<(PathBuf, String)>,
    /// SHA-256 (hex) of the PKCS#11 module file a ceremony must load, if pinned.
    pub module_sha256: Option<String>,
    /// The absolute path a ceremony must load the module from, if pinned.
    pub module_path: Option<PathBuf>,
    /// Every generated key must be wrappable only under keys the security officer trusted.
    pub require_trusted_wrapping: bool,
    /// How many distinct witnesses of the policy must co-sign a transcript.
    pub witnesses_required: usize,
    /// `token backup-key create` may make a backup key whose PIN holder could unwrap a backup
    /// into a readable key (a key-pair backup key, or a token that ignores
    /// `CKA_UNWRAP_TEMPLATE`).
    pub accept_backup_unwrap_oracle: bool,
}

/// Reads custodians from an OpenSSH `allowed_signers` file: each line is
/// `principals [options] key-type base64 [comment]`; the first principal is the name.
fn allowed_signers(text: &str) -> Result<Vec<PersonFile>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (principals, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {}: no key", n + 1))?;
        let rest = rest.trim_start();
        let key = if PublicKey::from_openssh(rest).is_ok() {
            rest
        } else {
            let key = skip_options(rest).trim_start();
            let options = &rest[..rest.len() - key.len()];
            if options.contains("cert-authority") || options.contains("valid-") {
                return Err(format!(
                    "line {}: cert-authority and valid-before/valid-after are not supported; list the custodian's own key",
                    n + 1
                ));
            }
            // A key restricted to other namespaces may not approve plans.
            if let Some(list) = options
                .split("namespaces=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
            {
                if !list.split(',').any(|ns| ns.trim() == "keyrite-plan") {
                    continue;
                }
            }
            key
        };
        let name = principals.split(',').next().unwrap_or_default();
        out.push(PersonFile {
            name: name.trim_matches('"').to_owned(),
            ssh_key: key.to_owned(),
        });
    }
    Ok(out)
}

/// Skips an options field (`cert-authority,namespaces="a,b"`), which may hold quoted spaces.
fn skip_options(s: &str) -> &str {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return &s[i..],
            _ => {}
        }
    }
    ""
}

/// What makes two SSH public keys one person's: the key itself, not its encoding. An Ed25519
/// key written as `ssh-ed25519` and as `sk-ssh-ed25519@openssh.com` (any FIDO application), or
/// a P-256 key as `ecdsa-sha2-nistp256` and as `sk-ecdsa-sha2-nistp256@openssh.com`, is one key:
/// whoever holds its private half can make signatures of either kind. RSA keys are compared by
/// modulus and exponent. An EC point must be uncompressed (as OpenSSH writes it), so that one
/// point has one encoding here.
fn identity(key: &PublicKey) -> Result<Vec<u8>, &'static str> {
    use ssh_key::public::KeyData;
    let point = |curve: &str, sec1: &[u8]| {
        if sec1.first() == Some(&0x04) {
            Ok([curve.as_bytes(), b":", sec1].concat())
        } else {
            Err("an EC point must be uncompressed, as OpenSSH writes it")
        }
    };
    match key.key_data() {
        KeyData::Ed25519(k) => Ok([b"ed25519:".as_slice(), &k.0].concat()),
        KeyData::SkEd25519(k) => Ok([b"ed25519:".as_slice(), &k.public_key().0].concat()),
        KeyData::Ecdsa(k) => point(k.curve().as_str(), k.as_sec1_bytes()),
        KeyData::SkEcdsaSha2NistP256(k) => point("nistp256", k.ec_point().as_bytes()),
        KeyData::Rsa(k) => {
            let (Some(e), Some(n)) = (k.e.as_positive_bytes(), k.n.as_positive_bytes()) else {
                return Err("an RSA key's modulus and exponent must be positive");
            };
            Ok([b"rsa:".as_slice(), &(e.len() as u64).to_be_bytes(), e, n].concat())
        }
        _ => key
            .to_bytes()
            .map_err(|_| "the key cannot be encoded")
            .map(|bytes| [b"other:".as_slice(), &bytes].concat()),
    }
}

fn people(list: Vec<PersonFile>, field: &str, path: &Path) -> Result<Vec<Person>, Error> {
    let mut out: Vec<Person> = Vec::new();
    for (i, p) in list.into_iter().enumerate() {
        let at = |what: &str| Error::Policy {
            path: path.to_path_buf(),
            reason: format!("{field}[{i}].{what}"),
        };
        if p.name.trim().is_empty() || p.name.chars().any(char::is_control) {
            return Err(at(
                "name: must be a non-empty name without control characters",
            ));
        }
        let key = PublicKey::from_openssh(p.ssh_key.trim())
            .map_err(|e| at(&format!("ssh_key: not an OpenSSH public key ({e})")))?;
        if out.iter().any(|o| o.name == p.name) {
            return Err(at(&format!("name: {:?} is listed twice", p.name)));
        }
        let id = identity(&key).map_err(|why| at(&format!("ssh_key: {why}")))?;
        if let Some(o) = out.iter().find(|o| identity(&o.key).as_ref() == Ok(&id)) {
            return Err(at(&format!(
                "ssh_key: the same key as {:?}'s (written another way, perhaps as an sk- key): one key is one person",
                o.name
            )));
        }
        out.push(Person { name: p.name, key });
    }
    Ok(out)
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::from_bytes(path, &read_once(path)?)
    }

    /// Checks a policy given as the bytes of the file at `path`. A `custodians_file` it names
    /// is read from beside `path`.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, Error> {
        let err = |reason: String| Error::Policy {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))?;
        let file: PolicyFile = toml::from_str(text).map_err(|e| {
            err(format!(
                "line {}: {}",
                super::plan::line_of(text, e.span()),
                e.message()
            ))
        })?;
        if file.version != VERSION {
            return Err(err(format!(
                "version: must be {VERSION}, not {}",
                file.version
            )));
        }
        let (listed, custodians_file) = match (&file.custodians_file, file.custodians.is_empty()) {
            (Some(_), false) => {
                return Err(err(
                    "custodians_file: give custodians either inline or in a file, not both".into(),
                ));
            }
            (Some(name), true) => {
                let signers_path = path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
                    .join(name);
                let bytes = read_once(&signers_path)?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| err(format!("custodians_file: {name} is not UTF-8 text")))?;
                let list = allowed_signers(text)
                    .map_err(|r| err(format!("custodians_file: {name}: {r}")))?;
                (
                    list,
                    Some((signers_path, hex::encode(Sha256::digest(&bytes)))),
                )
            }
            (None, _) => (file.custodians, None),
        };
        let custodians = people(listed, "custodians", path)?;
        let witnesses = people(file.witnesses, "witnesses", path)?;
        if let Some((i, (w, c))) = witnesses.iter().enumerate().find_map(|(i, w)| {
            custodians
                .iter()
                .find(|c| identity(&c.key).ok() == identity(&w.key).ok())
                .map(|c| (i, (w, c)))
        }) {
            return Err(err(format!(
                "witnesses[{i}].ssh_key: {:?}'s key is custodian {:?}'s: a witness's signature must be evidence from someone other than the custodians",
                w.name, c.name
            )));
        }
        if custodians.is_empty() {
            return Err(err("custodians: at least one custodian is needed".into()));
        }
        if file.threshold == 0 || file.threshold > custodians.len() {
            return Err(err(format!(
                "threshold: must be between 1 and the number of custodians ({}), not {}",
                custodians.len(),
                file.threshold
            )));
        }
        let fp = file.signer_fingerprint.to_ascii_lowercase();
        if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(
                "signer_fingerprint: must be the 64 hex digits `keyrite token signer export` prints"
                    .into(),
            ));
        }
        let pin_shares: Vec<String> = file
            .pin_shares
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        if let Some(i) = pin_shares
            .iter()
            .position(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(err(format!(
                "pin_shares[{i}]: must be the 64 hex digits `keyrite pin split` prints"
            )));
        }
        let module_sha256 = file.module_sha256.map(|h| h.to_ascii_lowercase());
        if module_sha256
            .as_ref()
            .is_some_and(|h| h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(err(
                "module_sha256: must be the 64 hex digits `sha256sum` prints of the module file"
                    .into(),
            ));
        }
        // The module is given the PIN the shares rebuild: a quorum that any module could
        // receive would protect nothing.
        if !pin_shares.is_empty() && module_sha256.is_none() {
            return Err(Error::ModuleUnpinned {
                path: path.to_path_buf(),
            });
        }
        let module_path = file.module_path.map(PathBuf::from);
        if module_path.as_ref().is_some_and(|p| !p.is_absolute()) {
            return Err(err("module_path: must be an absolute path".into()));
        }
        if file.witnesses_required > witnesses.len() {
            return Err(err(format!(
                "witnesses_required: must be at most the number of witnesses ({}), not {}",
                witnesses.len(),
                file.witnesses_required
            )));
        }
        Ok(Policy {
            path: path.to_path_buf(),
            digest: hex::encode(Sha256::digest(bytes)),
            threshold: file.threshold,
            signer_fingerprint: fp,
            token_serial: file.token_serial,
            custodians,
            witnesses,
            custodians_file,
            pin_shares,
            module_sha256,
            module_path,
            require_trusted_wrapping: file.require_trusted_wrapping,
            witnesses_required: file.witnesses_required,
            accept_backup_unwrap_oracle: file.accept_backup_unwrap_oracle,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn allowed_signers_lines() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILI+HDNs4VR2HoIuY6y9Cfita+LuVJJ+SqLJmz0CoADf";
        let text = format!(
            "# custodians\nalice {key} alice@laptop\n\nbob,robert namespaces=\"keyrite-plan,file x\" {key}\n"
        );
        let list = allowed_signers(&text).unwrap_or_default();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].name, "alice");
        assert_eq!(list[0].ssh_key, format!("{key} alice@laptop"));
        assert_eq!(list[1].name, "bob");
        assert_eq!(list[1].ssh_key, key);
    }

    #[test]
    fn a_policy_and_its_custodians_file_are_read_up_to_1_mib() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (crate::input::MAX_SMALL + 1) as usize]).unwrap();
        assert_eq!(
            Policy::load(&big).unwrap_err().to_string(),
            format!(
                "cannot read {}: it is larger than 1 MiB, the most keyrite reads from such a file",
                big.display()
            )
        );
        // A custodians file that never ends stops at the limit too.
        let endless = dir.path().join("endless.toml");
        std::fs::write(
            &endless,
            format!(
                "version = 1\nthreshold = 1\nsigner_fingerprint = \"{}\"\ncustodians_file = \"/dev/zero\"\n",
                "0".repeat(64)
            ),
        )
        .unwrap();
        assert_eq!(
            Policy::load(&endless).unwrap_err().to_string(),
            "cannot read /dev/zero: it is larger than 1 MiB, the most keyrite reads from such a file"
        );
    }
}
