//! A trace of every PKCS#11 call keyrite makes, for a token vendor's support: one JSON object a
//! line, `{"fn","args","rv","us"}`, then what a call that succeeded returned (`"out"`), or
//! for a failed call that `cryptoki` makes of several, which of them failed (`"in"`).
//!
//! [`TracedContext`] and [`TracedSession`] stand where `cryptoki`'s `Pkcs11` and `Session` stood,
//! with the same method names and signatures; each times the call, makes it, and when a trace
//! is open ([`open`]) writes its line. What a line may hold is decided here and nowhere else:
//! handles, slot ids, mechanism names with their non-secret parameters, attribute names with
//! the values of booleans, classes, key types, labels, ids and sizes, and for every other
//! attribute, every byte string passed in and every byte string returned, its length only. A
//! PIN appears in no form, not even its length.
//!
//! It trusts `cryptoki` to make each call as its method says, and, for the two mechanism
//! parameters `cryptoki` keeps private (OAEP's MGF and label length, GCM's IV length), the
//! crate's own `Debug` rendering of them (the unit tests below pin it). Calls `cryptoki` makes
//! on its own when a value is dropped (`C_CloseSession` of a dropped session, `C_Finalize`) are
//! not in the trace.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use cryptoki::context::{CInitializeArgs, Function, Pkcs11};
use cryptoki::error::{Error as CkError, Result as CkResult, RvError};
use cryptoki::mechanism::{Mechanism, MechanismInfo, MechanismType};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
use cryptoki::types::AuthPin;
use cryptoki_sys::CK_ATTRIBUTE;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::kwp::KwpMechanism;
use super::{Error, ckr_name};

/// The open trace: the file, and whether a write already failed (reported once).
struct Sink {
    file: File,
    failed: bool,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// Starts the trace: creates `path` (never an existing file; mode 0600) and writes every later
/// PKCS#11 call of this process to it. A process has at most one trace.
pub fn open(path: &Path) -> Result<(), Error> {
    let failed = |source: std::io::Error| Error::TraceOpen {
        path: path.to_path_buf(),
        source,
    };
    let twice = || {
        failed(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "a trace is already being written",
        ))
    };
    if SINK.get().is_some() {
        return Err(twice());
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    SINK.set(Mutex::new(Sink {
        file,
        failed: false,
    }))
    .map_err(|_| twice())
}

/// Writes one line; the first write that fails is reported on stderr, and the trace stops
/// there, so that it never silently misses a call in its middle.
fn write_line(sink: &Mutex<Sink>, line: &Line) {
    let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
    if sink.failed {
        return;
    }
    let written = serde_json::to_vec(line)
        .map_err(std::io::Error::from)
        .and_then(|mut bytes| {
            bytes.push(b'\n');
            sink.file.write_all(&bytes)
        });
    if let Err(e) = written {
        sink.failed = true;
        eprintln!("keyrite: the PKCS#11 trace could not be written ({e}); it stops here");
    }
}

/// Makes one call and, when tracing, writes its line: `args` and `out` are only evaluated then.
/// Once SIGINT, SIGTERM or SIGHUP came ([`crate::interrupt`]), a call that would make, use or
/// change anything on the token is refused, with `CKR_FUNCTION_CANCELED`, and not made: only
/// the calls that read (`C_FindObjects`, `C_GetAttributeValue`), `C_CloseSession`,
/// [`TracedSession::destroy_own_object`] and [`TracedSession::destroy_new_object`] of an object
/// the session made are still made.
fn call<T>(
    function: Function,
    args: impl FnOnce() -> Value,
    make: impl FnOnce() -> CkResult<T>,
    out: impl FnOnce(&T) -> Value,
) -> CkResult<T> {
    if crate::interrupt::received()
        && !matches!(
            function,
            Function::FindObjects | Function::GetAttributeValue | Function::CloseSession
        )
    {
        return Err(CkError::Pkcs11(RvError::FunctionCanceled, function));
    }
    call_anyway(function, args, make, out)
}

/// Makes one call, interrupted or not, and when tracing writes its line.
fn call_anyway<T>(
    function: Function,
    args: impl FnOnce() -> Value,
    make: impl FnOnce() -> CkResult<T>,
    out: impl FnOnce(&T) -> Value,
) -> CkResult<T> {
    let Some(sink) = SINK.get() else {
        return make();
    };
    let name = format!("C_{function:?}");
    let start = Instant::now();
    let result = make();
    let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (out, failed_in) = match &result {
        Ok(value) => (Some(out(value)).filter(|v| !v.is_null()), None),
        // cryptoki makes some calls of several: say which one returned the error.
        Err(CkError::Pkcs11(_, function)) => {
            (None, Some(format!("C_{function:?}")).filter(|f| *f != name))
        }
        Err(_) => (None, None),
    };
    let line = Line {
        function: &name,
        args: args(),
        rv: rv(&result),
        us,
        out,
        failed_in,
    };
    write_line(sink, &line);
    result
}

/// One line of the trace, its fields in this order.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "fn")]
    function: &'a str,
    args: Value,
    rv: String,
    us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    out: Option<Value>,
    #[serde(rename = "in", skip_serializing_if = "Option::is_none")]
    failed_in: Option<String>,
}

/// `CKR_OK`, the `CKR_` name of the error, or what cryptoki said when no PKCS#11 return value.
fn rv<T>(result: &CkResult<T>) -> String {
    match result {
        Ok(_) => "CKR_OK".to_owned(),
        Err(CkError::Pkcs11(rv, _)) => ckr_name(*rv).into_owned(),
        Err(other) => format!("cryptoki: {other}"),
    }
}

fn none<T>(_: &T) -> Value {
    Value::Null
}

fn handle(h: &ObjectHandle) -> Value {
    json!(h.handle())
}

fn len(bytes: &[u8]) -> Value {
    json!({ "len": bytes.len() })
}

/// One field of a `Debug` rendering, `name: VALUE`, as a number: the way to read parameters
/// `cryptoki` keeps private (OAEP's MGF and source, GCM's IV length) without `unsafe`.
fn debug_number(debug: &str, name: &str) -> Option<u64> {
    let start = debug.find(&format!("{name}: "))? + name.len() + 2;
    let digits: String = debug[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn mgf_name(value: Option<u64>) -> Value {
    json!(match value {
        Some(1) => "CKG_MGF1_SHA1",
        Some(2) => "CKG_MGF1_SHA256",
        Some(3) => "CKG_MGF1_SHA384",
        Some(4) => "CKG_MGF1_SHA512",
        Some(5) => "CKG_MGF1_SHA224",
        _ => "unknown",
    })
}

fn mechanism_name(mechanism_type: MechanismType) -> String {
    if mechanism_type == KwpMechanism::Kwp.mechanism_type() {
        KwpMechanism::Kwp.name().to_owned()
    } else {
        mechanism_type.to_string()
    }
}

/// A mechanism: its `CKM_` name and its non-secret parameters.
pub fn describe_mechanism(m: &Mechanism) -> Value {
    let mut out = Map::new();
    out.insert("mech".into(), json!(mechanism_name(m.mechanism_type())));
    match m {
        Mechanism::RsaPkcsOaep(params) => {
            let debug = format!("{params:?}");
            out.insert("hash".into(), json!(params.hash_alg().to_string()));
            out.insert(
                "mgf".into(),
                mgf_name(debug_number(&debug, "mgf: PkcsMgfType { val")),
            );
            out.insert(
                "source_len".into(),
                json!(debug_number(&debug, "source_data_len: Ulong { val")),
            );
        }
        Mechanism::RsaPkcsPss(params)
        | Mechanism::Sha1RsaPkcsPss(params)
        | Mechanism::Sha256RsaPkcsPss(params)
        | Mechanism::Sha384RsaPkcsPss(params)
        | Mechanism::Sha512RsaPkcsPss(params) => {
            out.insert("hash".into(), json!(params.hash_alg.to_string()));
            out.insert("mgf".into(), mgf_name(Some(*params.mgf)));
            out.insert("salt_len".into(), json!(u64::from(params.s_len)));
        }
        Mechanism::AesGcm(params) => {
            let debug = format!("{params:?}");
            out.insert("iv_len".into(), json!(debug_number(&debug, "ulIvLen")));
            out.insert("tag_bits".into(), json!(u64::from(params.tag_bits())));
        }
        _ => {}
    }
    Value::Object(out)
}

/// One attribute: its name, and its value where the value is a flag, a class, a key type, a
/// label, an id (hex) or a size; for anything else, its length only.
pub fn describe_attribute(a: &Attribute) -> (String, Value) {
    let value = match a {
        Attribute::AlwaysAuthenticate(b)
        | Attribute::AlwaysSensitive(b)
        | Attribute::Copyable(b)
        | Attribute::Decrypt(b)
        | Attribute::Derive(b)
        | Attribute::Destroyable(b)
        | Attribute::Encrypt(b)
        | Attribute::Extractable(b)
        | Attribute::Local(b)
        | Attribute::Modifiable(b)
        | Attribute::NeverExtractable(b)
        | Attribute::Private(b)
        | Attribute::Sensitive(b)
        | Attribute::Sign(b)
        | Attribute::SignRecover(b)
        | Attribute::Token(b)
        | Attribute::Trusted(b)
        | Attribute::Unwrap(b)
        | Attribute::Verify(b)
        | Attribute::VerifyRecover(b)
        | Attribute::Wrap(b)
        | Attribute::WrapWithTrusted(b) => json!(b),
        Attribute::Class(c) => json!(c.to_string()),
        Attribute::KeyType(k) => json!(k.to_string()),
        Attribute::KeyGenMechanism(m) => json!(mechanism_name(*m)),
        Attribute::Label(l) => json!(String::from_utf8_lossy(l)),
        Attribute::Id(id) => json!(hex::encode(id)),
        Attribute::ModulusBits(n) | Attribute::ValueLen(n) => json!(u64::from(*n)),
        other => json!({ "len": CK_ATTRIBUTE::from(other).ulValueLen }),
    };
    (a.attribute_type().to_string(), value)
}

/// A template, or attributes read back, summarised by [`describe_attribute`].
pub fn describe_attributes(template: &[Attribute]) -> Value {
    Value::Object(template.iter().map(describe_attribute).collect())
}

fn describe_attribute_types(types: &[AttributeType]) -> Value {
    json!(types.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn user_name(user: UserType) -> Value {
    json!(match user {
        UserType::So => "CKU_SO".to_owned(),
        UserType::User => "CKU_USER".to_owned(),
        UserType::ContextSpecific => "CKU_CONTEXT_SPECIFIC".to_owned(),
        UserType::VendorExtension(n) => format!("vendor-defined user type {n:#x}"),
    })
}

fn token_info(info: &TokenInfo) -> Value {
    json!({
        "label": info.label(),
        "manufacturer": info.manufacturer_id(),
        "model": info.model(),
        "serial": info.serial_number(),
        "firmware": info.firmware_version().to_string(),
        "hardware": info.hardware_version().to_string(),
        "initialized": info.token_initialized(),
        "login_required": info.login_required(),
    })
}

fn mechanism_info(info: &MechanismInfo) -> Value {
    json!({
        "min_key_size": info.min_key_size(),
        "max_key_size": info.max_key_size(),
        "hardware": info.hardware(),
        "encrypt": info.encrypt(),
        "decrypt": info.decrypt(),
        "digest": info.digest(),
        "sign": info.sign(),
        "verify": info.verify(),
        "generate": info.generate(),
        "generate_key_pair": info.generate_key_pair(),
        "wrap": info.wrap(),
        "unwrap": info.unwrap(),
        "derive": info.derive(),
    })
}

/// A `cryptoki` context whose calls are traced.
#[derive(Debug, Clone)]
pub struct TracedContext {
    ctx: Pkcs11,
    ledger: Arc<Ledger>,
}

/// The session objects the application's sessions can see, as [`SessionObject::make`] needs
/// them to find what a failed `C_CreateObject` left behind (SoftHSM2 2.6.1 leaves a half-made
/// object): every object the module's sessions make is added, every one destroyed, or whose
/// session closed, taken away, and a first scan of the session objects (`CKA_TOKEN` false)
/// adds those already there. So a make needs no scan of its own before it, only one after a
/// failure: at a scan's cost, on SoftHSM2, of every object on the token, a ceremony checking a
/// thousand wraps made two thousand scans of up to a thousand session objects each.
///
/// While a session makes an object, from the call to its entry here, no failed make's scan
/// runs (`making`): another session's object, made but not yet added, is never taken for a
/// leftover. A failed make's scan takes for its leftover any session object of its slot not in
/// the ledger: on a token that shows one application another's session objects, one another
/// process made after the first scan would be taken for it too.
///
/// [`SessionObject::make`]: super::object::SessionObject::make
#[derive(Debug, Default)]
struct Ledger {
    /// The objects known, and whether the first scan was taken.
    known: Mutex<(Vec<Known>, bool)>,
    /// Held shared by a session from a call that makes objects to their entry, and alone by a
    /// failed make's scan for what it left.
    making: std::sync::RwLock<()>,
    /// The last session given a number.
    sessions: std::sync::atomic::AtomicU64,
}

/// An object of the ledger: its slot, its handle, and the session that made it (`None`: found
/// by the first scan).
#[derive(Debug)]
struct Known {
    slot: u64,
    handle: ObjectHandle,
    by: Option<u64>,
}

impl Known {
    fn is(&self, slot: u64, handle: ObjectHandle) -> bool {
        self.slot == slot && self.handle == handle
    }
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, (Vec<Known>, bool)> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A number for a new session, its own for as long as the module is loaded.
    fn session(&self) -> u64 {
        self.sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes away an object of `slot` destroyed: a token may give its number to another.
    fn remove(&self, slot: u64, gone: ObjectHandle) {
        self.lock().0.retain(|k| !k.is(slot, gone));
    }

    /// Takes away the objects of session `by`, closed: its session objects went with it.
    fn closed(&self, by: u64) {
        self.lock().0.retain(|k| k.by != Some(by));
    }
}

impl TracedContext {
    /// Wraps a loaded (not yet initialised) module.
    pub fn new(ctx: Pkcs11) -> Self {
        TracedContext {
            ctx,
            ledger: Arc::default(),
        }
    }

    /// `C_Initialize`.
    pub fn initialize(&self, init_args: CInitializeArgs) -> CkResult<()> {
        let described = format!("{init_args:?}");
        call(
            Function::Initialize,
            || json!({ "init_args": described }),
            || self.ctx.initialize(init_args),
            none,
        )
    }

    /// `C_GetInfo`.
    pub fn get_library_info(&self) -> CkResult<cryptoki::context::Info> {
        call(
            Function::GetInfo,
            || json!({}),
            || self.ctx.get_library_info(),
            |info| {
                json!({
                    "manufacturer": info.manufacturer_id(),
                    "library": info.library_description(),
                    "library_version": info.library_version().to_string(),
                    "cryptoki_version": info.cryptoki_version().to_string(),
                })
            },
        )
    }

    /// `C_GetSlotList` with `tokenPresent`.
    pub fn get_slots_with_token(&self) -> CkResult<Vec<Slot>> {
        call(
            Function::GetSlotList,
            || json!({ "token_present": true }),
            || self.ctx.get_slots_with_token(),
            |slots| json!({ "slots": slots.iter().map(Slot::id).collect::<Vec<_>>() }),
        )
    }

    /// `C_GetTokenInfo`.
    pub fn get_token_info(&self, slot: Slot) -> CkResult<TokenInfo> {
        call(
            Function::GetTokenInfo,
            || json!({ "slot": slot.id() }),
            || self.ctx.get_token_info(slot),
            token_info,
        )
    }

    /// `C_GetMechanismList`.
    pub fn get_mechanism_list(&self, slot: Slot) -> CkResult<Vec<MechanismType>> {
        call(
            Function::GetMechanismList,
            || json!({ "slot": slot.id() }),
            || self.ctx.get_mechanism_list(slot),
            |list| json!({ "mechs": list.iter().map(|m| mechanism_name(*m)).collect::<Vec<_>>() }),
        )
    }

    /// `C_GetMechanismInfo`.
    pub fn get_mechanism_info(&self, slot: Slot, type_: MechanismType) -> CkResult<MechanismInfo> {
        call(
            Function::GetMechanismInfo,
            || json!({ "slot": slot.id(), "mech": mechanism_name(type_) }),
            || self.ctx.get_mechanism_info(slot, type_),
            mechanism_info,
        )
    }

    /// `C_OpenSession`, read-write; refused once SIGINT, SIGTERM or SIGHUP came.
    pub fn open_rw_session(&self, slot: Slot) -> CkResult<TracedSession> {
        let Some(open) = crate::interrupt::Session::opening() else {
            return Err(CkError::Pkcs11(
                RvError::FunctionCanceled,
                Function::OpenSession,
            ));
        };
        call(
            Function::OpenSession,
            || json!({ "slot": slot.id(), "rw": true }),
            || self.ctx.open_rw_session(slot),
            |session| json!({ "session": session.handle() }),
        )
        .map(|session| TracedSession {
            session,
            made: Made {
                ledger: Arc::clone(&self.ledger),
                session: self.ledger.session(),
                slot: slot.id(),
            },
            _open: open,
        })
    }
}

/// A `cryptoki` session whose calls are traced; the session is closed when dropped, as
/// `cryptoki`'s is.
#[derive(Debug)]
pub struct TracedSession {
    session: Session,
    /// The session's place in the module's ledger, which knows the objects it made (created,
    /// generated, unwrapped) and nobody destroyed: the only ones
    /// [`TracedSession::destroy_new_object`] destroys once a signal came.
    made: Made,
    /// Dropped after `session` (fields drop in order): a signal that came while the session
    /// was open ends the process once it is closed.
    _open: crate::interrupt::Session,
}

/// A session's place in the module's [`Ledger`].
#[derive(Debug)]
struct Made {
    ledger: Arc<Ledger>,
    /// The session's number in the ledger.
    session: u64,
    /// The session's slot.
    slot: u64,
}

impl Drop for Made {
    /// Dropped after the session: its objects go from the ledger, its session objects having
    /// gone with it.
    fn drop(&mut self) {
        self.ledger.closed(self.session);
    }
}

impl TracedSession {
    fn args(&self, mut args: Value) -> Value {
        args["session"] = json!(self.session.handle());
        args
    }

    /// Makes a call that makes objects and notes them, for
    /// [`TracedSession::destroy_new_object`] and in the module's [`Ledger`].
    fn note_made<T>(
        &self,
        make: impl FnOnce() -> CkResult<T>,
        handles: impl Fn(&T) -> Vec<ObjectHandle>,
    ) -> CkResult<T> {
        let ledger = &self.made.ledger;
        let _making = ledger.making.read().unwrap_or_else(PoisonError::into_inner);
        let made = make();
        if let Ok(value) = &made {
            let handles = handles(value);
            ledger
                .lock()
                .0
                .extend(handles.into_iter().map(|handle| Known {
                    slot: self.made.slot,
                    handle,
                    by: Some(self.made.session),
                }));
        }
        made
    }

    /// Takes the ledger's first scan of the session objects (see [`Ledger`]), if no session
    /// of the module has yet: before the first call that may leave a half-made object.
    pub(crate) fn start_ledger(&self) -> CkResult<()> {
        let ledger = &self.made.ledger;
        if ledger.lock().1 {
            return Ok(());
        }
        // Alone: no object is being made meanwhile, so each is found or already known.
        let _alone = ledger
            .making
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if ledger.lock().1 {
            return Ok(());
        }
        let found = self.find_objects(&[Attribute::Token(false)])?;
        let mut known = ledger.lock();
        for handle in found {
            if !known.0.iter().any(|k| k.is(self.made.slot, handle)) {
                known.0.push(Known {
                    slot: self.made.slot,
                    handle,
                    by: None,
                });
            }
        }
        known.1 = true;
        Ok(())
    }

    /// The session objects of the session's slot that no session of the module made, once the
    /// ledger is started: what a failed call left behind.
    pub(crate) fn left_behind(&self) -> CkResult<Vec<ObjectHandle>> {
        let ledger = &self.made.ledger;
        // Alone: an object another session is making is in the ledger before the scan.
        let _alone = ledger
            .making
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if !ledger.lock().1 {
            return Ok(Vec::new());
        }
        let found = self.find_objects(&[Attribute::Token(false)])?;
        let known = ledger.lock();
        Ok(found
            .into_iter()
            .filter(|h| !known.0.iter().any(|k| k.is(self.made.slot, *h)))
            .collect())
    }

    /// `C_Login`: the trace names the user type only.
    pub fn login(&self, user_type: UserType, pin: Option<&AuthPin>) -> CkResult<()> {
        call(
            Function::Login,
            || self.args(json!({ "user": user_name(user_type) })),
            || self.session.login(user_type, pin),
            none,
        )
    }

    /// `C_FindObjectsInit`, `C_FindObjects` and `C_FindObjectsFinal`.
    pub fn find_objects(&self, template: &[Attribute]) -> CkResult<Vec<ObjectHandle>> {
        call(
            Function::FindObjects,
            || self.args(json!({ "template": describe_attributes(template) })),
            || self.session.find_objects(template),
            |found| json!({ "handles": found.iter().map(ObjectHandle::handle).collect::<Vec<_>>() }),
        )
    }

    /// `C_GetAttributeValue`.
    pub fn get_attributes(
        &self,
        object: ObjectHandle,
        attribute_types: &[AttributeType],
    ) -> CkResult<Vec<Attribute>> {
        call(
            Function::GetAttributeValue,
            || {
                self.args(json!({
                    "object": handle(&object),
                    "types": describe_attribute_types(attribute_types),
                }))
            },
            || self.session.get_attributes(object, attribute_types),
            |read| describe_attributes(read),
        )
    }

    /// `C_CreateObject`.
    pub fn create_object(&self, template: &[Attribute]) -> CkResult<ObjectHandle> {
        self.note_made(
            || {
                call(
                    Function::CreateObject,
                    || self.args(json!({ "template": describe_attributes(template) })),
                    || self.session.create_object(template),
                    handle,
                )
            },
            |h| vec![*h],
        )
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(&self, object: ObjectHandle) -> CkResult<()> {
        self.destroy(object, false)
    }

    /// `C_DestroyObject` of an object keyrite made for itself
    /// ([`super::object::SessionObject`]): made even once SIGINT, SIGTERM or SIGHUP came.
    pub(crate) fn destroy_own_object(&self, object: ObjectHandle) -> CkResult<()> {
        self.destroy(object, true)
    }

    /// `C_DestroyObject` of an object this session made — a key the command generated or
    /// unwrapped, which its failure path destroys (`wrap`, `restore`, a signer or backup key
    /// refused): made even once SIGINT, SIGTERM or SIGHUP came, so that an interrupt ends the
    /// command as its failure does. Any other object (a key that existed before, as a rewrap's
    /// or a destroy step's) is refused then, as by [`TracedSession::destroy_object`].
    pub(crate) fn destroy_new_object(&self, object: ObjectHandle) -> CkResult<()> {
        let new = self
            .made
            .ledger
            .lock()
            .0
            .iter()
            .any(|k| k.is(self.made.slot, object) && k.by == Some(self.made.session));
        self.destroy(object, new)
    }

    /// `C_DestroyObject`, made once a signal came only if `anyway`; a handle destroyed is no
    /// longer one the session made (a token may give the number to another object).
    fn destroy(&self, object: ObjectHandle, anyway: bool) -> CkResult<()> {
        let args = || self.args(json!({ "object": handle(&object) }));
        let destroy = || self.session.destroy_object(object);
        let destroyed = if anyway {
            call_anyway(Function::DestroyObject, args, destroy, none)
        } else {
            call(Function::DestroyObject, args, destroy, none)
        };
        if destroyed.is_ok() {
            self.made.ledger.remove(self.made.slot, object);
        }
        destroyed
    }

    /// `C_GenerateKey`.
    pub fn generate_key(
        &self,
        mechanism: &Mechanism,
        template: &[Attribute],
    ) -> CkResult<ObjectHandle> {
        self.note_made(
            || {
                call(
                    Function::GenerateKey,
                    || {
                        self.args(json!({
                            "mechanism": describe_mechanism(mechanism),
                            "template": describe_attributes(template),
                        }))
                    },
                    || self.session.generate_key(mechanism, template),
                    handle,
                )
            },
            |h| vec![*h],
        )
    }

    /// `C_GenerateKeyPair`.
    pub fn generate_key_pair(
        &self,
        mechanism: &Mechanism,
        pub_key_template: &[Attribute],
        priv_key_template: &[Attribute],
    ) -> CkResult<(ObjectHandle, ObjectHandle)> {
        self.note_made(
            || call(
                Function::GenerateKeyPair,
                || {
                    self.args(json!({
                        "mechanism": describe_mechanism(mechanism),
                        "public_template": describe_attributes(pub_key_template),
                        "private_template": describe_attributes(priv_key_template),
                    }))
                },
                || {
                    self.session
                        .generate_key_pair(mechanism, pub_key_template, priv_key_template)
                },
                |(public, private)| json!({ "public": handle(public), "private": handle(private) }),
            ),
            |(public, private)| vec![*public, *private],
        )
    }

    /// `C_WrapKey`: the trace has the wrapped key's length, never its bytes.
    pub fn wrap_key(
        &self,
        mechanism: &Mechanism,
        wrapping_key: ObjectHandle,
        key: ObjectHandle,
    ) -> CkResult<Vec<u8>> {
        call(
            Function::WrapKey,
            || {
                self.args(json!({
                    "mechanism": describe_mechanism(mechanism),
                    "wrapping_key": handle(&wrapping_key),
                    "key": handle(&key),
                }))
            },
            || self.session.wrap_key(mechanism, wrapping_key, key),
            |wrapped| len(wrapped),
        )
    }

    /// `C_UnwrapKey`: the trace has the wrapped key's length, never its bytes.
    pub fn unwrap_key(
        &self,
        mechanism: &Mechanism,
        unwrapping_key: ObjectHandle,
        wrapped_key: &[u8],
        template: &[Attribute],
    ) -> CkResult<ObjectHandle> {
        self.note_made(
            || {
                call(
                    Function::UnwrapKey,
                    || {
                        self.args(json!({
                            "mechanism": describe_mechanism(mechanism),
                            "unwrapping_key": handle(&unwrapping_key),
                            "wrapped_key": len(wrapped_key),
                            "template": describe_attributes(template),
                        }))
                    },
                    || {
                        self.session
                            .unwrap_key(mechanism, unwrapping_key, wrapped_key, template)
                    },
                    handle,
                )
            },
            |h| vec![*h],
        )
    }

    /// `C_SignInit` and `C_Sign`: the trace has the data's and the signature's lengths.
    pub fn sign(&self, mechanism: &Mechanism, key: ObjectHandle, data: &[u8]) -> CkResult<Vec<u8>> {
        call(
            Function::Sign,
            || {
                self.args(json!({
                    "mechanism": describe_mechanism(mechanism),
                    "key": handle(&key),
                    "data": len(data),
                }))
            },
            || self.session.sign(mechanism, key, data),
            |signature| len(signature),
        )
    }

    /// `C_DigestInit`.
    pub fn digest_init(&self, m: &Mechanism) -> CkResult<()> {
        call(
            Function::DigestInit,
            || self.args(json!({ "mechanism": describe_mechanism(m) })),
            || self.session.digest_init(m),
            none,
        )
    }

    /// `C_DigestKey`.
    pub fn digest_key(&self, key: ObjectHandle) -> CkResult<()> {
        call(
            Function::DigestKey,
            || self.args(json!({ "key": handle(&key) })),
            || self.session.digest_key(key),
            none,
        )
    }

    /// `C_DigestFinal`: the trace has the digest's length, never its bytes.
    pub fn digest_final(&self) -> CkResult<Vec<u8>> {
        call(
            Function::DigestFinal,
            || self.args(json!({})),
            || self.session.digest_final(),
            |digest| len(digest),
        )
    }

    /// `C_GenerateRandom`: the trace has the length, never the bytes.
    pub fn generate_random_vec(&self, random_len: u32) -> CkResult<Vec<u8>> {
        call(
            Function::GenerateRandom,
            || self.args(json!({ "len": random_len })),
            || self.session.generate_random_vec(random_len),
            |random| len(random),
        )
    }

    /// `C_CloseSession`.
    pub fn close(self) -> CkResult<()> {
        let session = self.session.handle();
        call(
            Function::CloseSession,
            || json!({ "session": session }),
            || self.session.close(),
            none,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
    use cryptoki::object::{KeyType, ObjectClass};

    use super::*;

    #[test]
    fn a_value_attribute_shows_its_length_only() {
        let secret = vec![0x5a; 32];
        let (name, value) = describe_attribute(&Attribute::Value(secret.clone()));
        assert_eq!(name, "CKA_VALUE");
        assert_eq!(value, json!({ "len": 32 }));
        let template = describe_attributes(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Sensitive(true),
            Attribute::Label(b"ceremony-key".to_vec()),
            Attribute::Id(vec![0xab, 0x01]),
            Attribute::ValueLen(32u64.into()),
            Attribute::Value(secret.clone()),
            Attribute::Modulus(vec![0xc3; 256]),
        ]);
        assert_eq!(
            template,
            json!({
                "CKA_CLASS": "CKO_SECRET_KEY",
                "CKA_KEY_TYPE": "CKK_AES",
                "CKA_SENSITIVE": true,
                "CKA_LABEL": "ceremony-key",
                "CKA_ID": "ab01",
                "CKA_VALUE_LEN": 32,
                "CKA_VALUE": { "len": 32 },
                "CKA_MODULUS": { "len": 256 },
            })
        );
        let text = template.to_string();
        assert!(!text.contains(&hex::encode(&secret)));
        assert!(!text.contains("90, 90"));
    }

    #[test]
    fn a_failed_write_stops_the_trace_once() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let sink = Mutex::new(Sink {
            file,
            failed: false,
        });
        let line = Line {
            function: "C_Login",
            args: json!({}),
            rv: "CKR_OK".to_owned(),
            us: 1,
            out: None,
            failed_in: None,
        };
        write_line(&sink, &line);
        assert!(sink.lock().unwrap().failed);
        write_line(&sink, &line);
        assert!(sink.lock().unwrap().failed);
    }

    #[test]
    fn mechanisms_show_their_non_secret_parameters() {
        let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::empty(),
        ));
        assert_eq!(
            describe_mechanism(&oaep),
            json!({
                "mech": "CKM_RSA_PKCS_OAEP",
                "hash": "CKM_SHA256",
                "mgf": "CKG_MGF1_SHA256",
                "source_len": 0,
            })
        );
        let pss = Mechanism::RsaPkcsPss(cryptoki::mechanism::rsa::PkcsPssParams {
            hash_alg: MechanismType::SHA256,
            mgf: PkcsMgfType::MGF1_SHA256,
            s_len: 32.into(),
        });
        assert_eq!(
            describe_mechanism(&pss),
            json!({
                "mech": "CKM_RSA_PKCS_PSS",
                "hash": "CKM_SHA256",
                "mgf": "CKG_MGF1_SHA256",
                "salt_len": 32,
            })
        );
        let mut iv = [7u8; 12];
        let gcm = Mechanism::AesGcm(
            cryptoki::mechanism::aead::GcmParams::new(&mut iv, &[], 128.into()).unwrap(),
        );
        assert_eq!(
            describe_mechanism(&gcm),
            json!({ "mech": "CKM_AES_GCM", "iv_len": 12, "tag_bits": 128 })
        );
        assert_eq!(
            describe_mechanism(&KwpMechanism::Kwp.mechanism()),
            json!({ "mech": "CKM_AES_KEY_WRAP_KWP" })
        );
    }
}
