//! Reading a file the user names (a configuration) whole, safely: only a regular file, opened without
//! blocking (a FIFO or a device never stalls or floods the daemon), and at most a size cap, so
//! `--config /dev/zero` or a runaway file is refused in one line instead of read until memory runs out.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Exit, Failure};

/// The largest configuration file read (1 MiB): real ones are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The text of `path`, a `what` (e.g. "configuration"), refusing anything but a regular file of at
/// most `limit` bytes of UTF-8. Errors are one line naming the path and what to do.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, Failure> {
    let shown = path.display();
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            let exit = match e.kind() {
                std::io::ErrorKind::NotFound => Exit::NoInput,
                std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
                _ => Exit::Io,
            };
            Failure::new(exit, format!("cannot read {shown}: {e}"))
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Failure::new(Exit::Io, format!("cannot read {shown}: {e}")))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_fifo() {
            "a pipe"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(Failure::new(
            Exit::NoInput,
            format!("{shown} is {kind}, not a {what} file: give the path of a regular file"),
        ));
    }
    let too_big = || {
        Failure::usage(format!(
            "{shown} is larger than {} KiB, too large for a {what} file: check the path",
            limit / 1024
        ))
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    // The size can lie (files in /proc say 0) or grow while read: never read more than the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(Exit::Io, format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        Failure::usage(format!(
            "{shown} is not UTF-8 text (bad byte at offset {}): is it the right file?",
            e.utf8_error().valid_up_to()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_pipes_are_refused_at_once() {
        for p in ["/dev/zero", "/dev/urandom", "/tmp", "/dev/null"] {
            let e = read_text(Path::new(p), "configuration", MAX_CONFIG_BYTES).expect_err(p);
            assert_eq!(e.exit, Exit::NoInput, "{p}: {}", e.message);
            assert!(e.message.contains("regular file"), "{}", e.message);
        }
        let dir = std::env::temp_dir().join(format!("sockdoc-infile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text(&fifo, "configuration", MAX_CONFIG_BYTES).expect_err("fifo");
        assert!(e.message.contains("a pipe"), "{}", e.message);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_under_it_read() {
        let dir = std::env::temp_dir().join(format!("sockdoc-infile-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let big = dir.join("big.toml");
        std::fs::write(&big, vec![b'#'; 5000]).expect("write");
        let e = read_text(&big, "configuration", 4096).expect_err("too big");
        assert_eq!(e.exit, Exit::Usage);
        assert!(e.message.contains("too large"), "{}", e.message);
        assert_eq!(
            read_text(&big, "configuration", 5000).expect("fits").len(),
            5000
        );
        // A /proc file says its size is 0: the cap still holds while reading.
        let e = read_text(Path::new("/proc/self/maps"), "configuration", 16).expect_err("cap");
        assert!(e.message.contains("too large"), "{}", e.message);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
