//! Completions and manual pages as a user meets them: the bash script loads in a real bash and
//! completes commands and flags through its own completion function; zsh and fish read theirs; `man
//! -l` and groff render every page without a warning, and there is one page per command `--help`
//! lists, nested ones included.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sockdoc");

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("start the program");
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What bash's completion function offers for `line` (completing its last word).
fn bash_complete(line: &str) -> Vec<String> {
    let script = format!(
        r#"source <("{BIN}" completions bash) || exit 3
COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<< "$COMP_LINE"
[[ "$COMP_LINE" == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
prev=""; (( COMP_CWORD > 0 )) && prev=${{COMP_WORDS[COMP_CWORD-1]}}
_sockdoc sockdoc "${{COMP_WORDS[COMP_CWORD]}}" "$prev"
printf '%s\n' "${{COMPREPLY[@]}}""#
    );
    let out = run(Command::new("bash").args(["--norc", "-c", &script]));
    stdout(&out).lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn bash_completion_loads_and_completes_commands_and_flags() {
    let out = run(Command::new("bash").args([
        "--norc",
        "-c",
        &format!(r#"source <("{BIN}" completions bash) && complete -p sockdoc"#),
    ]));
    let registered = stdout(&out);
    assert!(
        registered.contains("_sockdoc") && registered.trim_end().ends_with("sockdoc"),
        "{registered}"
    );

    assert_eq!(bash_complete("sockdoc st"), vec!["stats".to_string()]);
    let sysctl = bash_complete("sockdoc sysctl ");
    for sub in ["check", "plan", "apply", "rollback"] {
        assert!(sysctl.iter().any(|w| w == sub), "{sub} not in {sysctl:?}");
    }
    let flags = bash_complete("sockdoc stats --b");
    assert!(flags.iter().any(|w| w == "--by"), "{flags:?}");
    let shells = bash_complete("sockdoc completions ");
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            shells.iter().any(|w| w == shell),
            "{shell} not in {shells:?}"
        );
    }
    // The hidden page generator is not offered.
    assert!(!bash_complete("sockdoc ma").iter().any(|w| w == "man"));
}

#[test]
fn fish_completes_commands_and_zsh_reads_its_script() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let fish = dir.path().join("sockdoc.fish");
    let zsh = dir.path().join("_sockdoc");
    for (shell, path) in [("fish", &fish), ("zsh", &zsh)] {
        let out = run(Command::new(BIN).args(["completions", shell]));
        std::fs::write(path, &out.stdout).expect("write the script");
    }
    let fish_cmd = format!("source {}; complete -C'sockdoc st'", fish.display());
    let offered = stdout(&run(Command::new("fish").args([
        "--no-config",
        "-c",
        &fish_cmd,
    ])));
    let words: Vec<&str> = offered
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(words, vec!["stats"], "{offered}");

    // zsh: the script parses, and loaded through compinit it defines the completion function
    // and binds it to sockdoc.
    run(Command::new("zsh").args(["-n", &zsh.display().to_string()]));
    let zsh_cmd = format!(
        "fpath=({} $fpath); autoload -Uz compinit; compinit -u -D; print -r -- $_comps[sockdoc]",
        dir.path().display()
    );
    let bound = stdout(&run(Command::new("zsh").args(["-f", "-c", &zsh_cmd])));
    assert_eq!(bound.trim(), "_sockdoc", "{bound}");
}

/// The commands `--help` lists under `prefix` (`sockdoc`, `sockdoc sysctl`), as page names,
/// recursively; `help` is clap's own and has no page.
fn commands_in_help(args: &[&str], names: &mut BTreeSet<String>) {
    let out = run(Command::new(BIN).args(args).arg("--help"));
    let help = stdout(&out);
    let Some(start) = help.find("\nCommands:\n") else {
        return;
    };
    let subs: Vec<String> = help[start + 11..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|w| w != "help")
        .collect();
    for sub in subs {
        let mut path: Vec<&str> = args.to_vec();
        path.push(&sub);
        names.insert(format!("sockdoc-{}", path.join("-")));
        commands_in_help(&path, names);
    }
}

fn render_warnings(page: &Path) -> String {
    let man = Command::new("man")
        .args(["-l", "--warnings=w"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .expect("run man");
    assert!(man.status.success(), "man -l {}: {man:?}", page.display());
    let groff = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff");
    assert!(
        groff.status.success(),
        "groff {}: {groff:?}",
        page.display()
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&man.stderr),
        String::from_utf8_lossy(&groff.stderr)
    )
}

fn rendered(page: &Path) -> String {
    // Piped, man writes plain text (no overstrike for bold).
    let out = run(Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8"));
    stdout(&out)
}

#[test]
fn one_man_page_per_command_each_rendering_without_warnings() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let printed = stdout(&run(Command::new(BIN)
        .args(["man", "--dir"])
        .arg(dir.path())));
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .expect("read the pages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(printed.lines().count(), written.len(), "{printed}");

    let mut expected = BTreeSet::from(["sockdoc".to_string()]);
    commands_in_help(&[], &mut expected);
    assert!(expected.contains("sockdoc-sysctl-check"), "{expected:?}");
    let expected: BTreeSet<String> = expected.into_iter().map(|n| format!("{n}.1")).collect();
    assert_eq!(written, expected);

    for name in &written {
        let page = dir.path().join(name);
        let warnings = render_warnings(&page);
        assert!(warnings.is_empty(), "{name}: {warnings}");
        let text = rendered(&page);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] {
            assert!(
                text.lines().any(|l| l == section),
                "{name} has no {section}"
            );
        }
    }

    // The general exit codes on the main page, a command's own on its page; examples from the
    // help texts, with the quotes a shell needs kept as typed.
    let main = rendered(&dir.path().join("sockdoc.1"));
    assert!(main.contains("64  usage error"), "{main}");
    assert!(main.contains("'idle > 5m'"), "{main}");
    let kill = rendered(&dir.path().join("sockdoc-kill.1"));
    let exit_at = kill.find("EXIT STATUS").expect("exit status");
    assert!(kill[exit_at..].contains("0 all killed"), "{kill}");
    let examples_at = kill.find("\nEXAMPLES\n").expect("examples");
    assert!(
        kill[examples_at..].contains("sockdoc kill --dry-run state close-wait pid 4242"),
        "{kill}"
    );
    let stats = rendered(&dir.path().join("sockdoc-stats.1"));
    assert!(stats.contains("--by"), "{stats}");
    assert!(stats.contains("64  usage error"), "{stats}");
}

#[test]
fn a_page_directory_that_cannot_be_made_is_one_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let out = Command::new(BIN)
        .args(["man", "--dir"])
        .arg(file.join("pages"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(74), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = Command::new(BIN)
        .args(["completions", "tcsh"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}
