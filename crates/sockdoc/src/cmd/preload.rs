//! `sockdoc run-with-keepalive -- CMD`: start a program with `libsockdoc_keepalive.so` preloaded, so
//! every TCP socket it creates has keepalive on — for services that never set SO_KEEPALIVE and cannot be
//! changed. (For one already running, use `sockdoc keepalive`.)

use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use sockdoc_core::i18n::{text, Msg};

use crate::cli::{Global, RunWithKeepaliveArgs};
use crate::error::{Exit, Failure};

const LIB: &str = "libsockdoc_keepalive.so";

/// Where the library is: `$SOCKDOC_PRELOAD`, beside the sockdoc binary, or the system library dirs.
fn find_library() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SOCKDOC_PRELOAD") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(LIB));
            candidates.push(dir.join("../lib/sockdoc").join(LIB));
        }
    }
    candidates.push(PathBuf::from("/usr/local/lib/sockdoc").join(LIB));
    candidates.push(PathBuf::from("/usr/lib/sockdoc").join(LIB));
    candidates.into_iter().find(|p| p.is_file())
}

pub fn run(g: &Global, a: &RunWithKeepaliveArgs) -> Result<Exit, Failure> {
    let lang = g.lang();
    let Some((program, args)) = a.command.split_first() else {
        return Err(Failure::usage(text(lang, Msg::RunNeedsCommand, &[])));
    };
    let lib = find_library()
        .ok_or_else(|| Failure::new(Exit::Unavailable, text(lang, Msg::PreloadMissing, &[LIB])))?;
    let preload = match std::env::var("LD_PRELOAD") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", lib.display()),
        _ => lib.display().to_string(),
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(args)
        .env("LD_PRELOAD", preload)
        .env("SOCKDOC_KEEPALIVE_IDLE", a.idle.to_string())
        .env("SOCKDOC_KEEPALIVE_INTVL", a.intvl.to_string())
        .env("SOCKDOC_KEEPALIVE_CNT", a.cnt.to_string());
    if let Some(t) = a.user_timeout {
        cmd.env("SOCKDOC_KEEPALIVE_USER_TIMEOUT", t.to_string());
    }
    // exec only returns on failure.
    let err = cmd.exec();
    Err(Failure::new(
        if err.kind() == std::io::ErrorKind::NotFound {
            Exit::NoInput
        } else {
            Exit::Io
        },
        text(lang, Msg::CannotStart, &[program, &err.to_string()]),
    ))
}
