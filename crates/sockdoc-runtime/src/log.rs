//! Lines for stderr that can never panic: `eprintln!` panics when stderr is a closed pipe (Rust
//! ignores SIGPIPE, so the write fails with EPIPE), and a release build aborts on panic. Daemons
//! (`serve`, `reap`, `events`, `top`) and the final error line of every command write through
//! [`log_line!`] instead; a line that cannot be written is dropped.

use std::fmt;
use std::io::{self, Write};

/// Writes one line on stderr; a failed write (closed pipe, full disk) is ignored.
pub fn line(args: fmt::Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
}

/// `eprintln!` that never panics: one line on stderr, dropped when stderr is gone.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

pub use crate::log_line;
