//! [`Workdir`]: a per-scenario temporary directory for daemon configs, keys, pid files and logs,
//! removed on drop.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory `<tmp>/sdlab-doctor-<pid>-<n>-<tag>` (mode 0755, owned by the caller: root), deleted
/// with its contents on drop.
#[derive(Debug)]
pub struct Workdir {
    path: PathBuf,
}

impl Workdir {
    /// Creates a fresh directory; `tag` names the scenario, for whoever looks at `/tmp`.
    pub fn new(tag: &str) -> io::Result<Workdir> {
        let path = std::env::temp_dir().join(format!(
            "sdlab-doctor-{}-{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if path.exists() {
            fs::remove_dir_all(&path)?;
        }
        fs::create_dir_all(&path)?;
        // Daemons that drop privileges (vsftpd, sshd) must be able to traverse it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
        Ok(Workdir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Creates the subdirectory `name` (mode 0755) and returns its path.
    pub fn subdir(&self, name: &str) -> io::Result<PathBuf> {
        let p = self.join(name);
        fs::create_dir_all(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
        Ok(p)
    }

    /// Writes `contents` to `path/name` and returns the file's path.
    pub fn write(&self, name: &str, contents: &str) -> io::Result<PathBuf> {
        let p = self.join(name);
        fs::write(&p, contents)?;
        Ok(p)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            if e.kind() != io::ErrorKind::NotFound {
                eprintln!("sockdoc-lab: could not remove {}: {e}", self.path.display());
            }
        }
    }
}
