//! [`in_netns`]: run a closure on a short-lived thread that joined a lab namespace.
//!
//! A socket belongs to the network namespace of the thread that called `socket()`; afterwards it
//! can be used (bind, connect, accept, shutdown, close) from any thread. So tests create their
//! sockets through `in_netns` and keep operating on them from the test thread, whose own
//! namespace never changes.

use std::fs::File;
use std::io;
use std::thread;

use crate::netns::Netns;
use crate::sys;

/// Runs `f` on a new thread inside `ns` and returns its result. Sockets created by `f` live in
/// `ns` and are owned by the calling process. A panic in `f` is propagated to the caller.
pub fn in_netns<T, F>(ns: &Netns, f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send,
    T: Send,
{
    let path = ns.path();
    let file = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))?;
    thread::scope(|scope| {
        let handle = scope.spawn(move || {
            sys::setns_net(&file)
                .map_err(|e| io::Error::new(e.kind(), format!("setns {}: {e}", path.display())))?;
            f()
        });
        match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
