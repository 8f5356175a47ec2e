//! Polling with a deadline, instead of fixed sleeps: the kernel changes socket state
//! asynchronously (loopback packets are processed in softirq context), so the lab re-reads until
//! the state it wants is visible.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

/// Default deadline for a scenario to reach its states.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls `probe` until it returns `Ok(Ok(value))` or `timeout` passes. `Ok(Err(status))` means
/// "not yet" (the last status goes into the timeout error); `Err` aborts at once.
/// Waits 2 ms after the first miss, doubling up to 50 ms.
pub fn poll<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> io::Result<Result<T, String>>,
) -> io::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(2);
    loop {
        let status = match probe()? {
            Ok(value) => return Ok(value),
            Err(status) => status,
        };
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {timeout:?} waiting for {what}: {status}"),
            ));
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_first_success() {
        let mut n = 0;
        let v = poll(Duration::from_secs(1), "n to reach 3", || {
            n += 1;
            Ok(if n >= 3 { Ok(n) } else { Err(format!("n={n}")) })
        })
        .expect("poll");
        assert_eq!(v, 3);
    }

    #[test]
    fn times_out_with_status() {
        let err = poll::<()>(Duration::from_millis(20), "never", || {
            Ok(Err("still no".into()))
        })
        .expect_err("timeout");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("still no"));
    }
}
