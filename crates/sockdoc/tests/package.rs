//! The Debian package as an administrator meets it: `scripts/package.sh` builds it (cargo-deb, one
//! release build), `dpkg -i` installs it into this system, and each piece is where Debian and sockdoc
//! look for it — the binary on PATH, man pages found by `man -w`, completions loaded by bash's, zsh's
//! and fish's own loaders, the units where systemd reads them (naming the installed binary), the
//! preload library found by `run-with-keepalive` with no hint. Then `dpkg -r` and every file is gone.
//! A guard purges the package even when an assertion fails; files already on the system stop the
//! test before anything is installed, so the system is left as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACKAGE: &str = "sockdoc";

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start the program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Purges the package when dropped, whether the test passed or not.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", PACKAGE])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

fn is_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "installed")
        .unwrap_or(false)
}

/// The regular files and symlinks in the .deb, as absolute paths.
fn files_in(deb: &Path) -> Vec<String> {
    let out = run(Command::new("dpkg-deb").arg("-c").arg(deb));
    text(&out)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

const SCRIPT: &str = r#"
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname()); s, _ = l.accept()
for x in (l, c, s):
    print(x.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
          x.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE))
"#;

#[test]
fn the_deb_installs_every_piece_where_it_is_looked_for_and_removes_cleanly() {
    assert!(
        !is_installed(),
        "a {PACKAGE} package is already installed on this system: remove it (dpkg -r {PACKAGE}) to run this test"
    );
    let built = run(Command::new("bash")
        .arg(workspace().join("scripts/package.sh"))
        .current_dir(workspace()));
    let out = text(&built);
    let deb = PathBuf::from(out.lines().last().unwrap_or_default().trim());
    assert!(
        deb.extension().is_some_and(|e| e == "deb") && deb.is_file(),
        "{out}"
    );

    let files = files_in(&deb);
    // One page per page the binary writes (tests/docs.rs checks those against the commands).
    let written = tempfile::tempdir().expect("temporary directory");
    run(Command::new(env!("CARGO_BIN_EXE_sockdoc"))
        .args(["man", "--dir"])
        .arg(written.path()));
    let mut expected: Vec<String> = std::fs::read_dir(written.path())
        .expect("read the pages")
        .map(|e| {
            let name = e.expect("entry").file_name();
            format!("/usr/share/man/man1/{}.gz", name.to_string_lossy())
        })
        .collect();
    let mut pages: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/man/"))
        .cloned()
        .collect();
    expected.sort();
    pages.sort();
    assert_eq!(pages, expected);
    for f in [
        "/usr/bin/sockdoc",
        "/usr/lib/sockdoc/libsockdoc_keepalive.so",
        "/lib/systemd/system/sockdoc-serve.service",
        "/lib/systemd/system/sockdoc-reap.service",
        "/usr/share/doc/sockdoc/examples/reap.toml.example",
        "/usr/share/man/man1/sockdoc.1.gz",
        "/usr/share/man/man1/sockdoc-stats.1.gz",
        "/usr/share/bash-completion/completions/sockdoc",
        "/usr/share/zsh/vendor-completions/_sockdoc",
        "/usr/share/fish/vendor_completions.d/sockdoc.fish",
        "/usr/share/doc/sockdoc/README.md",
        "/usr/share/doc/sockdoc/LICENSE-MIT",
        "/usr/share/doc/sockdoc/LICENSE-APACHE",
        "/usr/share/doc/sockdoc/copyright",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} not in the package");
    }
    let present: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(
        present.is_empty(),
        "files of the package already on this system (the test would replace them): {present:?}"
    );

    let guard = Installed;
    run(Command::new("dpkg")
        .arg("-i")
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(is_installed());
    for f in &files {
        assert!(Path::new(f).exists(), "{f} not installed");
    }
    check_installed();

    run(Command::new("dpkg")
        .args(["-r", PACKAGE])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let left: Vec<&String> = files.iter().filter(|f| Path::new(f).exists()).collect();
    assert!(left.is_empty(), "left behind by dpkg -r: {left:?}");
    for dir in ["/usr/lib/sockdoc", "/usr/share/doc/sockdoc"] {
        assert!(!Path::new(dir).exists(), "{dir} left behind");
    }
    assert!(!is_installed());
    drop(guard);
}

/// Each installed piece, found the way its user finds it.
fn check_installed() {
    let version = text(&run(Command::new("/usr/bin/sockdoc").arg("--version")));
    assert_eq!(
        version.trim(),
        format!("sockdoc {}", env!("CARGO_PKG_VERSION"))
    );

    let page = text(&run(Command::new("man").args(["-w", "sockdoc-stats"])));
    assert_eq!(page.trim(), "/usr/share/man/man1/sockdoc-stats.1.gz");
    let shown = run(Command::new("man")
        .args(["--warnings=w", "sockdoc-kill"])
        .env("MANWIDTH", "80"));
    assert!(text(&shown).contains("EXIT STATUS"));
    assert!(shown.stderr.is_empty(), "{shown:?}");

    // bash-completion's loader finds the script by the command's name.
    let bash = text(&run(Command::new("bash").args([
        "--norc",
        "-c",
        ". /usr/share/bash-completion/bash_completion; _completion_loader sockdoc; complete -p sockdoc",
    ])));
    assert!(bash.contains("_sockdoc"), "{bash}");
    // fish reads its vendor directories through its own startup files (not under --no-config); a
    // fresh home keeps the user's configuration out.
    let home = tempfile::tempdir().expect("temporary home");
    let fish = text(&run(Command::new("fish")
        .args(["-c", "complete -C'sockdoc st'"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("XDG_DATA_HOME", home.path())));
    assert_eq!(
        fish.lines().next().and_then(|l| l.split('\t').next()),
        Some("stats"),
        "{fish}"
    );
    let zsh = text(&run(Command::new("zsh").args([
        "-f",
        "-c",
        "autoload -Uz compinit; compinit -u -D; print -r -- $_comps[sockdoc]",
    ])));
    assert_eq!(zsh.trim(), "_sockdoc");

    check_units();

    // run-with-keepalive finds /usr/lib/sockdoc/libsockdoc_keepalive.so from /usr/bin/sockdoc.
    let treated = text(&run(Command::new("/usr/bin/sockdoc")
        .args([
            "run-with-keepalive",
            "--idle",
            "77",
            "--",
            "python3",
            "-c",
            SCRIPT,
        ])
        .env_remove("SOCKDOC_PRELOAD")
        .env_remove("LD_PRELOAD")));
    let lines: Vec<&str> = treated.lines().map(str::trim).collect();
    assert_eq!(lines, ["1 77", "1 77", "1 77"], "{treated}");
}

/// The units name the installed binary; systemd reads them (`systemctl cat` where systemd runs,
/// else `systemd-analyze verify` on the installed files).
fn check_units() {
    for unit in ["sockdoc-serve.service", "sockdoc-reap.service"] {
        let path = Path::new("/lib/systemd/system").join(unit);
        let body = std::fs::read_to_string(&path).expect("read the installed unit");
        assert!(body.contains("\nExecStart=/usr/bin/sockdoc "), "{body}");
        assert!(
            !body.contains("/usr/local") && !body.contains("deploy/"),
            "{body}"
        );
        if Path::new("/run/systemd/system").is_dir() {
            let cat = text(&run(Command::new("systemctl").args(["cat", unit])));
            assert!(cat.contains("ExecStart=/usr/bin/sockdoc "), "{cat}");
        }
        let verify = run(Command::new("systemd-analyze").arg("verify").arg(&path));
        let err = String::from_utf8_lossy(&verify.stderr);
        assert!(
            err.trim().is_empty(),
            "systemd-analyze verify {unit}:\n{err}"
        );
    }
    let reap = std::fs::read_to_string("/lib/systemd/system/sockdoc-reap.service")
        .expect("read the reap unit");
    assert!(
        reap.contains("/usr/share/doc/sockdoc/examples/reap.toml.example"),
        "{reap}"
    );
}
