//! `scripts/test.sh` and `scripts/package.sh` under sudo, whose secure_path drops ~/.cargo/bin: they
//! find the invoking user's cargo (with that user's rustup toolchains), or root's, or say in one line
//! how to run them. The homes are arranged in a private mount namespace (a tmpfs over /root and over
//! the home of the `mail` system user, the real ~/.cargo and ~/.rustup bound into it), so the system
//! itself is never changed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// sudo's default secure_path on Debian.
const SECURE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace")
}

/// Where rustup keeps cargo for the user running the tests.
fn rustup_dirs() -> (PathBuf, PathBuf) {
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let (cargo, rustup) = (home.join(".cargo"), home.join(".rustup"));
    assert!(
        cargo.join("bin/cargo").is_file() && rustup.is_dir(),
        "these tests find cargo where rustup installs it: {} and {} are missing",
        cargo.display(),
        rustup.display()
    );
    (cargo, rustup)
}

/// Runs `script` with bash in a private mount namespace after `setup`, with only sudo's
/// environment: secure_path, HOME and the variables given.
fn in_namespace(setup: &str, script: &str, env: &[(&str, &str)]) -> Output {
    let full = format!(
        "set -e\n{setup}\nset +e\ncd {}\n{script}",
        workspace().display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "bash", "-c", &full])
        .env_clear()
        .env("PATH", SECURE_PATH);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run unshare")
}

/// The setup that hides root's home, and gives `mail` (home /var/mail) the real cargo and rustup
/// when `give_mail` is set.
fn homes(give_mail: bool) -> String {
    let (cargo, rustup) = rustup_dirs();
    let mut s = String::from("mount -t tmpfs sdtest-mail /var/mail\n");
    if give_mail {
        s.push_str(&format!(
            "mkdir /var/mail/.cargo /var/mail/.rustup\n\
             mount --bind {} /var/mail/.cargo\nmount --bind {} /var/mail/.rustup\n",
            cargo.display(),
            rustup.display()
        ));
    }
    s.push_str("mount -t tmpfs sdtest-root /root\n");
    s
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_invoking_users_cargo_is_found_with_their_toolchains() {
    let out = in_namespace(
        &homes(true),
        ". scripts/lib/find-cargo.sh && find_cargo && command -v cargo && echo \"$RUSTUP_HOME\" \
         && cargo --version",
        &[("SUDO_USER", "mail"), ("HOME", "/root")],
    );
    let said = lines(&out.stdout);
    let err = lines(&out.stderr);
    assert!(out.status.success(), "{said:?} {err:?}");
    assert_eq!(said[0], "/var/mail/.cargo/bin/cargo", "{said:?}");
    assert_eq!(said[1], "/var/mail/.rustup", "{said:?}");
    assert!(said[2].starts_with("cargo 1."), "{said:?}");
    assert_eq!(err.len(), 1, "{err:?}");
    assert!(
        err[0].contains("using /var/mail/.cargo/bin/cargo"),
        "{err:?}"
    );
}

#[test]
fn roots_own_cargo_is_found_without_sudo_user() {
    let (cargo, rustup) = rustup_dirs();
    let out = in_namespace(
        "",
        ". scripts/lib/find-cargo.sh && find_cargo && command -v cargo && echo \"$RUSTUP_HOME\"",
        &[("HOME", &std::env::var("HOME").expect("HOME"))],
    );
    let said = lines(&out.stdout);
    assert!(out.status.success(), "{said:?} {:?}", lines(&out.stderr));
    assert_eq!(
        said,
        [
            cargo.join("bin/cargo").display().to_string(),
            rustup.display().to_string()
        ]
    );
}

#[test]
fn without_cargo_anywhere_test_sh_says_how_to_run_it_in_one_line() {
    for script in ["scripts/test.sh", "scripts/package.sh"] {
        let out = in_namespace(
            &homes(false),
            &format!("./{script}"),
            &[("SUDO_USER", "mail"), ("HOME", "/root")],
        );
        let err = lines(&out.stderr);
        assert_eq!(out.status.code(), Some(127), "{script}: {err:?}");
        assert!(out.stdout.is_empty(), "{script}: {:?}", lines(&out.stdout));
        assert_eq!(err.len(), 1, "{script}: {err:?}");
        assert!(
            err[0].contains("cargo not found") && err[0].contains("sudo env \"PATH=$PATH\""),
            "{err:?}"
        );
    }
}
