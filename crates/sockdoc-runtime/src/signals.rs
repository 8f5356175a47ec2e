//! Ending long-running commands (`keepalive --watch`, `events`) cleanly on SIGINT/SIGTERM: the handler
//! only sets a flag; the loops check it between steps.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to the flag.
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
}

/// True once SIGINT or SIGTERM arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Ask the loops to end as a signal would (a daemon's namespace went away: see [`crate::watch::NsWatch`]).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
