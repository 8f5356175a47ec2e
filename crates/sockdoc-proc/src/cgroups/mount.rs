//! Finding the cgroup2 tree, in three ways tried in order:
//!
//! 1. the caller's own mount, from `/proc/self/mountinfo` (every host, root or not);
//! 2. init's mount through `/proc/1/root/<its mount point>`, from `/proc/1/mountinfo`: `ip netns
//!    exec` runs its command in a private mount namespace where /sys is a fresh sysfs without the
//!    cgroup mounts under it, but init's view of the tree is one path away and nothing is mounted
//!    (this needs ptrace access to pid 1, which some sandboxes deny even to root);
//! 3. a detached mount: `fsopen("cgroup2")` + `fsmount` give a descriptor of a new read-only,
//!    nosuid, nodev, noexec mount of the caller's cgroup namespace that is attached to no mount
//!    point at all, so no other process sees it and nothing is left behind: it is gone when the
//!    descriptor closes, even if the process is killed. (`ss` instead mounts cgroup2 on
//!    /var/run/cgroup2 in the mount namespace it runs in; a mount that can outlive the run is what
//!    this avoids.) It needs CAP_SYS_ADMIN, which `ip netns exec` has already required.

use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{CgroupError, CgroupFs, Found};
use crate::dirent::open_dir;

/// `linux/mount.h`: `FSOPEN_CLOEXEC`, `FSCONFIG_CMD_CREATE`, `FSMOUNT_CLOEXEC`, `MOUNT_ATTR_*`.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;

pub(super) fn find() -> Result<CgroupFs, CgroupError> {
    let mut tried = Vec::new();
    for (mountinfo, through_init) in [("/proc/self/mountinfo", false), ("/proc/1/mountinfo", true)]
    {
        let point = match mount_point(mountinfo) {
            Ok(Some(p)) => p,
            Ok(None) => {
                tried.push(format!("none in {mountinfo}"));
                continue;
            }
            Err(e) => {
                tried.push(format!("{mountinfo}: {e}"));
                continue;
            }
        };
        let path = match through_init {
            true => Path::new("/proc/1/root").join(point.strip_prefix("/").unwrap_or(&point)),
            false => point,
        };
        match open_path(&path) {
            Ok(root) => {
                let found = match through_init {
                    true => Found::ThroughInit(path),
                    false => Found::Mounted(path),
                };
                return Ok(CgroupFs { root, found });
            }
            Err(e) => tried.push(format!("{}: {e}", path.display())),
        }
    }
    match detached() {
        Ok(root) => Ok(CgroupFs {
            root,
            found: Found::Detached,
        }),
        Err(e) => {
            tried.push(format!("a private mount: {e}"));
            Err(CgroupError::NotFound(tried.join("; ")))
        }
    }
}

/// Open a directory by path, read-only.
pub(super) fn open_path(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    open_dir(None, &c)
}

/// The mount point of the first cgroup2 mount listed in a mountinfo file (one mounting the
/// hierarchy's root preferred over a bind mount of a subtree).
fn mount_point(mountinfo: &str) -> io::Result<Option<PathBuf>> {
    let text = std::fs::read(mountinfo)?;
    Ok(cgroup2_mount_point(&text))
}

/// See [`mount_point`]; `proc(5)`: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE
/// SOURCE SUPEROPTIONS`, with spaces, tabs, newlines and backslashes in paths written as `\ooo`.
pub(crate) fn cgroup2_mount_point(text: &[u8]) -> Option<PathBuf> {
    let mut subtree = None;
    for line in text.split(|&b| b == b'\n') {
        let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let Some(dash) = fields.iter().position(|f| *f == b"-") else {
            continue;
        };
        if dash < 6 || fields.get(dash + 1) != Some(&&b"cgroup2"[..]) {
            continue;
        }
        let point = PathBuf::from(std::ffi::OsStr::from_bytes(&unescape(fields[4])));
        if fields[3] == b"/" {
            return Some(point);
        }
        subtree.get_or_insert(point);
    }
    subtree
}

/// Undo mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let oct = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                let v = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(v as u8);
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// A read-only cgroup2 mount attached nowhere (see the module's doc).
fn detached() -> io::Result<OwnedFd> {
    let fs = syscall_fd(|| {
        // SAFETY: a NUL-terminated name; the result is checked.
        unsafe { libc::syscall(libc::SYS_fsopen, c"cgroup2".as_ptr(), FSOPEN_CLOEXEC) }
    })?;
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fs);
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux; the result is checked.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            raw,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    let mnt = syscall_fd(|| {
        // SAFETY: a filesystem context descriptor we own; the result is checked.
        unsafe { libc::syscall(libc::SYS_fsmount, raw, FSMOUNT_CLOEXEC, attrs) }
    })?;
    // The mount's descriptor is an O_PATH one: its root opened for reading keeps the mount alive.
    open_dir(Some(&mnt), c".")
}

fn syscall_fd(call: impl FnOnce() -> libc::c_long) -> io::Result<OwnedFd> {
    let fd = call();
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("descriptor out of range"))?;
    // SAFETY: a fresh descriptor the kernel just handed us, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
pub(super) fn detached_for_tests() -> io::Result<OwnedFd> {
    detached()
}
