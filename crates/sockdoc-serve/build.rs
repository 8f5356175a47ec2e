//! Build facts for `sockdoc_build_info`: the git revision (`SOCKDOC_REVISION` from the environment
//! when a package build has no git checkout, else `git rev-parse`; empty when neither says) and the
//! rustc version. Two short commands: no build-script crate is worth its dependencies for them.

use std::path::Path;
use std::process::Command;

fn run(cmd: &str, args: &[&str], dir: &Path) -> Option<String> {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&dir);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // `rustc 1.95.0 (f2d3ce0bd 2026-03-21)` -> `1.95.0`
    let rustc_version = run(&rustc, &["--version"], dir)
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default();
    println!("cargo:rustc-env=SOCKDOC_RUSTC={rustc_version}");
    println!("cargo:rerun-if-env-changed=SOCKDOC_REVISION");
    let revision = match std::env::var("SOCKDOC_REVISION") {
        Ok(r) => r,
        Err(_) => {
            // Build again when HEAD moves: HEAD itself, and the branch it names.
            for what in ["HEAD", "--symbolic-full-name HEAD"] {
                let path = match what {
                    "HEAD" => run("git", &["rev-parse", "--git-path", "HEAD"], dir),
                    _ => run("git", &["rev-parse", "--symbolic-full-name", "HEAD"], dir)
                        .and_then(|r| run("git", &["rev-parse", "--git-path", &r], dir)),
                };
                if let Some(p) = path.map(|p| dir.join(p)).filter(|p| p.exists()) {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
            run("git", &["rev-parse", "--short=12", "HEAD"], dir).unwrap_or_default()
        }
    };
    println!("cargo:rustc-env=SOCKDOC_REVISION={revision}");
    println!("cargo:rerun-if-changed=build.rs");
}
