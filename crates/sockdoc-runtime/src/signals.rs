//! Ending long-running commands (`keepalive --watch`, `events`) cleanly on SIGINT/SIGTERM, and
//! SIGHUP for the daemons that read their configuration again (`reap`, `serve`): the handlers only
//! set a flag; the loops check it between steps.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    HUP.store(true, Ordering::SeqCst);
}

/// Route each of `signals` to `handler`.
fn route(signals: &[libc::c_int], handler: extern "C" fn(libc::c_int)) {
    for &sig in signals {
        // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
        unsafe {
            libc::signal(sig, handler as libc::sighandler_t);
        }
    }
}

/// Route SIGHUP to its flag (instead of ending the process).
pub fn install_hup() {
    route(&[libc::SIGHUP], on_hup);
}

/// True when a SIGHUP arrived since the last call.
pub fn take_hup() -> bool {
    HUP.swap(false, Ordering::SeqCst)
}

/// True when a SIGHUP is waiting to be taken.
pub fn hup_pending() -> bool {
    HUP.load(Ordering::SeqCst)
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to the flag.
pub fn install() {
    route(&[libc::SIGINT, libc::SIGTERM], on_signal);
}

/// True once SIGINT or SIGTERM arrived.
pub fn stopped() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Ask the loops to end as a signal would (a daemon's namespace went away: see [`crate::watch::NsWatch`]).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}
