//! sockdoc: find out why a Linux server is drowning in connections, and fix it.
//!
//! The binary only wires the crates: `sockdoc-core` (the census session, filters, findings, words),
//! `sockdoc-act` (the treat path), `sockdoc-serve`, `sockdoc-reap` and `sockdoc-top` (the daemons and
//! the live view), `sockdoc-runtime` (stop flag, stderr lines, namespace watch), over `sockdoc-diag`
//! (netlink) and `sockdoc-proc` (/proc). Each subcommand lives in `cmd/`; see README.md.

mod age;
mod census;
mod cli;
mod cmd;
mod error;
mod fmt;
mod json;
mod replay;
mod report;
mod scope;
mod table;
mod term;
mod treat;

use sockdoc_core::i18n::usage::{text as ut, UsageMsg as U};
use sockdoc_core::i18n::{text, Lang, Msg};
use sockdoc_runtime::{log, signals};

use std::io::{BufWriter, Write};

use clap::Parser;

use cli::{Cli, Command};
use error::{Exit, Failure};

fn main() {
    // `-o LIST` of column names is `--columns LIST` (cli/habits.rs); everything else is clap's.
    let args = cli::habits::prepass(std::env::args_os().collect());
    let mut cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    std::process::exit(0);
                }
                _ => {
                    // One line, and exit 64 (clap's own code 2 would read as "critical findings").
                    log::log_line!("sockdoc: {}", usage_line(&e, lang_of_args()));
                    std::process::exit(Exit::Usage as i32);
                }
            }
        }
    };
    // `--format json` is `--json`, for every command that reads `json`.
    if cli.global.format == Some(cli::Format::Json) {
        cli.global.json = true;
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let result = run(&cli, &mut out).and_then(|code| {
        out.flush().map_err(Failure::output)?;
        Ok(code)
    });
    match result {
        Ok(code) => std::process::exit(code as i32),
        Err(f) => {
            let _ = out.flush();
            if !f.message.is_empty() {
                log::log_line!("sockdoc: {}", error::bounded(&f.message));
            }
            std::process::exit(f.exit as i32);
        }
    }
}

/// The language asked for on a command line that did not parse: `--lang` if it is there, else the
/// locale.
fn lang_of_args() -> Lang {
    let args: Vec<String> = std::env::args().collect();
    let given = args.iter().enumerate().find_map(|(i, a)| match a.as_str() {
        "--lang" => args.get(i + 1).map(String::as_str),
        _ => a.strip_prefix("--lang="),
    });
    match given {
        Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        _ => Lang::from_env(),
    }
}

/// The one line a command line that cannot be parsed gets, in `lang`: the parser's kinds of error
/// that a person meets most, worded from the catalog; any other in the parser's (English) words.
fn usage_line(e: &clap::Error, lang: Lang) -> String {
    use clap::error::{ContextKind as K, ContextValue, ErrorKind};
    let ctx = |k: K| match e.get(k) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let said = match (e.kind(), ctx(K::InvalidArg), ctx(K::InvalidValue)) {
        (ErrorKind::UnknownArgument, Some(arg), _) => Some(ut(lang, U::UnknownArgument, &[&arg])),
        (ErrorKind::InvalidSubcommand, _, _) => {
            ctx(K::InvalidSubcommand).map(|name| ut(lang, U::UnknownCommand, &[&name]))
        }
        (ErrorKind::InvalidValue, Some(arg), Some(value)) => {
            let mut line = ut(lang, U::InvalidValue, &[&value, &arg]);
            if let Some(valid) = ctx(K::ValidValue) {
                line.push_str(&ut(lang, U::PossibleValues, &[&valid]));
            }
            Some(line)
        }
        (ErrorKind::MissingRequiredArgument, Some(args), _) => Some(ut(lang, U::Missing, &[&args])),
        (ErrorKind::ArgumentConflict, Some(arg), _) => ctx(K::PriorArg).map(|other| {
            if other == arg {
                ut(lang, U::Repeated, &[&arg])
            } else {
                ut(lang, U::Conflict, &[&arg, &other])
            }
        }),
        _ => None,
    };
    // clap's "tip: a similar ... exists" is on a later line: keep it in the one line.
    let tip = ctx(K::SuggestedSubcommand)
        .or_else(|| ctx(K::SuggestedArg))
        .map(|s| ut(lang, U::DidYouMean, &[&s]));
    let said = said.map(|line| line + tip.as_deref().unwrap_or(""));
    let line = said.unwrap_or_else(|| {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        first.trim_start_matches("error: ").to_string() + tip.as_deref().unwrap_or("")
    });
    ut(lang, U::SeeHelp, &[&error::bounded(&line)])
}

/// Whether `command` writes a report that has a CSV form.
fn has_csv(command: Option<&Command>) -> bool {
    match command {
        Some(Command::Stats(_)) => true,
        Some(Command::List(a) | Command::Ss(a)) => !a.kill,
        Some(Command::Ghosts(a)) => !a.probe,
        _ => false,
    }
}

/// `list` and `ss`: `-s` is `stats`, `-K` is `kill`, else the listing.
fn list(
    g: &cli::Global,
    a: &cli::ListArgs,
    ss: bool,
    out: &mut dyn Write,
) -> Result<Exit, Failure> {
    use cmd::list::habits;
    if a.summary {
        report::present(g, cmd::stats::run(g, &habits::as_stats(a)), out)
    } else if a.kill {
        cmd::kill::run(g, &habits::as_kill(a, ss), out)
    } else {
        report::present(g, cmd::list::run(g, a, ss), out)
    }
}

/// Whether `command` only reads, so it can judge evidence (`--from`) instead of the live kernel.
fn reads_only(command: Option<&Command>) -> bool {
    match command {
        None | Some(Command::Doctor(_) | Command::Stats(_)) => true,
        Some(Command::List(a) | Command::Ss(a)) => !a.kill,
        Some(Command::Ghosts(a)) => !a.probe,
        Some(Command::Conntrack(_)) => true,
        Some(Command::Sysctl(a)) => matches!(a.command, cli::SysctlCommand::Check),
        _ => false,
    }
}

fn run(cli: &Cli, out: &mut dyn Write) -> Result<Exit, Failure> {
    let d = &cli.doctor;
    if cli.command.is_some()
        && (d.idle.is_some() || d.interval != cli::DEFAULT_INTERVAL || d.verbose)
    {
        return Err(Failure::usage(text(
            cli.global.lang(),
            Msg::DoctorFlagsFirst,
            &[],
        )));
    }
    if let Some(refused) = report::csv_refused(&cli.global, has_csv(cli.command.as_ref())) {
        return Err(refused);
    }
    if !cli.global.from.is_empty() && !reads_only(cli.command.as_ref()) {
        return Err(Failure::usage(text(
            cli.global.lang(),
            Msg::FromReadOnly,
            &[],
        )));
    }
    match &cli.command {
        Some(Command::Analyze(a)) => {
            let mut g = cli.global.clone();
            g.from = a.paths.clone();
            cmd::doctor::run(&g, &a.doctor, out)
        }
        Some(Command::Doctor(a)) => cmd::doctor::run(&cli.global, a, out),
        Some(Command::Ghosts(a)) => cmd::ghosts::run(&cli.global, a, out),
        Some(Command::Kill(a)) => cmd::kill::run(&cli.global, a, out),
        Some(Command::Keepalive(a)) => cmd::keepalive::run(&cli.global, a, out),
        Some(Command::RunWithKeepalive(a)) => cmd::preload::run(&cli.global, a),
        Some(Command::Completions(a)) => cmd::docs::completions(a, out),
        Some(Command::Man(a)) => cmd::docs::man(&cli.global, a, out),
        Some(Command::Serve(a)) => cmd::serve::run(&cli.global, a, out),
        Some(Command::Reap(a)) => cmd::reap::run(&cli.global, a, out),
        Some(Command::Events(a)) => cmd::events::run(&cli.global, a, out),
        Some(Command::Conntrack(a)) => {
            report::present(&cli.global, cmd::conntrack::run(&cli.global, a), out)
        }
        Some(Command::Sysctl(a)) => cmd::sysctl::run(&cli.global, a, out),
        Some(Command::Stats(a)) => {
            report::present(&cli.global, cmd::stats::run(&cli.global, a), out)
        }
        Some(Command::List(a)) => list(&cli.global, a, false, out),
        Some(Command::Ss(a)) => list(&cli.global, a, true, out),
        Some(Command::Diff(a)) => cmd::diff::run(&cli.global, a, out),
        Some(Command::Snapshot(a)) => cmd::snapshot::run(&cli.global, a, out),
        Some(Command::Top(a)) => cmd::top::run(&cli.global, a, out),
        Some(Command::Record(a)) => cmd::record::run(&cli.global, a),
        None => cmd::doctor::run(&cli.global, &cli.doctor, out),
    }
}
