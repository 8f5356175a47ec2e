//! Directory reading without an allocation per entry (`getdents64`), for /proc walks that see hundreds of
//! thousands of entries.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Open a directory relative to `dir` (or absolute when `dir` is `None`).
pub fn open_dir(dir: Option<&OwnedFd>, path: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let base = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: `path` is NUL-terminated; the result is checked.
    let fd = unsafe {
        libc::openat(
            base,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Call `f` with the name of every entry of `dir` except `.` and `..`.
pub fn for_each_entry(dir: &OwnedFd, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> io::Result<()> {
    for_each_dirent(dir, buf, |_, _, name| f(name))
}

/// `d_type` of a directory (`DT_DIR`).
pub const DT_DIR: u8 = 4;

/// Call `f(inode, d_type, name)` for every entry of `dir` except `.` and `..`.
pub fn for_each_dirent(
    dir: &OwnedFd,
    buf: &mut [u8],
    mut f: impl FnMut(u64, u8, &[u8]),
) -> io::Result<()> {
    loop {
        // SAFETY: the buffer is valid for its length; getdents64 writes at most that many bytes.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(());
        }
        let n = n as usize;
        let mut off = 0;
        // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
        while off + 19 <= n {
            let reclen = usize::from(u16::from_ne_bytes([buf[off + 16], buf[off + 17]]));
            if reclen == 0 || off + reclen > n {
                break;
            }
            let mut ino = [0u8; 8];
            ino.copy_from_slice(&buf[off..off + 8]);
            let kind = buf[off + 18];
            let name = &buf[off + 19..off + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let name = &name[..end];
            if name != b"." && name != b".." {
                f(u64::from_ne_bytes(ino), kind, name);
            }
            off += reclen;
        }
    }
}

/// Parse a decimal ASCII number; `None` for anything else.
pub fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}
