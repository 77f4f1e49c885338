//! Output directories that appear whole or not at all (DESIGN.md, invariant 5).
//!
//! A directory is built under a temporary name beside its final place, every file created new;
//! then its files and the directory are made durable (one output: each fsynced, concurrently, so
//! the file system commits them together rather than one after another; a ceremony's batch of
//! outputs: one `syncfs` of their file system, see [`sync_round`]), it is moved into place with `renameat2(RENAME_NOREPLACE)` — a
//! plain `rename` would silently replace an empty directory that appeared meanwhile — and the
//! parent fsynced (once for all the outputs of a round that share it). If anything fails before
//! the move, the temporary directory is removed.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags, renameat_with};

/// Why an output directory could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The output path already exists.
    #[error("{} already exists; keyrite never replaces an output", path.display())]
    Exists {
        /// The path.
        path: PathBuf,
    },
    /// The directory the output goes into does not exist.
    #[error("the directory {} for the output does not exist", path.display())]
    NoParent {
        /// The parent directory.
        path: PathBuf,
    },
    /// The directory the output goes into cannot be written.
    #[error("the directory {} for the output is not writable: {source}", path.display())]
    NotWritable {
        /// The parent directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file system of the output is (nearly) full.
    #[error(
        "the file system of {} has {free} bytes free; keyrite wants at least {MIN_FREE} before it writes outputs",
        path.display()
    )]
    NoRoom {
        /// The parent directory.
        path: PathBuf,
        /// The bytes available to an unprivileged writer.
        free: u64,
    },
    /// A file system call failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A thread syncing a file panicked.
    #[error("cannot sync {}: the thread syncing it panicked", path.display())]
    SyncPanicked {
        /// The file.
        path: PathBuf,
    },
}

impl Error {
    /// Whether this is a usage error (exit 2): the output path named exists, or its directory
    /// does not or is not writable. A write that fails on the way is not.
    pub(crate) fn is_usage(&self) -> bool {
        match self {
            Error::Exists { .. } | Error::NoParent { .. } | Error::NotWritable { .. } => true,
            Error::NoRoom { .. } | Error::Io { .. } | Error::SyncPanicked { .. } => false,
        }
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::Io {
        action,
        path: path.to_path_buf(),
        source: e,
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The room an output's file system must have before keyrite writes (outputs are a few KB; a
/// file system this full is refused before a key is generated rather than half-way through).
pub const MIN_FREE: u64 = 1 << 20;

/// Checks, before any work, that `path` does not exist, and its parent is a directory keyrite
/// can write on a file system with room.
pub fn check_absent(path: &Path) -> Result<(), Error> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(Error::Exists {
            path: path.to_path_buf(),
        });
    }
    let parent = parent_of(path);
    if !parent.is_dir() {
        return Err(Error::NoParent { path: parent });
    }
    rustix::fs::access(&parent, rustix::fs::Access::WRITE_OK).map_err(|e| Error::NotWritable {
        path: parent.clone(),
        source: std::io::Error::from(e),
    })?;
    let stat = rustix::fs::statvfs(&parent).map_err(|e| Error::Io {
        action: "cannot read the file system of",
        path: parent.clone(),
        source: std::io::Error::from(e),
    })?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    if free < MIN_FREE {
        return Err(Error::NoRoom { path: parent, free });
    }
    Ok(())
}

/// Writes one file, created new: a temporary file in the same directory, fsynced, moved into
/// place with a no-clobber rename, then the directory fsynced.
pub fn write_new_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    check_absent(path)?;
    let parent = parent_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.keyrite-"))
        .tempfile_in(&parent)
        .map_err(io("cannot create a temporary file in", &parent))?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.write_all(contents)
        .map_err(io("cannot write", &tmp_path))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io("cannot set permissions of", &tmp_path))?;
    tmp.as_file()
        .sync_all()
        .map_err(io("cannot sync", &tmp_path))?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io("cannot move the output into", path)(e.error)
        }
    })?;
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", &parent))
}

/// An output directory being built under a temporary name.
#[derive(Debug)]
pub struct StagedDir {
    tmp: tempfile::TempDir,
    /// The temporary directory, opened before any file in it was written: an error writing
    /// them back is reported to a `syncfs` through it (Linux samples a file system's write
    /// errors when a descriptor is opened).
    dir: File,
    /// When the directory was made: the earliest of a round is the one to `syncfs` through.
    made: std::time::Instant,
    target: PathBuf,
    /// The files written, still open: [`StagedDir::commit`] fsyncs them.
    files: Vec<(PathBuf, File)>,
}

impl StagedDir {
    /// Starts a directory that will become `target`.
    pub fn new(target: &Path) -> Result<Self, Error> {
        check_absent(target)?;
        let parent = parent_of(target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.keyrite-"))
            .tempdir_in(&parent)
            .map_err(io("cannot create a temporary directory in", &parent))?;
        let dir = File::open(tmp.path()).map_err(io("cannot open", tmp.path()))?;
        // Once it is open: the directory made earliest by this clock was opened before it.
        let made = std::time::Instant::now();
        Ok(StagedDir {
            tmp,
            dir,
            made,
            target: target.to_path_buf(),
            files: Vec::new(),
        })
    }

    /// Writes one file, created new; [`StagedDir::commit`] makes it durable.
    pub fn write(&mut self, name: &str, contents: &[u8], executable: bool) -> Result<(), Error> {
        let path = self.tmp.path().join(name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if executable { 0o755 } else { 0o644 })
            .open(&path)
            .map_err(io("cannot create", &path))?;
        file.write_all(contents)
            .map_err(io("cannot write", &path))?;
        crate::fault::point("output-file");
        self.files.push((path, file));
        Ok(())
    }

    /// Makes every file and the directory durable, then moves it into place without replacing
    /// anything, and makes the move durable.
    ///
    /// Once the move has succeeded the output exists and this cannot fail: a failure to fsync
    /// the parent is returned as a warning beside the path, since the caller must then keep
    /// whatever the output refers to.
    pub fn commit(self) -> Result<(PathBuf, Option<String>), Error> {
        self.commit_with(|| Ok(()))
    }

    /// [`StagedDir::commit`], with `also` run in the same round as the fsyncs of the files and
    /// the directory: the caller makes durable there what must be durable before the output
    /// appears (the transcript line announcing it). If `also` fails, nothing is moved.
    pub fn commit_with(
        self,
        also: impl FnOnce() -> Result<(), Error> + Send,
    ) -> Result<(PathBuf, Option<String>), Error> {
        let staged = [self];
        sync_round(&staged, also)?;
        let [dir] = staged;
        let target = dir.move_into_place()?;
        let warning = sync_parents([target.as_path()])
            .into_iter()
            .next()
            .flatten();
        Ok((target, warning))
    }

    /// The path the directory moves to.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the directory, made durable by [`sync_round`], into place without replacing
    /// anything; the move is durable once [`sync_parents`] has fsynced its parent.
    pub fn move_into_place(self) -> Result<PathBuf, Error> {
        match renameat_with(
            CWD,
            self.tmp.path(),
            CWD,
            &self.target,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                return Err(Error::Exists {
                    path: self.target.clone(),
                });
            }
            Err(e) => return Err(io("cannot move the output into", &self.target)(e.into())),
        }
        // The directory now lives at its final name; the temporary name is gone.
        let _ = self.tmp.keep();
        crate::fault::point("output-moved");
        Ok(self.target)
    }
}

/// How many fsyncs of one round are in flight at once: enough for the file system to commit a
/// batch's files together, few enough that a round of hundreds of files does not start hundreds
/// of threads.
const SYNC_THREADS: usize = 16;

/// What one thread of a round makes durable.
enum Sync<'a> {
    /// One file or directory: `fsync`.
    One(&'a Path, &'a File),
    /// Everything written on the file system of a batch's outputs: `syncfs`, through the
    /// batch's earliest staging directory there (opened before any of their files was written).
    FileSystem(&'a Path, &'a File),
}

/// Makes every file and directory of `dirs` durable in one round, with `also` (what must be
/// durable before any of them appears: the transcript lines announcing them), each waited for;
/// if any fails nothing may move.
///
/// One output's files and directory are each fsynced, up to sixteen in flight at once, so the
/// file system commits them together. Two or more (a ceremony's batch) are made durable by one
/// `syncfs` per file system they are on, where that is known to report every failure (ext4,
/// XFS or Btrfs, under Linux 5.17 or later): a batch of 64 outputs is 320 fsyncs, each waiting for the disk,
/// or one. `syncfs` writes back everything dirty on that file system, so its cost grows with
/// what other programs have written there and not yet synced; `--batch-steps 1` keeps to
/// fsyncs. Elsewhere a batch's files are fsynced one by one.
pub fn sync_round(
    dirs: &[StagedDir],
    also: impl FnOnce() -> Result<(), Error> + Send,
) -> Result<(), Error> {
    for d in dirs {
        fs::set_permissions(d.tmp.path(), fs::Permissions::from_mode(0o755))
            .map_err(io("cannot set permissions of", d.tmp.path()))?;
    }
    let work = if dirs.len() > 1 && syncfs_reports_errors(dirs) {
        file_systems(dirs)?
    } else {
        dirs.iter()
            .flat_map(|d| d.files.iter().map(|(path, file)| Sync::One(path, file)))
            .chain(dirs.iter().map(|d| Sync::One(d.tmp.path(), &d.dir)))
            .collect()
    };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let panicked = || Error::SyncPanicked {
        path: dirs.first().map(|d| d.target.clone()).unwrap_or_default(),
    };
    let results: Vec<Result<(), Error>> = std::thread::scope(|scope| {
        let also = scope.spawn(also);
        let workers: Vec<_> = (0..SYNC_THREADS.min(work.len()))
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        match work.get(i) {
                            None => return Ok(()),
                            Some(Sync::One(path, file)) => {
                                file.sync_all().map_err(io("cannot sync", path))?
                            }
                            Some(Sync::FileSystem(path, dir)) => {
                                rustix::fs::syncfs(dir).map_err(|e| {
                                    io("cannot sync the file system of", path)(e.into())
                                })?
                            }
                        }
                    }
                })
            })
            .collect();
        std::iter::once(also)
            .chain(workers)
            .map(|handle| handle.join().unwrap_or_else(|_| Err(panicked())))
            .collect()
    });
    results.into_iter().collect::<Result<(), Error>>()?;
    crate::fault::point("output-staged");
    Ok(())
}

/// One `syncfs` per file system the staging directories of `dirs` are on, through the earliest
/// made there.
fn file_systems(dirs: &[StagedDir]) -> Result<Vec<Sync<'_>>, Error> {
    let mut earliest: Vec<(u64, &StagedDir)> = Vec::new();
    for d in dirs {
        let device = rustix::fs::fstat(&d.dir)
            .map_err(|e| io("cannot read the file system of", d.tmp.path())(e.into()))?
            .st_dev;
        match earliest.iter_mut().find(|(dev, _)| *dev == device) {
            Some((_, first)) if d.made < first.made => *first = d,
            Some(_) => {}
            None => earliest.push((device, d)),
        }
    }
    Ok(earliest
        .into_iter()
        .map(|(_, d)| Sync::FileSystem(d.tmp.path(), &d.dir))
        .collect())
}

/// The local block file systems whose `syncfs` writes back and commits everything, and fails
/// if any of it fails (`linux/magic.h`): ext4 (and ext2/ext3 through it), XFS, Btrfs. Not
/// overlayfs (its `syncfs` reports the overlay's errors, not those of the file system beneath,
/// which `fsync` reaches), FUSE (its `syncfs` asks nothing of the daemon but on virtiofs,
/// where `fsync` sends `FUSE_FSYNC`), network file systems, or any other.
const SYNCFS_FILE_SYSTEMS: [u64; 3] = [0xEF53, 0x5846_5342, 0x9123_683E];

/// Whether a `syncfs` of the file systems of `dirs` reports every failure to write them: each
/// one of [`SYNCFS_FILE_SYSTEMS`], under Linux 5.17 or later (since 5.8 `syncfs` reports
/// write-back errors, and since 5.17 a failure of the file system's own commit).
fn syncfs_reports_errors(dirs: &[StagedDir]) -> bool {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 17)
        && dirs.iter().all(|d| {
            rustix::fs::fstatfs(&d.dir)
                .ok()
                .and_then(|stat| u64::try_from(stat.f_type).ok())
                .is_some_and(|f| SYNCFS_FILE_SYSTEMS.contains(&f))
        })
}

/// Makes the moves of outputs now at `targets` durable: each distinct parent directory fsynced
/// once. Returns, for each target in order, a warning if its parent could not be synced (the
/// output exists all the same).
pub fn sync_parents<'a>(targets: impl IntoIterator<Item = &'a Path>) -> Vec<Option<String>> {
    let targets: Vec<&Path> = targets.into_iter().collect();
    let mut parents: Vec<(PathBuf, Option<String>)> = Vec::new();
    for target in &targets {
        let parent = parent_of(target);
        if parents.iter().any(|(p, _)| p == &parent) {
            continue;
        }
        let failed = File::open(&parent).and_then(|d| d.sync_all()).err();
        parents.push((parent, failed.map(|e| e.to_string())));
    }
    targets
        .iter()
        .map(|target| {
            let parent = parent_of(target);
            parents
                .iter()
                .find(|(p, _)| p == &parent)
                .and_then(|(p, e)| {
                    e.as_ref().map(|e| {
                        format!(
                            "{} was written, but syncing {} failed: {e}",
                            target.display(),
                            p.display()
                        )
                    })
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn commit_never_replaces_an_empty_directory() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("out");
        let mut staged = StagedDir::new(&target).unwrap();
        staged.write("a", b"x", false).unwrap();
        fs::create_dir(&target).unwrap();
        assert!(matches!(staged.commit(), Err(Error::Exists { .. })));
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        // The staging directory was removed: only `out` is left.
        assert_eq!(fs::read_dir(base.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_new_file_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_new_file(&path, b"one").unwrap();
        assert!(matches!(
            write_new_file(&path, b"two"),
            Err(Error::Exists { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), b"one");
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn nothing_moves_when_what_must_be_durable_first_is_not() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("out");
        let mut staged = StagedDir::new(&target).unwrap();
        staged.write("a", b"x", false).unwrap();
        let refused = staged.commit_with(|| {
            Err(Error::Io {
                action: "cannot sync the transcript",
                path: PathBuf::from("t.jsonl"),
                source: std::io::Error::from(std::io::ErrorKind::StorageFull),
            })
        });
        assert!(matches!(refused, Err(Error::Io { .. })));
        assert!(!target.exists());
        assert_eq!(fs::read_dir(base.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_moves_the_whole_directory() {
        let base = tempfile::tempdir().unwrap();
        let target = base.path().join("out");
        let mut staged = StagedDir::new(&target).unwrap();
        staged.write("a", b"x", false).unwrap();
        staged.write("b.sh", b"y", true).unwrap();
        assert_eq!(staged.commit().unwrap(), (target.clone(), None));
        assert_eq!(fs::read(target.join("a")).unwrap(), b"x");
        let mode = fs::metadata(target.join("b.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read_dir(base.path()).unwrap().count(), 1);
    }
}
