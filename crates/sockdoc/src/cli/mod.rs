//! Command-line interface: every subcommand, flag and help text. Parsing only; no work happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};

mod daemon;
mod docs;
pub mod habits;
mod treat;
mod view;

pub use daemon::*;
pub use docs::*;
pub use treat::*;
pub use view::*;

pub const AFTER_HELP: &str = "\
Exit codes:
  0   ok
  1   findings at warning level (doctor); the two sides differ (diff)
  2   critical findings (doctor)
  64  usage error: a bad flag, filter word or column
  66  no such network namespace or process
  69  a kernel feature is missing (sock_diag, IPv6, udp_diag), or a daemon's
      namespace was replaced under it (serve, reap, events; see
      --follow-netns)
  74  I/O error
  77  permission denied (run with sudo)

Filters (stats, list) follow ss, plus sockdoc words:
  state established '( sport = :21 )'    dst 10.0.0.0/8    proc nginx    pid 42
  idle>5m    '!keepalive'    retrans>0    recvq>0    (one word, or quoted:
             'idle > 5m';
  full list: sockdoc list --help)";

/// Find out why a Linux server is drowning in connections, and fix it.
#[derive(Debug, Parser)]
#[command(
    name = "sockdoc",
    version,
    about,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Without a command, sockdoc runs doctor and takes its options (`sockdoc --idle 10m`).
    #[command(flatten)]
    pub doctor: DoctorArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// Run inside the network namespace `ip netns` calls NAME.
    #[arg(long, global = true, value_name = "NAME", conflicts_with_all = ["netns_pid", "all_netns"])]
    pub netns: Option<String>,
    /// Run inside the network namespace of process PID (a container's, say).
    #[arg(long, global = true, value_name = "PID", conflicts_with = "all_netns")]
    pub netns_pid: Option<u32>,
    /// Every network namespace on the host, named or held only by processes; each labelled with the
    /// container, pod or systemd service living in it (from the cgroup of a process holding it).
    #[arg(long, global = true)]
    pub all_netns: bool,
    /// Daemons (serve, reap, events, top): when the name given to --netns comes to mean another
    /// namespace (deleted and recreated), switch to the new one and log it. Without it they stay
    /// pinned to the namespace they started in: serve, reap and events log one line and exit 69, top
    /// shows a banner. With --netns-pid, the process exiting always stops them (a pid does not come
    /// back; a reused one is another process).
    #[arg(long, global = true)]
    pub follow_netns: bool,
    /// Machine-readable output (documented schema, `"schema": 1`).
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format: text, json (the same as --json) or csv (RFC 4180, one header row; list,
    /// ss, stats and ghosts).
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Language of messages [default: from LC_ALL/LANG].
    #[arg(long, global = true, value_enum)]
    pub lang: Option<LangArg>,
    /// Judge evidence instead of the live kernel: a `sockdoc snapshot` file, or what was pasted
    /// from another host (ss or netstat output, /proc/net files, sysctl -a, limits, a sosreport
    /// directory or tarball; several PATHs, or a directory of mixed pieces, are combined). For the
    /// commands that only read: doctor, stats, list, ghosts (without --probe), conntrack (from
    /// sysctl -a, /proc/net/nf_conntrack, conntrack -L or -S) and sysctl check (from sysctl -a).
    /// What the evidence could not tell is said, not guessed.
    #[arg(long, global = true, value_name = "PATH", conflicts_with_all = ["netns", "netns_pid", "all_netns"])]
    pub from: Vec<std::path::PathBuf>,
    /// With --from DIR (a directory `sockdoc record` writes): the time to replay, as RFC 3339
    /// (2026-11-01T03:12:00Z), a local date and time (2026-11-01 03:12), HH:MM today, or -2h. The
    /// doctor, stats and list judge the nearest full snapshot at or before it, and doctor also
    /// shows the findings recorded for that minute [default: the latest].
    #[arg(long, global = true, value_name = "TIME", requires = "from")]
    pub at: Option<String>,
}

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    En,
    Zh,
}

impl Global {
    /// The format asked for: `--format`, or JSON for `--json`.
    pub fn format(&self) -> Format {
        match self.format {
            Some(f) => f,
            None if self.json => Format::Json,
            None => Format::Text,
        }
    }

    /// The language to speak: `--lang`, else the locale.
    pub fn lang(&self) -> sockdoc_core::i18n::Lang {
        match self.lang {
            Some(LangArg::En) => sockdoc_core::i18n::Lang::En,
            Some(LangArg::Zh) => sockdoc_core::i18n::Lang::Zh,
            None => sockdoc_core::i18n::Lang::from_env(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What is wrong with this server's connections, the evidence, and how to fix it (the default).
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorArgs),
    /// Half-open ESTABLISHED suspects: no keepalive, nothing in flight, silent for too long.
    #[command(after_help = GHOSTS_HELP)]
    Ghosts(GhostsArgs),
    /// Close matching connections in any state (SOCK_DESTROY, else shutdown through the owner's fd,
    /// else a forged RST).
    #[command(after_help = KILL_HELP)]
    Kill(KillArgs),
    /// Turn TCP keepalive on for a running service's connections and listeners, without a restart.
    #[command(after_help = KEEPALIVE_HELP)]
    Keepalive(KeepaliveArgs),
    /// Start a program with keepalive forced on for every TCP socket it creates (LD_PRELOAD library).
    RunWithKeepalive(RunWithKeepaliveArgs),
    /// Prometheus/OpenMetrics exporter: /metrics and /healthz (loopback by default).
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Daemon enforcing idle policies on services that set none: idle timeout, connection cap with
    /// idle-first eviction, CLOSE-WAIT age, keepalive; JSON-lines action log, /metrics, SIGHUP reload.
    #[command(after_help = REAP_HELP)]
    Reap(ReapArgs),
    /// A live stream of connection ends: peer, the state it ended from, lifetime, owner, bytes.
    #[command(after_help = EVENTS_HELP)]
    Events(EventsArgs),
    /// The connection-tracking table: fill, drops, and what fills it (protocols, states, sources).
    Conntrack(ConntrackArgs),
    /// Audit connection sysctls (check), write the fix as a sysctl.d snippet (plan), apply or roll it back.
    #[command(after_help = SYSCTL_HELP)]
    Sysctl(SysctlArgs),
    /// Count sockets: state histogram for TCP and UDP, and top groups with --by.
    #[command(after_help = STATS_HELP)]
    Stats(StatsArgs),
    /// One line per socket: addresses, state, queues, timer, idle time and owner.
    #[command(after_long_help = crate::cmd::list::long_help())]
    List(ListArgs),
    /// An ss command line answered as ss answers it (TCP and UDP): the same flags and filter
    /// language, ss's output (`users:((...))`, `timer:(...)`).
    #[command(after_help = SS_HELP)]
    Ss(ListArgs),
    /// The doctor on evidence from another host or another time: a snapshot, ss or netstat output,
    /// /proc/net files, a sosreport (`sockdoc analyze PATH...` is `sockdoc --from PATH... doctor`).
    #[command(after_help = ANALYZE_HELP)]
    Analyze(AnalyzeArgs),
    /// What changed between two censuses (each a snapshot, a dump, or `now`): connections new,
    /// gone and persisting by state, port, process, service and peer; findings appeared or cleared.
    #[command(after_help = DIFF_HELP)]
    Diff(DiffArgs),
    /// Write one census and the kernel state doctor judges to a compact, versioned file, to be
    /// diagnosed elsewhere or later.
    #[command(after_help = SNAPSHOT_HELP)]
    Snapshot(SnapshotArgs),
    /// Flight recorder: a census every minute kept on disk under a budget, the first-seen time of
    /// every connection (list -o age), and any recorded minute replayed with --from DIR --at TIME.
    #[command(after_help = RECORD_HELP)]
    Record(RecordArgs),
    /// Live view: totals and trends by state, tables by peer, port, process, ghosts and findings,
    /// drill-down to sockets, and kill / keepalive / probe from the view.
    #[command(after_help = TOP_HELP)]
    Top(TopArgs),
    /// Print the completion script for bash, zsh or fish.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Write the manual pages, one per command, generated from these definitions (packaging).
    #[command(hide = true)]
    Man(ManArgs),
}

/// Which sockets: protocol and family switches shared by stats and list.
#[derive(Debug, Args, Clone, Default)]
pub struct Select {
    /// TCP only.
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// UDP only.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// IPv4 only.
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every line of every command's text after the options, longer than 80 columns (clap wraps
    /// those again at the terminal's width, which breaks the examples' columns).
    fn long_lines(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        let texts = [cmd.get_after_help(), cmd.get_after_long_help()];
        for text in texts.into_iter().flatten() {
            for line in text.to_string().lines() {
                if line.chars().count() > 80 {
                    out.push(format!("{path}: {line}"));
                }
            }
        }
        for sub in cmd.get_subcommands() {
            long_lines(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn help_texts_fit_80_columns() {
        let mut out = Vec::new();
        long_lines(&super::Cli::command(), "sockdoc", &mut out);
        assert!(
            out.is_empty(),
            "{} lines over 80 columns:\n{}",
            out.len(),
            out.join("\n")
        );
    }
}
