//! Reading the reaper's configuration file whole, safely: only a regular file, opened without
//! blocking (a FIFO or a device never stalls or floods the daemon), and at most a size cap, so
//! `--config /dev/zero` or a runaway file is refused in one line instead of read until memory runs
//! out. The words of its errors are the catalog's ([`FileError::words`]); exit codes are the
//! caller's.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::i18n::{self, Lang, ReapMsg};

/// The largest configuration file read (1 MiB): real ones are a few KiB.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What a path names when it is not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFile {
    Directory,
    CharDevice,
    BlockDevice,
    Pipe,
    Socket,
    Other,
}

/// Why a configuration file was not read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It cannot be opened (missing, not permitted...).
    #[error("cannot open: {0}")]
    Open(io::Error),
    /// It was opened but cannot be read.
    #[error("cannot read: {0}")]
    Read(io::Error),
    #[error("not a regular file: {0:?}")]
    NotAFile(NotAFile),
    /// Larger than the cap (bytes).
    #[error("larger than {0} bytes")]
    TooLarge(u64),
    /// Not UTF-8: the offset of the first bad byte.
    #[error("not UTF-8 at byte {0}")]
    NotUtf8(usize),
}

impl FileError {
    /// One line about `path` in `lang`: what is wrong and what to do.
    pub fn words(&self, lang: Lang, path: &Path) -> String {
        let shown = path.display().to_string();
        let t = |m: ReapMsg, args: &[&str]| i18n::reap(lang, m, args);
        match self {
            FileError::Open(e) | FileError::Read(e) => {
                t(ReapMsg::FileUnreadable, &[&shown, &e.to_string()])
            }
            FileError::NotAFile(k) => {
                let kind = t(
                    match k {
                        NotAFile::Directory => ReapMsg::KindDirectory,
                        NotAFile::CharDevice => ReapMsg::KindCharDevice,
                        NotAFile::BlockDevice => ReapMsg::KindBlockDevice,
                        NotAFile::Pipe => ReapMsg::KindPipe,
                        NotAFile::Socket => ReapMsg::KindSocket,
                        NotAFile::Other => ReapMsg::KindOther,
                    },
                    &[],
                );
                t(ReapMsg::FileNotRegular, &[&shown, &kind])
            }
            FileError::TooLarge(limit) => t(
                ReapMsg::FileTooLarge,
                &[&shown, &(limit / 1024).to_string()],
            ),
            FileError::NotUtf8(offset) => t(ReapMsg::FileNotUtf8, &[&shown, &offset.to_string()]),
        }
    }
}

/// The text of `path`, refusing anything but a regular file of at most `limit` bytes of UTF-8.
pub fn read_text(path: &Path, limit: u64) -> Result<String, FileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(FileError::Open)?;
    let meta = file.metadata().map_err(FileError::Read)?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            NotAFile::Directory
        } else if ft.is_char_device() {
            NotAFile::CharDevice
        } else if ft.is_block_device() {
            NotAFile::BlockDevice
        } else if ft.is_fifo() {
            NotAFile::Pipe
        } else if ft.is_socket() {
            NotAFile::Socket
        } else {
            NotAFile::Other
        };
        return Err(FileError::NotAFile(kind));
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge(limit));
    }
    // The size can lie (files in /proc say 0) or grow while read: never read more than the cap.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge(limit));
    }
    String::from_utf8(bytes).map_err(|e| FileError::NotUtf8(e.utf8_error().valid_up_to()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of the test's own, removed on drop (also when the test fails).
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(what: &str) -> TempDir {
            let d = std::env::temp_dir().join(format!("sockdoc-{what}-{}", std::process::id()));
            std::fs::create_dir_all(&d).expect("dir");
            TempDir(d)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn devices_directories_and_pipes_are_refused_at_once() {
        for (p, kind) in [
            ("/dev/zero", NotAFile::CharDevice),
            ("/dev/urandom", NotAFile::CharDevice),
            ("/tmp", NotAFile::Directory),
            ("/dev/null", NotAFile::CharDevice),
        ] {
            let e = read_text(Path::new(p), MAX_CONFIG_BYTES).expect_err(p);
            assert!(matches!(e, FileError::NotAFile(k) if k == kind), "{p}: {e}");
            let en = e.words(Lang::En, Path::new(p));
            assert!(en.contains("regular file"), "{en}");
            assert!(e.words(Lang::Zh, Path::new(p)).contains("普通文件"), "{p}");
        }
        let dir = TempDir::new("config-fifo");
        let fifo = dir.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: mkfifo with a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_text(&fifo, MAX_CONFIG_BYTES).expect_err("fifo");
        assert_eq!(
            e.words(Lang::En, &fifo),
            format!(
                "{} is a pipe, not a configuration file: give the path of a regular file",
                fifo.display()
            )
        );
    }

    #[test]
    fn a_file_over_the_cap_is_refused_and_one_under_it_read() {
        let dir = TempDir::new("config-cap");
        let big = dir.0.join("big.toml");
        std::fs::write(&big, vec![b'#'; 5000]).expect("write");
        let e = read_text(&big, 4096).expect_err("too big");
        assert!(matches!(e, FileError::TooLarge(4096)), "{e}");
        assert!(e.words(Lang::En, &big).contains("too large"), "{e}");
        assert_eq!(read_text(&big, 5000).expect("fits").len(), 5000);
        // A /proc file says its size is 0: the cap still holds while reading.
        let e = read_text(Path::new("/proc/self/maps"), 16).expect_err("cap");
        assert!(matches!(e, FileError::TooLarge(16)), "{e}");
        let missing = dir.0.join("missing.toml");
        let e = read_text(&missing, 16).expect_err("missing");
        assert!(
            matches!(&e, FileError::Open(io) if io.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
    }
}
