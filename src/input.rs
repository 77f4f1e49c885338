//! Input files from outside, read whole but never past a size limit, so a huge or endless file
//! (`/dev/zero` named as a policy's custodians file, a parameters file gone wrong) ends in an
//! error that says the limit instead of exhausting memory.
//!
//! It trusts nothing about the file: the limit holds whatever the file claims to be (a device,
//! a file that grows while it is read).

use std::io::Read as _;
use std::path::Path;

/// The limit for a small input: import parameters, a policy and its custodians file, a plan and
/// the files it names, an approval or witness signature, a public key, an output file checked by
/// `verify`. Real ones are a few KB.
pub(crate) const MAX_SMALL: u64 = 1 << 20;

/// The limit for a transcript that `ceremony run --resume-from` reads whole. A ceremony's
/// transcript is tens of KB; its longest line holds the plan's text, itself at most
/// [`MAX_SMALL`].
pub(crate) const MAX_TRANSCRIPT: u64 = 16 << 20;

/// The limit for one line of a transcript, which `verify` and `witness` read line by line, so a
/// transcript may have any number of lines.
pub(crate) const MAX_TRANSCRIPT_LINE: u64 = 16 << 20;

/// A limit for people: `1 MiB`, `16 MiB`, `1024 bytes`.
pub(crate) fn describe(limit: u64) -> String {
    if limit >= 1 << 20 && limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    }
}

/// Reads the file at `path`, refusing it if it holds more than `limit` bytes: the error (of
/// kind `FileTooLarge`) says the limit. A file that makes it wait (a pipe) does not hold up
/// SIGINT, SIGTERM or SIGHUP ([`crate::interrupt::reading`]).
pub(crate) fn read(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    crate::interrupt::reading(|| read_limited(std::fs::File::open(path)?, limit))
}

/// Reads `file` to its end, refusing it if it holds more than `limit` bytes.
fn read_limited(file: std::fs::File, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {}, the most keyrite reads from such a file",
                describe(limit)
            ),
        ));
    }
    Ok(bytes)
}

/// Reads the regular file at `path` as [`read`] does, but never through a symlink (`O_NOFOLLOW`)
/// and never waiting: it is opened `O_NONBLOCK`, so a FIFO or a device in its place is refused
/// (kind `InvalidInput`) instead of read.
pub(crate) fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let file = std::fs::File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    read_limited(file, limit)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused_with_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; 1024]).unwrap();
        assert_eq!(read(&path, 1024).unwrap().len(), 1024);
        let e = read(&path, 1023).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(
            e.to_string(),
            "it is larger than 1023 bytes, the most keyrite reads from such a file"
        );
    }

    #[test]
    fn an_endless_file_stops_at_the_limit() {
        let e = read(Path::new("/dev/zero"), MAX_SMALL).unwrap_err();
        assert_eq!(
            e.to_string(),
            "it is larger than 1 MiB, the most keyrite reads from such a file"
        );
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(describe(MAX_SMALL), "1 MiB");
        assert_eq!(describe(MAX_TRANSCRIPT), "16 MiB");
        assert_eq!(describe(1024), "1024 bytes");
    }
}
