//! Durations round-trip: every duration sockdoc prints is taken back by its flags and filters
//! (`keepalive window 2h11m` → `--idle 2h11m`), with `ss`'s and people's spellings too (`1min19sec`,
//! `1.5s`, `2min`), and a comparison typed bare (the shell took `> 5m` as a redirection) gets a
//! hint that shows it quoted or as one word.

use std::process::{Command, Output};

fn sockdoc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(args)
        .env("LANG", "C")
        .output()
        .expect("run sockdoc")
}

#[test]
fn what_doctor_prints_it_takes_back() {
    let out = sockdoc(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let window = text
        .lines()
        .find_map(|l| l.strip_prefix("keepalive window "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no keepalive window in:\n{text}"))
        .to_string();
    for idle in [window.as_str(), "1min19sec", "1.5s", "2min", "4m37s", "90"] {
        let run = sockdoc(&["doctor", "--idle", idle]);
        assert!(
            run.status.code().is_some_and(|c| c <= 2),
            "--idle {idle}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let filter = format!("idle>{idle}");
        let run = sockdoc(&["list", "-H", &filter]);
        assert_eq!(
            run.status.code(),
            Some(0),
            "{filter}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // As three words, quoted by the caller.
    assert_eq!(
        sockdoc(&["list", "-H", "idle", ">", "4m37s"]).status.code(),
        Some(0)
    );
}

#[test]
fn a_bare_comparison_gets_a_quoted_hint() {
    // What is left of `sockdoc list idle > 5m` once the shell has taken `> 5m`.
    let run = sockdoc(&["list", "idle"]);
    assert_eq!(run.status.code(), Some(64));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("idle>5m") && err.contains("'idle > 5m'"),
        "{err}"
    );
    let bad = sockdoc(&["doctor", "--idle", "soon"]);
    assert_eq!(bad.status.code(), Some(64));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("2h11m"), "{err}");
}
