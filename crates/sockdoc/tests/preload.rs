//! `sockdoc run-with-keepalive -- CMD`: a real program started through it gets keepalive on its TCP
//! sockets (from libsockdoc_keepalive.so beside the binary), with the timers asked for.

use std::path::PathBuf;
use std::process::Command;

const SCRIPT: &str = r#"
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); s, _ = l.accept()
for x in (l, c, s):
    print(x.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
          x.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
          x.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
          x.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT))
"#;

/// The preload library beside the binary under test; built if a narrower `cargo test` skipped it.
fn library() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_sockdoc"));
    let lib = bin.with_file_name("libsockdoc_keepalive.so");
    if !lib.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "sockdoc-preload"])
            .status()
            .expect("build the preload library");
        assert!(status.success());
    }
    assert!(lib.is_file(), "{} missing", lib.display());
    lib
}

#[test]
fn started_programs_get_keepalive_on_every_tcp_socket() {
    library();
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args([
            "run-with-keepalive",
            "--idle",
            "77",
            "--intvl",
            "7",
            "--cnt",
            "3",
            "--",
            "python3",
            "-c",
            SCRIPT,
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // Listener, client and the accepted socket (inherited from the listener).
    for l in lines {
        assert_eq!(l.trim(), "1 77 7 3", "{text}");
    }
    let plain = Command::new("python3")
        .args(["-c", SCRIPT])
        .output()
        .expect("run plain");
    let plain = String::from_utf8_lossy(&plain.stdout);
    assert!(
        plain.lines().all(|l| l.starts_with("0 ")),
        "without it: {plain}"
    );
}

#[test]
fn a_missing_command_or_library_is_one_clear_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["run-with-keepalive", "--", "/nonexistent/program"])
        .env("SOCKDOC_PRELOAD", library())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(66));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}
