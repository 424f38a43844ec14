//! Output that is all or nothing. A command's output set (the files of `--out DIR`, or separate
//! files such as `--output a.npy --timeline t.json`) is written into temporaries beside the
//! targets (same filesystem, so a rename moves them), fsynced, and moved into place only when
//! every file is written: a reader sees the previous complete set or the new one.
//!
//! Every temporary is listed in a process-wide registry; on SIGINT/SIGTERM a handler thread
//! removes them and exits 130/143. A temporary left by a process that died (SIGKILL) is named
//! `.NAME.tmpPID` or `.NAME.oldPID`; the next write of NAME removes it once PID is gone.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The manifest of a directory set: its file names, one a line. A later run replaces the
/// directory only if it holds nothing else (anything else is the user's and is never removed).
pub(crate) const MANIFEST: &str = ".trnsim-files";

/// An output file or directory that could not be written or moved into place.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub(crate) struct Failed {
    /// The target (or, for a file of a directory set, that file).
    pub(crate) path: PathBuf,
    /// Why.
    pub(crate) source: io::Error,
}

impl From<Failed> for crate::cli::Error {
    fn from(f: Failed) -> Self {
        crate::cli::Error::File {
            path: f.path,
            source: f.source,
        }
    }
}

fn failed(path: &Path) -> impl FnOnce(io::Error) -> Failed + '_ {
    move |source| Failed {
        path: path.to_path_buf(),
        source,
    }
}

/// Temporaries that exist now, removed by the signal handler.
static TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn temps() -> MutexGuard<'static, Vec<PathBuf>> {
    TEMPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Create a temporary, or an entry inside one, under the registry's lock (and list it when
/// `list`): the signal handler takes the lock and keeps it until the process exits, so nothing
/// is created after it cleans, nor while it removes a tree (its last rmdir would then fail).
fn create_locked<T>(
    tmp: &Path,
    list: bool,
    create: impl FnOnce(&Path) -> io::Result<T>,
) -> io::Result<T> {
    remove_temps_on_signal();
    let mut t = temps();
    let made = create(tmp)?;
    if list {
        t.push(tmp.to_path_buf());
    }
    Ok(made)
}

/// Whether `target` exists and is neither a regular file nor a directory (a device such as
/// /dev/null or /dev/stdout, a FIFO, a socket; symlinks followed). Such a target is written in
/// place: renaming a temporary over it would replace the device node with a regular file.
fn is_special(target: &Path) -> bool {
    fs::metadata(target).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Write a special target directly (it is not part of the set's all-or-nothing move).
fn write_in_place(
    target: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), Failed> {
    let f = fs::OpenOptions::new().write(true).open(target);
    let mut w = BufWriter::new(f.map_err(failed(target))?);
    write(&mut w)
        .and_then(|()| w.flush())
        .map_err(failed(target))
}

/// Remove a file or a directory tree (gone already is fine).
fn remove(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Install (once) the thread that, on SIGINT or SIGTERM, removes the listed temporaries and
/// exits 128 + the signal. A thread, not a handler in signal context, so it may take the lock
/// and walk directories.
#[cfg(unix)]
fn remove_temps_on_signal() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("trnsim-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let listed = temps();
                    for p in listed.iter() {
                        let _ = remove(p);
                    }
                    std::process::exit(128 + sig);
                }
            });
    });
}

#[cfg(not(unix))]
fn remove_temps_on_signal() {}

/// The directory holding `target` and its file name.
fn split(target: &Path) -> io::Result<(&Path, &str)> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    Ok((dir, name))
}

/// `.NAME.{tag}PID` beside `target`.
fn beside(target: &Path, tag: &str) -> io::Result<PathBuf> {
    let (dir, name) = split(target)?;
    Ok(dir.join(format!(".{name}.{tag}{}", std::process::id())))
}

/// Remove the `.NAME.tmpPID` and `.NAME.oldPID` of `target` whose process is gone (killed
/// before it could clean), and our own (a reused PID).
fn remove_stale(target: &Path) {
    let Ok((dir, name)) = split(target) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for e in entries.flatten() {
        let n = e.file_name();
        let Some(rest) = n.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let pid = rest
            .strip_prefix("tmp")
            .or_else(|| rest.strip_prefix("old"))
            .and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| p == std::process::id() || gone(p)) {
            let _ = remove(&e.path());
        }
    }
}

/// Whether no process has this id (false where that cannot be told).
fn gone(pid: u32) -> bool {
    cfg!(target_os = "linux")
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// One staged target: a file, or a directory with the names of the files staged in it.
struct Staged {
    target: PathBuf,
    tmp: PathBuf,
    files: Option<BTreeSet<String>>,
}

/// The files of one command's output, committed together (see the module's doc).
#[derive(Default)]
pub(crate) struct OutputSet {
    staged: Vec<Staged>,
}

impl OutputSet {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Stage the directory `target`: its files (`file(target/NAME)`) go into `.DIR.tmpPID/`,
    /// which [`commit`](Self::commit) swaps with the previous directory as a whole.
    pub(crate) fn dir(&mut self, target: &Path) -> Result<(), Failed> {
        self.not_staged(target)?;
        let tmp = beside(target, "tmp").map_err(failed(target))?;
        remove_stale(target);
        create_locked(&tmp, true, |p| fs::create_dir(p)).map_err(failed(target))?;
        // Files staged already for this directory (plan's job log, written during the run)
        // join it: renamed beside it first, the swap would then throw them away.
        let (inside, rest): (Vec<Staged>, Vec<Staged>) = std::mem::take(&mut self.staged)
            .into_iter()
            .partition(|s| s.files.is_none() && s.target.parent() == Some(target));
        self.staged = rest;
        let mut files = BTreeSet::new();
        let mut inside = inside.into_iter();
        let joined = inside.try_for_each(|s| {
            let name = split(&s.target)?.1.to_string();
            let mut t = temps();
            let moved = fs::rename(&s.tmp, tmp.join(&name));
            if moved.is_ok() {
                t.retain(|p| p != &s.tmp);
                files.insert(name);
            } else {
                drop(t);
                self.staged.push(s);
            }
            moved
        });
        self.staged.extend(inside);
        self.staged.push(Staged {
            target: target.to_path_buf(),
            tmp,
            files: Some(files),
        });
        joined.map_err(failed(target))
    }

    /// Stage the file `target` written by `write` (into a staged directory if its parent is
    /// one, else beside it), flushed and fsynced.
    pub(crate) fn file(
        &mut self,
        target: &Path,
        write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> Result<(), Failed> {
        self.not_staged(target)?;
        let parent = target.parent();
        let in_dir = self
            .staged
            .iter()
            .position(|s| s.files.is_some() && Some(s.target.as_path()) == parent);
        let file = match in_dir {
            Some(i) => {
                let (_, name) = split(target).map_err(failed(target))?;
                let s = &mut self.staged[i];
                let tmp = s.tmp.join(name);
                s.files
                    .as_mut()
                    .expect("a directory")
                    .insert(name.to_string());
                create_locked(&tmp, false, |p| File::create(p))
            }
            None if is_special(target) => return write_in_place(target, write),
            None => {
                check_file_target(target)?;
                let tmp = beside(target, "tmp").map_err(failed(target))?;
                remove_stale(target);
                let f = create_locked(&tmp, true, |p| File::create(p));
                if f.is_ok() {
                    self.staged.push(Staged {
                        target: target.to_path_buf(),
                        tmp,
                        files: None,
                    });
                }
                f
            }
        };
        let mut w = BufWriter::new(file.map_err(failed(target))?);
        write(&mut w)
            .and_then(|()| w.flush())
            .and_then(|()| w.get_ref().sync_all())
            .map_err(failed(target))
    }

    /// [`file`](Self::file) with the bytes.
    pub(crate) fn bytes(&mut self, target: &Path, bytes: &[u8]) -> Result<(), Failed> {
        self.file(target, |w| w.write_all(bytes))
    }

    /// Move every staged target into place. Every check (a file target that is a directory, a
    /// directory holding files this set did not write) is made before the first move, so a
    /// failure leaves every previous file as it was and no temporary.
    pub(crate) fn commit(mut self) -> Result<(), Failed> {
        for s in &self.staged {
            match &s.files {
                None => check_file_target(&s.target)?,
                Some(files) => seal_dir(s, files)?,
            }
        }
        let staged = std::mem::take(&mut self.staged);
        for (i, s) in staged.iter().enumerate() {
            let moved = match s.files {
                None => move_file(s),
                Some(_) => move_dir(s),
            };
            if let Err(e) = moved {
                staged[i..].iter().for_each(discard);
                return Err(failed(&s.target)(e));
            }
        }
        // Make the renames durable (best effort: the files are in place already).
        let parents: BTreeSet<&Path> = staged
            .iter()
            .filter_map(|s| split(&s.target).ok())
            .map(|(d, _)| d)
            .collect();
        for d in parents {
            let _ = File::open(d).and_then(|f| f.sync_all());
        }
        Ok(())
    }

    fn not_staged(&self, target: &Path) -> Result<(), Failed> {
        if self.staged.iter().any(|s| s.target == target) {
            return Err(failed(target)(io::Error::new(
                io::ErrorKind::InvalidInput,
                "named twice among this command's outputs",
            )));
        }
        Ok(())
    }
}

impl Drop for OutputSet {
    /// A set dropped before its commit (an error on the way) leaves no temporary.
    fn drop(&mut self) {
        self.staged.iter().for_each(discard);
    }
}

/// Remove a temporary and unlist it under the registry's lock: the signal thread's removal of
/// the same tree must not race this one (two concurrent tree removals can each fail halfway,
/// and the process would then exit with the temporary half there).
fn remove_listed(t: &mut MutexGuard<'static, Vec<PathBuf>>, tmp: &Path) -> io::Result<()> {
    let removed = remove(tmp);
    t.retain(|p| p != tmp);
    removed
}

fn discard(s: &Staged) {
    let _ = remove_listed(&mut temps(), &s.tmp);
}

/// A file target must not be a directory (a rename onto one fails after others succeeded).
fn check_file_target(target: &Path) -> Result<(), Failed> {
    if fs::metadata(target).is_ok_and(|m| m.is_dir()) {
        return Err(failed(target)(io::Error::new(
            io::ErrorKind::IsADirectory,
            "is a directory",
        )));
    }
    Ok(())
}

/// Check that the previous directory holds only files of a trnsim output set (its manifest's
/// or this set's names), then write the manifest and fsync the new directory.
fn seal_dir(s: &Staged, files: &BTreeSet<String>) -> Result<(), Failed> {
    match fs::symlink_metadata(&s.target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed(&s.target)(e)),
        Ok(m) if !m.is_dir() => {
            return Err(failed(&s.target)(io::Error::new(
                io::ErrorKind::NotADirectory,
                "exists and is not a directory",
            )));
        }
        Ok(_) => check_replaceable(&s.target, files)?,
    }
    let mut manifest: String = files.iter().map(|n| format!("{n}\n")).collect();
    if manifest.is_empty() {
        manifest.push('\n');
    }
    let path = s.tmp.join(MANIFEST);
    let sealed = create_locked(&path, false, |p| File::create(p))
        .and_then(|mut f| f.write_all(manifest.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| File::open(&s.tmp))
        .and_then(|d| d.sync_all());
    sealed.map_err(failed(&s.target))
}

/// The previous directory may be replaced if every entry is a file this set writes or its
/// manifest lists: anything else (a note, a subdirectory) is the user's.
fn check_replaceable(dir: &Path, files: &BTreeSet<String>) -> Result<(), Failed> {
    let listed = fs::read_to_string(dir.join(MANIFEST)).unwrap_or_default();
    let listed: BTreeSet<&str> = listed.lines().collect();
    let mut foreign = Vec::new();
    for e in fs::read_dir(dir).map_err(failed(dir))? {
        let e = e.map_err(failed(dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        let ours = name == MANIFEST || files.contains(&name) || listed.contains(name.as_str());
        if is_dir || !ours {
            foreign.push(if is_dir { format!("{name}/") } else { name });
        }
    }
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let more = foreign.len().saturating_sub(5);
    foreign.truncate(5);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Err(failed(dir)(io::Error::other(format!(
        "holds entries this command did not write ({}{more}); the output directory is replaced \
         as a whole: name a new or empty directory, or move them away",
        foreign.join(", ")
    ))))
}

fn move_file(s: &Staged) -> io::Result<()> {
    let mut t = temps();
    fs::rename(&s.tmp, &s.target)?;
    t.retain(|p| p != &s.tmp);
    Ok(())
}

/// Swap the staged directory with the target. On Linux one renameat2(RENAME_EXCHANGE) swaps
/// them atomically; elsewhere (or on a filesystem without it) two renames under the registry's
/// lock: only a SIGKILL between them leaves no DIR, its previous set in `.DIR.oldPID`.
fn move_dir(s: &Staged) -> io::Result<()> {
    if fs::symlink_metadata(&s.target).is_err() {
        return move_file(s);
    }
    let mut t = temps();
    if exchange(&s.tmp, &s.target)? {
        // The previous set is now at the temporary's name, still listed.
        return remove_listed(&mut t, &s.tmp);
    }
    let old = beside(&s.target, "old")?;
    fs::rename(&s.target, &old)?;
    t.push(old.clone());
    if let Err(e) = fs::rename(&s.tmp, &s.target) {
        let _ = fs::rename(&old, &s.target);
        t.retain(|p| p != &old);
        return Err(e);
    }
    t.retain(|p| p != &s.tmp);
    remove_listed(&mut t, &old)
}

/// Exchange two paths atomically: Ok(false) where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the path"))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: two valid NUL-terminated paths; the call reads them and nothing else.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<bool> {
    Ok(false)
}

/// Write `path` through `write`, atomically: one file as a set of one. Errors are the I/O
/// error (no temporary is left).
pub(crate) fn write(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let mut set = OutputSet::new();
    set.file(path, write).map_err(|f| f.source)?;
    set.commit().map_err(|f| f.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn failure_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let err = super::write(&p, |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        super::write(&p, |w| std::io::Write::write_all(w, b"ok")).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "ok");
    }

    /// A set of separate files whose last target is a directory: nothing moves, no temporary.
    #[test]
    fn files_move_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "old a").unwrap();
        fs::create_dir(&b).unwrap();
        let mut set = OutputSet::new();
        set.bytes(&a, b"new a").unwrap();
        let e = set.bytes(&b, b"new b").unwrap_err();
        assert_eq!(e.path, b);
        drop(set);
        assert_eq!(fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(names(dir.path()), ["a", "b"]);
        fs::remove_dir(&b).unwrap();
        let mut set = OutputSet::new();
        set.bytes(&a, b"new a").unwrap();
        set.bytes(&b, b"new b").unwrap();
        fs::create_dir(&b).unwrap(); // taken between the writes and the commit
        assert!(set.commit().is_err());
        assert_eq!(fs::read_to_string(&a).unwrap(), "old a");
        assert_eq!(names(dir.path()), ["a", "b"]);
    }

    /// A directory set replaces the previous one whole, with a manifest; a directory holding
    /// the user's files is refused and kept; stale temporaries of a dead process are removed.
    #[test]
    fn directory_sets_swap_whole() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let stale = root.path().join(".out.tmp4000000000");
        fs::create_dir(&stale).unwrap();
        let write = |files: &[&str]| {
            let mut set = OutputSet::new();
            set.dir(&out)?;
            for f in files {
                set.bytes(&out.join(f), f.as_bytes())?;
            }
            set.commit()
        };
        // A file staged before its directory (an empty one here) joins it.
        fs::create_dir(&out).unwrap();
        let mut set = OutputSet::new();
        set.bytes(&out.join("log"), b"log").unwrap();
        set.dir(&out).unwrap();
        set.commit().unwrap();
        assert_eq!(names(&out), [MANIFEST, "log"]);
        write(&["x", "y"]).unwrap();
        assert_eq!(names(&out), [MANIFEST, "x", "y"]);
        write(&["z"]).unwrap(); // x and y were listed: replaced
        assert_eq!(names(&out), [MANIFEST, "z"]);
        assert_eq!(names(root.path()), ["out"]);
        fs::write(out.join("notes.txt"), "mine").unwrap();
        let e = write(&["z"]).unwrap_err();
        assert!(e.to_string().contains("(notes.txt)"), "{e}");
        assert_eq!(names(&out), [MANIFEST, "notes.txt", "z"]);
        assert_eq!(names(root.path()), ["out"]);
    }
}
