//! p11-kit remoting in front of a test's token: the family `KEYRITE_TEST_FAMILY` selects.
//!
//! With `KEYRITE_TEST_FAMILY=p11kit-softhsm2` (or `p11kit-kryoptic`), every token of that kind a
//! test makes is served by its own `p11-kit server`, on a Unix socket in a temporary directory of
//! the server's own (the test's directory holds only what the test made there: tests read it),
//! with the token's `SOFTHSM2_CONF` (or `KRYOPTIC_CONF`) in the server's environment; keyrite
//! loads `p11-kit-client.so`, which finds the socket through `P11_KIT_SERVER_ADDRESS`: what a
//! network HSM, or a token forwarded into a container, looks like. The independent checks
//! (PyKCS11, `pkcs11-tool`) keep talking to the token's own module, in a session of their own.
//! The server is killed by its PID when the token is dropped. `scripts/test` runs each family on
//! the tests it can run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Kind;

/// Debian's p11-kit client module (package p11-kit-modules; `scripts/test` installs it).
pub const P11KIT_CLIENT: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so";

/// The environment variable that selects a family of tokens for the run.
pub const FAMILY_ENV: &str = "KEYRITE_TEST_FAMILY";

/// The kind of token this run serves through p11-kit (`None`: tokens are loaded directly).
pub fn remoted_kind() -> Option<Kind> {
    match std::env::var(FAMILY_ENV).as_deref() {
        Err(std::env::VarError::NotPresent) | Ok("") => None,
        Ok("p11kit-softhsm2") => Some(Kind::SoftHsm2),
        Ok("p11kit-kryoptic") => Some(Kind::Kryoptic),
        other => panic!("{FAMILY_ENV} is {other:?}: p11kit-softhsm2, p11kit-kryoptic or unset"),
    }
}

/// A `p11-kit server` serving every token of one module, killed by its PID on drop.
pub struct P11KitServer {
    child: Child,
    /// The socket's directory (the server's log is there too), removed after the server is
    /// killed.
    pub dir: tempfile::TempDir,
    /// The value of `P11_KIT_SERVER_ADDRESS` for its clients.
    pub address: String,
}

impl P11KitServer {
    /// Starts a server for `module`, with `conf_env=conf`; returns once its socket exists.
    pub fn start(module: &Path, conf_env: &str, conf: &Path) -> Self {
        assert!(
            Path::new(P11KIT_CLIENT).exists(),
            "{P11KIT_CLIENT} is missing: scripts/test installs p11-kit-modules"
        );
        let tmp = tempfile::Builder::new()
            .prefix("keyrite-p11kit")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        let socket = dir.join("server.sock");
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        // -f: the server stays this child, so its PID is the one to kill; "pkcs11:" exports
        // every token of the module.
        let mut child = Command::new("p11-kit")
            .args(["server", "-f", "-n"])
            .arg(&socket)
            .arg("--provider")
            .arg(module)
            .arg("pkcs11:")
            .env(conf_env, conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run p11-kit server: {e} (scripts/test installs p11-kit)")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            let log = || std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "p11-kit server exited ({status}) before making its socket: {}",
                    log()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("p11-kit server made no socket in 10 s: {}", log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let address = format!("unix:path={}", socket.display());
        P11KitServer {
            child,
            dir: tmp,
            address,
        }
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for P11KitServer {
    fn drop(&mut self) {
        // By its PID (SIGKILL), then reaped: no server outlives its test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
