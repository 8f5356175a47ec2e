//! A small disk that is full, or nearly: a tmpfs mounted on a fresh temp directory, for tests of
//! what a file writer (the audit log) does when the disk has no room, or runs out part-way.
//!
//! tmpfs hands out whole pages ([`PAGE`]), so "full" means no page is free: a file can still grow
//! into the unused tail of its last page. [`Tmpfs::with_room`] uses that to leave room for exactly
//! N more bytes in one file. The mount is detached (`umount -l`, so a file still open cannot keep
//! it) and its directory removed when the guard drops, also while a failing test unwinds.

use std::ffi::CString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::doctor::Workdir;

/// The unit tmpfs allocates in.
pub const PAGE: usize = 4096;

/// A tmpfs mounted on a fresh temp directory; unmounted and removed on drop.
pub struct Tmpfs {
    mnt: PathBuf,
    // Dropped after `Drop::drop` has unmounted it: removes the (then empty) mount point.
    _dir: Workdir,
}

impl Tmpfs {
    /// Mounts an empty tmpfs of `size` bytes (rounded up to whole pages by the kernel).
    pub fn mount(size: usize) -> io::Result<Tmpfs> {
        let dir = Workdir::new("tmpfs")?;
        let mnt = dir.subdir("mnt")?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("sockdoc-lab")
            .arg(&mnt)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "mount -t tmpfs -o size={size} {}: {status}",
                mnt.display()
            )));
        }
        Ok(Tmpfs { mnt, _dir: dir })
    }

    /// A 64 KiB tmpfs with no page free (see [`Tmpfs::fill`]).
    pub fn full() -> io::Result<Tmpfs> {
        let fs = Tmpfs::mount(64 * 1024)?;
        fs.fill()?;
        Ok(fs)
    }

    /// A full tmpfs in which the file `name` exists and exactly `room` more bytes fit into it (see
    /// [`Tmpfs::fill_with_room`]).
    pub fn with_room(name: &str, room: usize) -> io::Result<Tmpfs> {
        // Room for the padded file and a little more.
        let fs = Tmpfs::mount((room / 1024 + 64) * 1024)?;
        fs.fill_with_room(name, room)?;
        Ok(fs)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.mnt
    }

    /// `mount point/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }

    /// Fills every free page (a file `filler`); fails if a new file can still get a page.
    pub fn fill(&self) -> io::Result<()> {
        self.fill_reserving(0)?;
        let probe = self.join("probe");
        let written = fs::write(&probe, [0u8; 1]);
        let _ = fs::remove_file(&probe);
        match written {
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Err(io::Error::other(format!(
                "{} is not full after filling it",
                self.mnt.display()
            ))),
        }
    }

    /// Fills all but `free` bytes (rounded down to whole pages), which any file may then take.
    pub fn fill_leaving(&self, free: usize) -> io::Result<()> {
        self.fill_reserving(free / PAGE)
    }

    /// Pads the file `name` (created if absent, appended to if not) with one JSON line,
    /// `{"pad":"xx…"}`, so that exactly `room` more bytes fit into it, then fills the rest: the
    /// pages the file will grow into stay free, nothing else does.
    pub fn fill_with_room(&self, name: &str, room: usize) -> io::Result<()> {
        let path = self.join(name);
        let len = match fs::metadata(&path) {
            Ok(m) => m.len() as usize,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        // The padding ends where `room` more bytes reach a page boundary; at least 16 bytes, the
        // shortest line that is still valid JSON with some padding.
        let end = (len + room + 16).div_ceil(PAGE) * PAGE - room;
        let pad = end - len;
        let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(pad - 11));
        debug_assert_eq!(line.len(), pad);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .write_all(line.as_bytes())?;
        self.fill_reserving((end + room) / PAGE - end.div_ceil(PAGE))
    }

    /// Fills every free page but `pages`, which are held by a file `reserve` until the rest is
    /// full and then freed.
    fn fill_reserving(&self, pages: usize) -> io::Result<()> {
        let reserve = self.join("reserve");
        if pages > 0 {
            fs::write(&reserve, vec![0u8; pages * PAGE])?;
        }
        let mut filler = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.join("filler"))?;
        let block = [0u8; PAGE];
        loop {
            match filler.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        drop(filler);
        if pages > 0 {
            fs::remove_file(&reserve)?;
            self.wait_free(pages)?;
        }
        Ok(())
    }

    /// Waits until `pages` pages are free. The pages of a removed file come back only when its
    /// last open reference goes, and a child that another thread of the test process forks holds a
    /// copy of every descriptor until its `exec` closes them: the unlink may return before then.
    fn wait_free(&self, pages: usize) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let free = self.free_pages()?;
            if free >= pages {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other(format!(
                    "{}: {free} pages free 10 s after removing a file of {pages}",
                    self.mnt.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pages free for any file, as `statvfs(3)` tells them.
    fn free_pages(&self) -> io::Result<usize> {
        let path = CString::new(self.mnt.as_os_str().as_bytes())
            .map_err(|_| io::Error::other("a mount point with a NUL byte"))?;
        // SAFETY: `path` is a NUL-terminated string and `st` a plain C struct the call fills in.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((st.f_bavail as u64 * st.f_frsize as u64 / PAGE as u64) as usize)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enospc(r: io::Result<()>) -> bool {
        matches!(r, Err(e) if e.raw_os_error() == Some(libc::ENOSPC))
    }

    #[test]
    fn a_full_tmpfs_takes_no_new_page_and_is_gone_after_drop() {
        let fs = Tmpfs::full().expect("a full tmpfs");
        let mnt = fs.path().to_path_buf();
        assert!(enospc(fs::write(fs.join("a"), b"x")), "no page left");
        drop(fs);
        assert!(!mnt.exists(), "{} unmounted and removed", mnt.display());
    }

    #[test]
    fn with_room_fits_exactly_room_more_bytes() {
        let room = 3 * PAGE + 100;
        let fs = Tmpfs::with_room("log", room).expect("a nearly full tmpfs");
        let mut f = OpenOptions::new()
            .append(true)
            .open(fs.join("log"))
            .expect("the padded file");
        f.write_all(&vec![b'y'; room]).expect("room bytes fit");
        assert!(enospc(f.write_all(b"y")), "not one byte more");
    }

    #[test]
    fn fill_leaving_frees_whole_pages() {
        let fs = Tmpfs::mount(256 * 1024).expect("a tmpfs");
        fs.fill_leaving(2 * PAGE + 10).expect("fill");
        fs::write(fs.join("a"), vec![0u8; 2 * PAGE]).expect("two pages fit");
        assert!(enospc(fs::write(fs.join("b"), b"x")), "no third page");
    }
}
