//! A machine-wide reader/writer lock over lab namespaces (an `flock` on
//! `/run/lock/sdlab-netns.lock`, or in the temp directory where `/run/lock` does not exist).
//!
//! Every [`Netns`] holds the lock shared for its whole life. A test that scans *all*
//! namespaces (`sockdoc list --all-netns`) takes it exclusively, so no other lab namespace is
//! created or deleted while it runs, whichever process (cargo test thread or nextest process)
//! owns it. Namespaces the exclusive holder needs are created through
//! [`ExclusiveNetnsLock::netns`], which does not take the shared lock again (that would deadlock).

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::netns::Netns;
use crate::sys;

/// Name of the lock file.
const LOCK_NAME: &str = "sdlab-netns.lock";

/// Where the lock file lives.
pub fn lock_path() -> PathBuf {
    let run_lock = Path::new("/run/lock");
    let dir = if run_lock.is_dir() {
        run_lock.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(LOCK_NAME)
}

fn open_lock_file() -> io::Result<File> {
    let path = lock_path();
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))
}

/// Shared hold on the lab lock; released on drop.
#[derive(Debug)]
pub struct SharedNetnsLock {
    _file: File,
}

impl SharedNetnsLock {
    /// Blocks until no exclusive holder exists, then holds the lock shared.
    pub fn acquire() -> io::Result<SharedNetnsLock> {
        let file = open_lock_file()?;
        sys::flock(&file, libc::LOCK_SH)?;
        Ok(SharedNetnsLock { _file: file })
    }
}

/// Exclusive hold on the lab lock: while it lives, no other lab namespace exists.
#[derive(Debug)]
pub struct ExclusiveNetnsLock {
    _file: File,
}

impl ExclusiveNetnsLock {
    /// Blocks until every other lab namespace is gone, then holds the lock exclusively.
    pub fn acquire() -> io::Result<ExclusiveNetnsLock> {
        let file = open_lock_file()?;
        sys::flock(&file, libc::LOCK_EX)?;
        Ok(ExclusiveNetnsLock { _file: file })
    }

    /// Creates a namespace covered by this exclusive hold. Drop it before the lock.
    pub fn netns(&self) -> io::Result<Netns> {
        Netns::create_unlocked()
    }
}
