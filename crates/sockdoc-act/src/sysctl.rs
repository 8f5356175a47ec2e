//! Applying sysctl changes as one transaction: record the previous runtime values, write each new value,
//! read it back, and on the first failure put every value already written back — so a failure halfway
//! leaves nothing half-applied. The config file and the backup on disk are the caller's (written
//! atomically before and after this step).

use std::io;

/// Reading and writing runtime settings (the real one is /proc/sys; tests use a fake).
pub trait SysctlIo {
    fn read(&mut self, key: &str) -> io::Result<String>;
    fn write(&mut self, key: &str, value: &str) -> io::Result<()>;
}

/// Whitespace-insensitive form of a value (`1024\t65000` == `1024 65000`).
pub fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One setting changed: key, previous value, new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub key: String,
    pub previous: String,
    pub value: String,
}

/// Why a transaction failed, after it was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot read {key}: {err}")]
    Read { key: String, err: io::Error },
    #[error("cannot set {key} = {value}: {err}; every change was undone")]
    Write {
        key: String,
        value: String,
        err: io::Error,
    },
    #[error("{key} reads back as {got} after writing {want}; every change was undone")]
    Verify {
        key: String,
        want: String,
        got: String,
    },
    #[error("{failure}; and undoing failed for {undo_failed}: set them back by hand")]
    UndoFailed {
        failure: Box<ApplyError>,
        undo_failed: String,
    },
}

/// Set every `(key, value)`; all or nothing.
pub fn apply(
    io: &mut dyn SysctlIo,
    changes: &[(String, String)],
) -> Result<Vec<Applied>, ApplyError> {
    let mut done: Vec<Applied> = Vec::new();
    for (key, value) in changes {
        let previous = match io.read(key) {
            Ok(v) => normalize(&v),
            Err(err) => {
                return Err(undo(
                    io,
                    &done,
                    ApplyError::Read {
                        key: key.clone(),
                        err,
                    },
                ))
            }
        };
        if let Err(err) = io.write(key, value) {
            let e = ApplyError::Write {
                key: key.clone(),
                value: value.clone(),
                err,
            };
            return Err(undo(io, &done, e));
        }
        done.push(Applied {
            key: key.clone(),
            previous,
            value: normalize(value),
        });
        match io.read(key) {
            Ok(got) if normalize(&got) == normalize(value) => {}
            Ok(got) => {
                let e = ApplyError::Verify {
                    key: key.clone(),
                    want: normalize(value),
                    got: normalize(&got),
                };
                return Err(undo(io, &done, e));
            }
            Err(err) => {
                return Err(undo(
                    io,
                    &done,
                    ApplyError::Read {
                        key: key.clone(),
                        err,
                    },
                ))
            }
        }
    }
    Ok(done)
}

/// Put back `done` in reverse order; report keys that could not be restored.
fn undo(io: &mut dyn SysctlIo, done: &[Applied], failure: ApplyError) -> ApplyError {
    let failed: Vec<String> = done
        .iter()
        .rev()
        .filter(|a| io.write(&a.key, &a.previous).is_err())
        .map(|a| a.key.clone())
        .collect();
    if failed.is_empty() {
        failure
    } else {
        ApplyError::UndoFailed {
            failure: Box::new(failure),
            undo_failed: failed.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake {
        values: HashMap<String, String>,
        fail_write: Option<&'static str>,
        lie_on_read: Option<&'static str>,
    }

    impl SysctlIo for Fake {
        fn read(&mut self, key: &str) -> io::Result<String> {
            if self.lie_on_read == Some(key) {
                return Ok("42".into());
            }
            self.values
                .get(key)
                .cloned()
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn write(&mut self, key: &str, value: &str) -> io::Result<()> {
            if self.fail_write == Some(key) {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            self.values.insert(key.to_string(), value.to_string());
            Ok(())
        }
    }

    fn fake() -> Fake {
        Fake {
            values: HashMap::from([
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2\t3".to_string()),
                ("c".to_string(), "4".to_string()),
            ]),
            fail_write: None,
            lie_on_read: None,
        }
    }

    fn changes() -> Vec<(String, String)> {
        vec![
            ("a".into(), "10".into()),
            ("b".into(), "20 30".into()),
            ("c".into(), "40".into()),
        ]
    }

    #[test]
    fn applies_everything_and_remembers_the_past() {
        let mut f = fake();
        let done = apply(&mut f, &changes()).expect("applied");
        assert_eq!(done[1].previous, "2 3");
        assert_eq!(f.values["b"], "20 30");
    }

    #[test]
    fn a_failure_halfway_undoes_what_was_done() {
        let mut f = fake();
        f.fail_write = Some("c");
        let e = apply(&mut f, &changes()).expect_err("fails on c");
        assert!(e.to_string().contains("undone"), "{e}");
        assert_eq!(f.values["a"], "1");
        assert_eq!(f.values["b"], "2 3");
        assert_eq!(f.values["c"], "4");
    }

    #[test]
    fn a_value_that_does_not_stick_undoes_everything() {
        let mut f = fake();
        f.lie_on_read = Some("b");
        // `b` reads as 42 both before and after: the previous value recorded is 42, and the check fails.
        let e = apply(&mut f, &changes()).expect_err("verify fails");
        assert!(matches!(e, ApplyError::Verify { .. }), "{e}");
        assert_eq!(f.values["a"], "1");
    }
}
