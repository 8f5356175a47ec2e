//! The audit log: one JSON line per action, appended with O_APPEND as the action happens (lines from
//! concurrent runs never interleave inside a line), synced to disk every [`SYNC_EVERY`] records and when
//! the log is closed — one fsync per socket would make a 50k-socket kill spend most of its time in fsync.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where actions are recorded unless told otherwise.
pub const DEFAULT_PATH: &str = "/var/log/sockdoc/audit.jsonl";

/// Records written between two syncs.
pub const SYNC_EVERY: usize = 1024;

/// An open audit log. Dropping it syncs what was written.
pub struct AuditLog {
    file: File,
    path: PathBuf,
    unsynced: usize,
}

impl AuditLog {
    /// Open (creating it and its directory, mode 0600) for appending.
    pub fn open(path: &Path) -> io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(AuditLog {
            file,
            path: path.to_path_buf(),
            unsynced: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record (a single-line JSON object); it reaches the disk within [`SYNC_EVERY`] records
    /// or at [`AuditLog::sync`].
    pub fn append(&mut self, json_line: &str) -> io::Result<()> {
        if json_line.contains('\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "audit records are single lines",
            ));
        }
        let mut line = Vec::with_capacity(json_line.len() + 1);
        line.extend_from_slice(json_line.as_bytes());
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.unsynced += 1;
        if self.unsynced >= SYNC_EVERY {
            self.sync()?;
        }
        Ok(())
    }

    /// Force what was appended to disk.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.unsynced > 0 {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_and_refuses_multiline() {
        let dir = std::env::temp_dir().join(format!("sockdoc-audit-{}", std::process::id()));
        let path = dir.join("sub").join("audit.jsonl");
        let mut log = AuditLog::open(&path).expect("open");
        log.append(r#"{"a":1}"#).expect("append");
        log.append(r#"{"a":2}"#).expect("append");
        assert!(log.append("{\n}").is_err());
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, "{\"a\":1}\n{\"a\":2}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
