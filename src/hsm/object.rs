//! The objects keyrite makes for itself — the imported KMS public key, ephemeral AES keys,
//! the trials' and the known-answer test's keys — each held by a [`SessionObject`] that
//! destroys it on every path: explicitly on success ([`SessionObject::destroy`],
//! [`SessionObject::finish`]), where a failure is an error naming the object, and, when an error
//! path drops it first, by `Drop`, best-effort, so the first error is the one reported. A token
//! may keep session objects beyond the session (tpm2-pkcs11 persists them), so closing the
//! session is not enough. They are destroyed even once SIGINT, SIGTERM or SIGHUP came, when
//! every other call that changes the token is refused but the destruction of a key the same
//! session made ([`crate::interrupt`]), and the process waits for that before it ends.

use cryptoki::object::ObjectHandle;

use super::trace::TracedSession;
use super::{Error, Pkcs11Failure};

/// An object keyrite made for itself, destroyed when its work is done: a session object, but
/// for the token key a backup key's trial unwraps into.
#[derive(Debug)]
pub struct SessionObject<'s> {
    session: &'s TracedSession,
    handle: ObjectHandle,
    what: &'static str,
    live: bool,
}

impl<'s> SessionObject<'s> {
    /// Makes a session object with `make` (`C_CreateObject`, `C_GenerateKey`) and holds it.
    /// When `make` fails, every session object no session of the module made is destroyed,
    /// best-effort: SoftHSM2 2.6.1 leaves a half-made one behind a refused `C_CreateObject`
    /// (the session's ledger, [`TracedSession::start_ledger`], knows the others).
    pub(crate) fn make(
        session: &'s TracedSession,
        what: &'static str,
        make: impl FnOnce(&TracedSession) -> cryptoki::error::Result<ObjectHandle>,
    ) -> cryptoki::error::Result<Self> {
        let started = session.start_ledger();
        match make(session) {
            Ok(handle) => Ok(SessionObject::new(session, handle, what)),
            Err(e) => {
                if started.is_ok()
                    && let Ok(left) = session.left_behind()
                {
                    for handle in left {
                        drop(SessionObject::new(session, handle, what));
                    }
                }
                Err(e)
            }
        }
    }

    /// Holds `handle`, just made in `session`; `what` names it in an error, as "the imported
    /// KMS public key".
    pub(crate) fn new(
        session: &'s TracedSession,
        handle: ObjectHandle,
        what: &'static str,
    ) -> Self {
        crate::interrupt::object_made();
        crate::fault::point("session-object");
        SessionObject {
            session,
            handle,
            what,
            live: true,
        }
    }

    /// The object's handle, for the calls that use it.
    pub fn handle(&self) -> ObjectHandle {
        self.handle
    }

    /// Destroys the object: a failure is an error naming it.
    pub fn destroy(mut self) -> Result<(), Error> {
        self.release().map_err(|e| Error::ObjectNotDestroyed {
            what: self.what,
            failure: Pkcs11Failure::from_error(e),
        })
    }

    /// Destroys the object if it is still there.
    fn release(&mut self) -> cryptoki::error::Result<()> {
        if !self.live {
            return Ok(());
        }
        self.live = false;
        let destroyed = self.session.destroy_own_object(self.handle);
        crate::interrupt::object_released(destroyed.is_ok());
        destroyed
    }

    /// Ends the object's work with `result`: on success it is destroyed, and a failure to
    /// destroy it is the error; on failure it is destroyed best-effort and `result`'s error is
    /// the one returned.
    pub fn finish<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        match result {
            Ok(value) => self.destroy().map(|()| value),
            Err(e) => Err(e),
        }
    }
}

impl Drop for SessionObject<'_> {
    fn drop(&mut self) {
        // Best-effort, on an error path: the error that led here is the one reported.
        let _ = self.release();
    }
}
