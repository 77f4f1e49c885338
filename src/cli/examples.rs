//! The "Examples:" section of every command's help: invocations that run as written in the
//! README's "Try it in two minutes on SoftHSM2" directory (the token `try`, its PIN in `KR_PIN`,
//! the fake AWS parameters `params.json`, the signer `try-signer`, the policy, the plan and the
//! ceremony's transcript `try-1.jsonl`), once the README's steps have run; `plan` and
//! `ceremony run` are the README's own steps, before the ceremony ran. Where an example needs
//! more than that setup, its comment says what. An example that may run once the backup
//! examples have made a second token (`backup`) names its token (`--token try`).

/// `keyrite`
pub const KEYRITE: &str = "\
Examples:
  keyrite token info                  # what the token can do, tried on throw-away keys
  keyrite wrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-aes --out import-aes --pin-env KR_PIN
  keyrite verify try-1.jsonl --signer signer.pem --policy policy.toml --plan plan.toml --outputs .

Each command's --help has its own examples. A first wrap and ceremony on SoftHSM2, without a
cloud account: the README's \"Try it in two minutes\".

Exit codes: 0 success, 1 refused or failed, 2 usage (an input or option that cannot be used);
verify also 3 incomplete, 4 not approved; 129/130/143 on SIGHUP/SIGINT/SIGTERM. Every command's
codes: docs/cli.md.";

/// `keyrite token`
pub const TOKEN: &str = "\
Examples:
  keyrite token info
  keyrite token signer create --key-label try-signer-2 --pin-env KR_PIN > signer-2.pem";

/// `keyrite token info`
pub const TOKEN_INFO: &str = "\
Examples:
  keyrite token info
  keyrite token info --token try --pin-env KR_PIN --json    # logged in, for tokens that need it";

/// `keyrite token signer`
pub const TOKEN_SIGNER: &str = "\
Examples:
  keyrite token signer create --key-label try-signer-2 --pin-env KR_PIN > signer-2.pem
  keyrite token signer export --key-label try-signer --pin-env KR_PIN | cmp - signer.pem";

/// `keyrite token signer create`
pub const TOKEN_SIGNER_CREATE: &str = "\
Examples:
  keyrite token signer create --key-label try-signer-2 --pin-env KR_PIN > signer-2.pem
  keyrite token signer create --key-label try-rsa-signer --algorithm rsa-pss-3072 \\
      --pin-env KR_PIN > rsa-signer.pem";

/// `keyrite token signer export`
pub const TOKEN_SIGNER_EXPORT: &str = "\
Examples:
  keyrite token signer export --key-label try-signer --pin-env KR_PIN | cmp - signer.pem";

/// `keyrite token trust-wrapping-key`
pub const TOKEN_TRUST_WRAPPING_KEY: &str = "\
Examples:
  export KR_SO_PIN=12345678           # the try token's security officer PIN
  keyrite token trust-wrapping-key --provider aws --params params.json --key-label kms-try \\
      --so-pin-env KR_SO_PIN
  keyrite wrap --wrap-with-trusted --provider aws --params params.json \\
      --algorithm RSAES_OAEP_SHA_1 --key-label try-trusted --out import-trusted --pin-env KR_PIN";

/// `keyrite token backup-key`
pub const TOKEN_BACKUP_KEY: &str = "\
Examples:
  softhsm2-util --init-token --free --label backup --so-pin 12345678 --pin 87654321
  keyrite token backup-key create --key-label try-backup --token backup --pin-env KR_PIN \\
      > backup.pem
  keyrite token backup-key export --key-label try-backup --token backup --pin-env KR_PIN \\
      | cmp - backup.pem";

/// `keyrite token backup-key create`
pub const TOKEN_BACKUP_KEY_CREATE: &str = "\
Examples:
  softhsm2-util --init-token --free --label backup --so-pin 12345678 --pin 87654321
  keyrite token backup-key create --key-label try-backup --token backup --pin-env KR_PIN \\
      > backup.pem
  keyrite wrap --provider pkcs11-backup --params backup.pem --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-backed-up --out backup-try --token try --pin-env KR_PIN \\
      --transcript backup.jsonl --signer-label try-signer    # made in try, backed up to backup";

/// `keyrite token backup-key export`
pub const TOKEN_BACKUP_KEY_EXPORT: &str = "\
Examples:
  keyrite token backup-key export --key-label try-backup --token backup --pin-env KR_PIN \\
      | cmp - backup.pem";

/// `keyrite wrap`
pub const WRAP: &str = "\
Examples:
  keyrite wrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-aes --out import-aes --pin-env KR_PIN
  keyrite wrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-spec HMAC_256 --key-label try-hmac --out import-hmac --pin-env KR_PIN --json
  keyrite wrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-recorded --out import-recorded --pin-env KR_PIN \\
      --transcript wrap.jsonl --signer-label try-signer    # recorded, sealed by the signer";

/// `keyrite keys`
pub const KEYS: &str = "\
Examples:
  keyrite keys list --pin-env KR_PIN";

/// `keyrite keys list`
pub const KEYS_LIST: &str = "\
Examples:
  keyrite keys list --pin-env KR_PIN
  keyrite keys list --pin-env KR_PIN --json";

/// `keyrite keys destroy`
pub const KEYS_DESTROY: &str = "\
Examples:
  # destroy.toml: plan.toml with ceremony_id = \"try-destroy\" and one step, action = \"destroy\",
  # key_label = \"try-key\" and expect_kcv its KCV (keys list); its digest signed into
  # destroy-approvals as plan.toml's was into approvals
  keyrite keys destroy --key-label try-key --plan destroy.toml --policy policy.toml \\
      --approvals destroy-approvals --transcript destroy.jsonl";

/// `keyrite rewrap`
pub const REWRAP: &str = "\
Examples:
  # --token try: the key is on the token try (needed once a second token, such as the backup
  # of `keyrite token backup-key create --help`, is there)
  keyrite rewrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-key --expect-kcv \"$(jq -r .key.kcv import-try/manifest.json)\" \\
      --out import-try-again --token try --pin-env KR_PIN
  keyrite rewrap --provider aws --params params.json --algorithm RSAES_OAEP_SHA_1 \\
      --key-label try-ceremony --from-transcript try-1.jsonl --signer signer.pem \\
      --out import-ceremony-again --token try --pin-env KR_PIN";

/// `keyrite restore`
pub const RESTORE: &str = "\
Examples:
  # after the backup of `keyrite token backup-key create --help` (token backup, backup-try/)
  keyrite token signer create --key-label backup-signer --token backup --pin-env KR_PIN \\
      > backup-signer.pem
  keyrite restore --backup backup-try --key-label try-backed-up \\
      --from-transcript backup.jsonl --signer signer.pem \\
      --record restore.jsonl --signer-label backup-signer --token backup --pin-env KR_PIN
  keyrite verify restore.jsonl --signer backup-signer.pem --no-policy    # NOT APPROVED, exit 4";

/// `keyrite plan`
pub const PLAN: &str = "\
Examples:
  keyrite plan check plan.toml --policy policy.toml
  keyrite plan digest plan.toml > plan.digest
  keyrite plan script plan.toml --policy policy.toml --out script.html";

/// `keyrite plan check`
pub const PLAN_CHECK: &str = "\
Examples:
  keyrite plan check plan.toml --policy policy.toml    # what the custodians read before signing";

/// `keyrite plan digest`
pub const PLAN_DIGEST: &str = "\
Examples:
  keyrite plan digest plan.toml > plan.digest
  ssh-keygen -q -Y sign -f me -n keyrite-plan plan.digest    # a custodian's approval";

/// `keyrite plan script`
pub const PLAN_SCRIPT: &str = "\
Examples:
  keyrite plan script plan.toml --policy policy.toml --out script.html
  chromium --headless --no-sandbox --no-pdf-header-footer --print-to-pdf=script.pdf \\
      \"file://$PWD/script.html\"    # the PDF to print";

/// `keyrite ceremony`
pub const CEREMONY: &str = "\
Examples:
  keyrite ceremony run plan.toml --policy policy.toml --approvals approvals \\
      --transcript try-1.jsonl";

/// `keyrite ceremony run`
pub const CEREMONY_RUN: &str = "\
Examples:
  keyrite ceremony run plan.toml --policy policy.toml --approvals approvals \\
      --transcript try-1.jsonl
  # a plan with pin = \"shares\", its shares split by pin split --to-policy (alice's and bob's keys)
  keyrite ceremony run plan.toml --policy policy.toml --approvals approvals \\
      --transcript try-2.jsonl --pin-share pin-shares-age/share-alice.age --identity alice \\
      --pin-share pin-shares-age/share-bob.age --identity bob";

/// `keyrite pin`
pub const PIN: &str = "\
Examples:
  keyrite pin split --plaintext --threshold 2 --shares 3 --out pin-shares --pin-env KR_PIN";

/// `keyrite pin split`
pub const PIN_SPLIT: &str = "\
Examples:
  keyrite pin split --plaintext --threshold 2 --shares 3 --out pin-shares --pin-env KR_PIN
  keyrite pin split --plaintext --threshold 3 --shares 5 --out pin-shares-3of5    # type the PIN, twice
  # a policy of 2 or more custodians with ssh-ed25519 or ssh-rsa keys: share-NAME.age for each
  keyrite pin split --to-policy policy.toml --threshold 2 --out pin-shares-age --pin-env KR_PIN";

/// `keyrite witness`
pub const WITNESS: &str = "\
Examples:
  keyrite witness message try-1.jsonl --signer signer.pem";

/// `keyrite witness sign`
pub const WITNESS_SIGN: &str = "\
Examples:
  # wendy: a witness's SSH key, which the policy names under [[witnesses]]
  keyrite witness sign try-1.jsonl --ssh-key wendy --signer signer.pem --policy policy.toml";

/// `keyrite witness add`
pub const WITNESS_ADD: &str = "\
Examples:
  # wendy: a witness's SSH key (a hardware key too), which the policy names under [[witnesses]]
  keyrite witness message try-1.jsonl --signer signer.pem > seal.head
  ssh-keygen -q -Y sign -f wendy -n keyrite-witness seal.head
  keyrite witness add try-1.jsonl --signature seal.head.sig --signer signer.pem \\
      --policy policy.toml";

/// `keyrite witness message`
pub const WITNESS_MESSAGE: &str = "\
Examples:
  keyrite witness message try-1.jsonl --signer signer.pem > seal.head";

/// `keyrite verify`
pub const VERIFY: &str = "\
Examples:
  keyrite verify try-1.jsonl --signer signer.pem --policy policy.toml --plan plan.toml --outputs .
  keyrite verify try-1.jsonl --signer signer.pem --policy policy.toml --json
  keyrite verify try-1.jsonl --signer signer.pem --policy policy.toml --report try-1.html";
