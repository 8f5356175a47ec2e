//! Command-line interface: every subcommand, flag and help text. Parsing only; no work happens here.

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0   ok
  1   findings at warning level (doctor)
  2   critical findings (doctor)
  64  usage error: a bad flag, filter word or column
  66  no such network namespace or process
  69  a kernel feature is missing (sock_diag, IPv6, udp_diag), or a daemon's namespace was
      replaced under it (serve, reap, events; see --follow-netns)
  74  I/O error
  77  permission denied (run with sudo)

Filters (stats, list) follow ss, plus sockdoc words:
  state established '( sport = :21 )'    dst 10.0.0.0/8    proc nginx    pid 42
  idle > 5m    !keepalive    retrans > 0    recvq > 0      (full list: sockdoc list --help)";

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
    /// Every network namespace on the host, named or held only by processes; each labelled.
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
    /// Language of messages [default: from LC_ALL/LANG].
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    En,
    Zh,
}

impl Global {
    /// The language to speak: `--lang`, else the locale.
    pub fn lang(&self) -> sockdoc_core::i18n::Lang {
        match self.lang {
            Some(Lang::En) => sockdoc_core::i18n::Lang::En,
            Some(Lang::Zh) => sockdoc_core::i18n::Lang::Zh,
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
    /// Live view: totals and trends by state, tables by peer, port, process, ghosts and findings,
    /// drill-down to sockets, and kill / keepalive / probe from the view.
    #[command(after_help = TOP_HELP)]
    Top(TopArgs),
}

const TOP_HELP: &str = "\
Keys:
  1-6, Tab    tables: remote IP, peer prefix, local port, process, ghost suspects, findings
  Up/Down     select a row        Enter  its sockets (timers, idle, queues, owner)   Esc  back
  s > <  r    sort by the next / previous column, reverse
  /           filter (the `sockdoc list` language; empty = all)
  space       mark sockets (drill-down, ghosts)
  k           kill: the marked sockets, the highlighted one, or a whole row (listeners: --listen)
  a           keepalive on the selected service (a local port or process row)
  p           probe ghost suspects (alive or dead)
  z           pause     + -  refresh interval     ?  help     q  quit
Every action shows the exact sockets and asks first, needs root, never touches the caller's own SSH
connection ($SSH_CONNECTION), and appends each socket to the audit log. Needs a terminal (exit 64
otherwise); 80x24 is enough. The census runs on its own thread: the screen never waits for the kernel.
Examples:
  sudo sockdoc top                                 # this namespace, every 2 s
  sudo sockdoc top -d 1 sport = :21                # the FTP service, every second
  sudo sockdoc --netns web top --idle 10m          # ghosts after 10 minutes of silence
  sudo sockdoc top --lang zh";

#[derive(Debug, Args, Clone)]
pub struct TopArgs {
    /// Time between two censuses (the screen also redraws every second).
    #[arg(short = 'd', long, default_value = "2s", value_name = "DURATION")]
    pub delay: String,
    /// Silence after which an ESTABLISHED connection without keepalive is a ghost suspect
    /// [default: the kernel's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
    /// How often to walk /proc for socket owners (process names), in the background; never more
    /// than a tenth of the time (a walk of 1 s runs at most every 10 s). Sockets opened since the
    /// last walk show `-` until the next.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub owners_every: String,
    /// How often to run the doctor (findings; kernel counters are compared over this interval).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub doctor_every: String,
    /// Prefix length for IPv4 peers in the prefix table.
    #[arg(long, default_value_t = 24, value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=32))]
    pub prefix4: u8,
    /// Prefix length for IPv6 peers in the prefix table.
    #[arg(long, default_value_t = 64, value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=128))]
    pub prefix6: u8,
    /// Let kill from the view take listening sockets.
    #[arg(long)]
    pub listen: bool,
    /// How long a probe from the view lasts.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub probe_time: String,
    /// Keepalive from the view: seconds of idleness before the first probe.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub keepalive_idle: u32,
    /// Keepalive from the view: seconds between unanswered probes.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub keepalive_intvl: u32,
    /// Keepalive from the view: unanswered probes before the kernel drops the connection.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub keepalive_cnt: u32,
    /// Audit log for actions from the view [default: /var/log/sockdoc/audit.jsonl].
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<std::path::PathBuf>,
    /// Start with this filter (the `sockdoc list` language; change it with `/`).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

const EVENTS_HELP: &str = "\
Ends come from the kernel's sock_diag destroy broadcasts (root). They carry no start time and always
say CLOSE, so the namespace is also scanned every --scan: an end then shows the state the connection
was last seen in and its lifetime, `lived 3s-4s` when a scan saw it start (known to within one scan),
`lived >2m` when it was open before events started, `lived <800ms` when it began and ended between
scans. TIME-WAIT sockets expire without a broadcast: their connection's end is reported when it entered
TIME-WAIT or when its owner closed it.
Losses are reported, never silent: a `lost` line (JSON: {\"lost\": N, \"why\": ...}) at least once
a second while losing, and a total on stderr at exit. \"output too slow\": more than --buffer ends
waited for a blocked output and were dropped (counted exactly). \"kernel buffer overflow\": the
kernel dropped broadcasts (ENOBUFS; the receive buffer is --kernel-buffer, 32 MiB): each overflow is
at least one end, and ends of connections a scan saw are then counted exactly once two scans miss
them; ends of connections no scan saw cannot be counted.
--netns is pinned: when the name is deleted and recreated, events stops with exit 69, or follows
the new namespace with --follow-netns (ends in between are lost).
Examples:
  sockdoc events                               # every TCP/UDP end in this namespace
  sockdoc events -p sport = :21                # FTP control connections, with the owner
  sockdoc events --json state close-wait       # connections that ended from CLOSE-WAIT
  sockdoc events --count 100 --for 1m dst 10.0.0.0/8";

const SYSCTL_HELP: &str = "\
Profiles (--profile NAME, on top of the audit's own fixes; an \"at least\" never lowers a value):
  fast-dead-peers  keepalive 120 s + 4 x 15 s, tcp_retries2 8: dead peers found in ~3 minutes
  busy-server      somaxconn and tcp_max_syn_backlog 8192, syncookies 1, netdev_max_backlog 16384
  busy-client      ip_local_port_range 10000 65535, tcp_tw_reuse 1, tcp_max_tw_buckets 262144
Examples:
  sockdoc sysctl check                               # what is wrong, and why
  sockdoc sysctl check --profile busy-client         # what the profile would change here
  sockdoc sysctl plan --out /tmp/90-sockdoc.conf     # the snippet, to review
  sockdoc sysctl apply --profile fast-dead-peers     # set, verify, persist (backup kept)
  sockdoc sysctl rollback                            # runtime values and file as before";

const STATS_HELP: &str = "\
Examples:
  sockdoc stats                                   # netstat -n | awk '/^tcp/ {++S[$NF]} ...'
  sockdoc stats --by remote-ip --top 20           # netstat -nat | awk '{print $5}' | ... | sort -rn
  sockdoc stats state established --by remote-ip # the same, ESTABLISHED only
  sockdoc stats --by process,local-port           # who holds the sockets, on which ports
  sockdoc stats --all-netns                       # every namespace, containers included";

const DOCTOR_HELP: &str = "\
Findings (stable ids, also in --json): ghost-suspects, keepalive-coverage, close-wait-leak,
unreachable-peers, time-wait-pressure, ephemeral-port-exhaustion, listen-overflow, syn-flood,
syn-sent-fanout, closing-piles, udp-trouble, fd-limit, conntrack-full, sysctl-obsolete, sysctl-risky.

Exit code: 0 healthy (info findings only), 1 the worst finding is a warning, 2 a critical one.
Examples:
  sockdoc                          # the same as sockdoc doctor
  sockdoc doctor --json | jq '.namespaces[].findings[].id'
  sockdoc doctor --idle 10m        # call connections silent for 10 minutes ghost suspects
  sockdoc --all-netns doctor       # every namespace, containers included";

const GHOSTS_HELP: &str = "\
A suspect is an ESTABLISHED TCP connection with no keepalive timer, nothing unacknowledged in flight,
and no data or ACK received for longer than --idle (default: the kernel's keepalive window,
tcp_keepalive_time + tcp_keepalive_probes x tcp_keepalive_intvl). Suspects are not proven dead.
With --probe each suspect gets keepalive probes every second for --probe-time (through the owner's fd),
then its original options back: `alive` when the peer ACKed, `dead` when it reset or left the probes
unanswered, `unknown` when it cannot be probed. A suspect no reachable process holds (waiting in
a listener's accept queue, or owned in another pid namespace) gets raw probes instead (CAP_NET_RAW):
its sequence numbers are learned from a challenge ACK and the same keepalive segment is forged from
its address every second; nothing on the socket changes. Each result says which `method` was used.
--reap then closes the dead ones.
Examples:
  sockdoc ghosts                        # every suspect, with owner, peer and idle time
  sockdoc ghosts --idle 30m sport = :21 # the incident's FTP proxy
  sockdoc ghosts --probe --reap --yes sport = :21";

/// Time between the two readings of kernel counters, unless `--interval` says otherwise.
pub const DEFAULT_INTERVAL: &str = "500ms";

#[derive(Debug, Args, Clone)]
pub struct DoctorArgs {
    /// Silence after which an ESTABLISHED connection without keepalive is a ghost suspect
    /// [default: the kernel's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
    /// Time between the two readings of kernel counters (rates, not totals since boot).
    #[arg(long, default_value = DEFAULT_INTERVAL, value_name = "DURATION")]
    pub interval: String,
    /// Show every row and the full text of info findings.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args, Clone)]
pub struct GhostsArgs {
    /// Silence after which a connection is a suspect [default: the kernel's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
    /// Omit the header line.
    #[arg(short = 'H', long = "no-header")]
    pub no_header: bool,
    /// Prove each suspect alive or dead: fast keepalive probes for a moment, then the original
    /// options back exactly (needs root).
    #[arg(long)]
    pub probe: bool,
    /// How long to probe.
    #[arg(
        long,
        default_value = "5s",
        value_name = "DURATION",
        requires = "probe"
    )]
    pub probe_time: String,
    /// Close the connections found dead (with --probe).
    #[arg(long, requires = "probe")]
    pub reap: bool,
    /// Do not ask before reaping (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Audit log for probing and reaping [default: /var/log/sockdoc/audit.jsonl].
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<std::path::PathBuf>,
    /// Narrow the suspects with a filter (same language as `sockdoc list`).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

const KILL_HELP: &str = "\
Safety: a filter is required, and a blank one ('', ' ', an unset $FILTER) is refused as a usage
error; the selection is shown first; --dry-run stops there; --yes is needed
when standard input is not a terminal, and for more than --confirm-above sockets (default 100; on a
terminal, typing the count back also does); --max caps a run; the caller's own SSH connection
($SSH_CONNECTION) is never touched; every socket is recorded in the audit log before it is acted on
(intent records synced to disk before each batch of 512, outcome records after it), and a record that
cannot be written stops the run before the next socket (exit 74, with the report of what was done).
Afterwards the kernel is read again: a socket counts as killed only when it is gone (or, after
shutdown, changed state).
Methods (--method auto tries them in this order and reports, per socket, why each rung failed):
  destroy   SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY, CAP_NET_ADMIN); any state, owner or not.
  shutdown  shutdown(SHUT_RDWR) through the owner's fd (pidfd_getfd); needs an owning process.
  rst       the killcx method (CAP_NET_RAW): a segment forged from the peer makes the socket send
            a challenge ACK, which tells its sequence numbers; then the RST the peer would send
            is forged. ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1/2, LAST-ACK, CLOSING, SYN-RECV, and
            TIME-WAIT unless net.ipv4.tcp_rfc1337 = 1; not UDP, listeners or SYN-SENT. A socket
            answers at most once per net.ipv4.tcp_invalid_ratelimit (500 ms): silent ones are
            asked 3 times. The owner reads ECONNRESET (EPIPE in CLOSE-WAIT). --tell-peer also
            resets the peer's end.
Exit: 0 all killed, 1 some not killed, 64 refused or bad usage, 74 the audit log could not be
written, 77 permission.
Examples:
  sockdoc kill --dry-run state close-wait pid 4242
  sockdoc kill --yes dst 192.168.70.16 sport = :21      # the incident's ghost, by peer
  sockdoc kill --yes --method rst --tell-peer dst 10.1.2.3 # no SOCK_DESTROY: forge the RSTs";

const KEEPALIVE_HELP: &str = "\
Through pidfd_getfd (root), sets SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (and
TCP_USER_TIMEOUT with --user-timeout) on each ESTABLISHED socket and listener the filter selects;
the process keeps running and its future connections inherit it from the listener. A dead peer is
then dropped after idle + intvl x cnt seconds. Options not asked for (TCP_USER_TIMEOUT without
--user-timeout) are left as they are. Values are checked against the kernel's limits first (idle and
intvl 1-32767 s, cnt 1-127); a socket whose write fails part-way gets its previous values back.
Same safety rules as kill, and the same audit log: intent records synced before each batch of 512
sockets is changed, outcome records with the values before and after synced before the next batch;
a run that cannot write it stops before the next batch (exit 74). --restore --from-audit FILE puts the recorded previous values back.
Exit: 0 all set, 1 some not, 64 refused or bad usage, 66 no audit log to restore from, 74 audit log
not writable, 77 permission.
Examples:
  sockdoc keepalive --dry-run sport = :21
  sockdoc keepalive --yes --idle 300 --intvl 30 --cnt 5 sport = :21
  sockdoc keepalive --restore --from-audit /var/log/sockdoc/audit.jsonl --dry-run sport = :21
  sockdoc keepalive --restore --from-audit /var/log/sockdoc/audit.jsonl --yes";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KillMethod {
    /// destroy, then shutdown, then rst.
    Auto,
    /// SOCK_DESTROY over sock_diag (CONFIG_INET_DIAG_DESTROY, CAP_NET_ADMIN).
    Destroy,
    /// shutdown(SHUT_RDWR) through the owner's fd (pidfd_getfd).
    Shutdown,
    /// Forged RST with the sequence number learned from a challenge ACK (raw sockets, CAP_NET_RAW).
    Rst,
}

#[derive(Debug, Args, Clone)]
pub struct KillArgs {
    /// Which rung of the kill ladder to use.
    #[arg(long, value_enum, default_value_t = KillMethod::Auto)]
    pub method: KillMethod,
    /// Show the selection and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Act on at most N sockets.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max: usize,
    /// More than N sockets need --yes (or, on a terminal, the count typed back).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub confirm_above: usize,
    /// With the rst rung: also forge the RST the socket would send, so the peer's end closes now
    /// rather than at its next send.
    #[arg(long)]
    pub tell_peer: bool,
    /// Also kill listening sockets the filter matches.
    #[arg(long)]
    pub listen: bool,
    /// Append the record of every socket acted on here [default: /var/log/sockdoc/audit.jsonl].
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<std::path::PathBuf>,
    /// Which sockets (the `sockdoc list` filter language); required.
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct KeepaliveArgs {
    /// Seconds of idleness before the first probe.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle: u32,
    /// Seconds between unanswered probes.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub intvl: u32,
    /// Unanswered probes before the kernel drops the connection.
    #[arg(long, alias = "count", default_value_t = 5, value_name = "N")]
    pub cnt: u32,
    /// Only sockets of processes named NAME (the same as the filter word `proc NAME`).
    #[arg(long = "proc", value_name = "NAME")]
    pub proc_name: Option<String>,
    /// Only sockets of process PID (the same as the filter word `pid PID`).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Also set TCP_USER_TIMEOUT (ms, 0 to 2147483647): drop connections whose sent data stays
    /// unacknowledged that long. Without it the socket's own TCP_USER_TIMEOUT is left as it is.
    #[arg(long, value_name = "MS")]
    pub user_timeout: Option<u32>,
    /// Keep going: every --every, set keepalive on new matching connections and listeners, until
    /// interrupted (SIGINT/SIGTERM).
    #[arg(long)]
    pub watch: bool,
    /// Time between two rounds of --watch (at least 100ms).
    #[arg(
        long,
        default_value = "2s",
        value_name = "DURATION",
        requires = "watch"
    )]
    pub every: String,
    /// Undo: put back the options recorded in the audit log FILE (--from-audit) on the sockets still
    /// alive with the same owner, exactly as they were before sockdoc changed them (SO_KEEPALIVE off
    /// again if it was off). A FILTER, --proc or --pid narrows which sockets.
    #[arg(
        long,
        requires = "from_audit",
        conflicts_with_all = ["watch", "user_timeout", "idle", "intvl", "cnt"]
    )]
    pub restore: bool,
    /// The audit log to restore from (with --restore); `sockdoc reap`'s action log works too.
    #[arg(long, value_name = "FILE", requires = "restore")]
    pub from_audit: Option<std::path::PathBuf>,
    /// Show the selection and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask (required when standard input is not a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Append the record of every socket changed here [default: /var/log/sockdoc/audit.jsonl].
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<std::path::PathBuf>,
    /// Which sockets (the `sockdoc list` filter language); required unless --proc or --pid is given;
    /// a blank filter is refused (with --restore: optional, narrows the recorded sockets).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

impl KeepaliveArgs {
    /// The filter words, with --proc and --pid folded in. The --proc name is quoted with a quote it
    /// does not contain, so it stays one value (`--proc "a' or 'state all"` must not widen the filter).
    pub fn words(&self) -> Result<Vec<String>, String> {
        let mut w = Vec::new();
        if let Some(p) = &self.proc_name {
            let q = match (p.contains('\''), p.contains('"')) {
                (false, _) => '\'',
                (true, false) => '"',
                (true, true) => {
                    return Err(
                        "--proc cannot hold both kinds of quote; use a * pattern for one of them (--proc 'a*b')"
                            .into(),
                    )
                }
            };
            w.extend(["proc".to_string(), format!("{q}{p}{q}")]);
        }
        if let Some(pid) = self.pid {
            w.extend(["pid".to_string(), pid.to_string()]);
        }
        if !self.filter.is_empty() {
            if w.is_empty() {
                w.extend(self.filter.iter().cloned());
            } else {
                w.push("and".into());
                w.push("(".into());
                w.extend(self.filter.iter().cloned());
                w.push(")".into());
            }
        }
        Ok(w)
    }
}

#[derive(Debug, Args, Clone)]
pub struct RunWithKeepaliveArgs {
    /// Seconds of idleness before the first probe.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle: u32,
    /// Seconds between unanswered probes.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub intvl: u32,
    /// Unanswered probes before the kernel drops the connection.
    #[arg(long, alias = "count", default_value_t = 5, value_name = "N")]
    pub cnt: u32,
    /// Also set TCP_USER_TIMEOUT (ms).
    #[arg(long, value_name = "MS")]
    pub user_timeout: Option<u32>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

const REAP_HELP: &str = "\
Every `interval` one census; each socket belongs to the first rule whose selector matches. A rule
closes ESTABLISHED connections idle (nothing sent, received or acknowledged) past idle_timeout; keeps
at most max_connections (ESTABLISHED + CLOSE-WAIT), closing the idlest first (only those idle at
least evict_idle_min, like redsocks' connpres_idle_timeout); closes CLOSE-WAIT sockets older than
close_wait_max_age (age learned by socket cookie across scans); and turns keepalive on for
connections and listeners without it. Never closed: listeners, the never_kill list, the caller's own
SSH connection ($SSH_CONNECTION). At most max_kills_per_interval kills per scan, idlest first; dry_run
logs \"would kill\" and touches nothing. One JSON line per action (docs/json-schema.md). SIGHUP
reloads the file (a bad one is rejected and the old one kept); SIGINT/SIGTERM stop.
A selector's fields are values: peer is one address or prefix per entry (a list for several), state
one state name per entry; filter is parsed alone and stays inside its rule. Every rule must select
something: no selector, or an empty filter, is an error. The file is read only if it is a regular
file of at most 1 MiB.

Example reap.toml (deploy/reap.toml.example has every key):
  interval = \"10s\"
  max_kills_per_interval = 100
  never_kill = [\"sport = :22\", \"dst 10.0.0.0/8\"]
  metrics = \"127.0.0.1:9718\"

  [[rule]]
  name = \"ftp-proxy\"                # the incident's proxy, which never sets keepalive
  local_port = 21                    # selector: local_port, process, peer, state, filter (ANDed)
  process = \"ftp-proxy\"
  idle_timeout = \"2h\"
  max_connections = 5000
  evict_idle_min = \"10m\"
  close_wait_max_age = \"5m\"
  [rule.keepalive]
  idle = 300
  intvl = 30
  count = 5

Examples:
  sockdoc reap --config /etc/sockdoc/reap.toml --check     # validate, print the rules
  sockdoc reap --config reap.toml --dry-run                # what it would do, in the log
  sudo sockdoc reap --config reap.toml --log /var/log/sockdoc/reap.jsonl
  kill -HUP $(pidof sockdoc)                               # reload after editing";

#[derive(Debug, Args, Clone)]
pub struct ReapArgs {
    /// The configuration file (TOML; example below).
    #[arg(long, value_name = "FILE")]
    pub config: std::path::PathBuf,
    /// Validate the configuration, print the rules and exit (0 valid, 64 not).
    #[arg(long)]
    pub check: bool,
    /// Only log what would be done ("would kill"), whatever the configuration says.
    #[arg(long)]
    pub dry_run: bool,
    /// Action log, JSON lines [default: the config's `log`, else standard output].
    #[arg(long, value_name = "PATH")]
    pub log: Option<std::path::PathBuf>,
    /// Where /metrics listens, or "off" [default: the config's `metrics`, else 127.0.0.1:9718].
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on (keep it on loopback unless a firewall guards it; 0.0.0.0 or :: is
    /// served with a warning).
    #[arg(long, default_value = "127.0.0.1:9717", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Rows per bounded label set (listening ports, processes).
    #[arg(long, default_value_t = 20, value_name = "K")]
    pub top_k: usize,
    /// How often to walk /proc for socket owners (process names); `0s` = every scrape.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub owners_every: String,
    /// How often to run the doctor's census (findings, ghosts, per-connection counts); `0s` = every
    /// scrape.
    #[arg(long, default_value = "2m", value_name = "DURATION")]
    pub doctor_every: String,
    /// Silence after which an ESTABLISHED connection without keepalive is a ghost suspect
    /// [default: the kernel's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
}

const SERVE_HELP: &str = "\
What each scrape reads, and what comes from slower runs cached in between (a run starts when a
scrape finds its cache older than its cadence; nothing runs between scrapes):
  every scrape    sockets by protocol, family and state (ESTABLISHED from the kernel's own count,
                  the sockets themselves stay in the kernel), accept queues, SYN-RECV, CLOSE-WAIT
                  per process, TIME-WAIT, kernel counters, conntrack
  --doctor-every  the doctor's census with tcp_info: sockdoc_finding, sockdoc_ghost_suspects,
                  keepalive coverage, ESTABLISHED per port, sockets per process, ephemeral ports
                  (sockdoc_doctor_age_seconds); counter-based findings compare with the last run
  --owners-every  the /proc walk for process names, and the fd-limit check; sockets opened since
                  count under process \"-\" (sockdoc_owners_age_seconds)
At 300k sockets a scrape costs ~0.07 s of CPU, a doctor run ~0.4 s more, a /proc walk ~0.9 s more
(node_exporter's tcpstat: ~0.7 s per scrape): at a 30 s scrape interval ~0.25 s per scrape.
HTTP: GET or HEAD /metrics and /healthz (other methods: 405); request head <= 8 KiB within 5 s,
30 s per connection, 512 connections (the oldest still sending its request makes room); one scrape
at a time, requests that waited share its result (sockdoc_scrapes_total).
Examples:
  sockdoc serve                                  # http://127.0.0.1:9717/metrics
  sockdoc serve --listen 10.0.0.5:9717           # no TLS, no authentication: firewall it
  sockdoc --netns-pid 4242 serve --listen 127.0.0.1:9718   # a container's namespace
  sockdoc serve --doctor-every 5m --owners-every 10m       # cheaper still on very busy hosts
  sockdoc serve --idle 30m                       # ghost suspects after 30 minutes of silence
  curl -s 127.0.0.1:9717/metrics | grep sockdoc_sockets";

#[derive(Debug, Args, Clone)]
pub struct EventsArgs {
    /// Stop after N events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this long.
    #[arg(long = "for", value_name = "DURATION")]
    pub r#for: Option<String>,
    /// How often to scan the namespace for the lifetimes and last states of connections (`0` = never:
    /// ends only). Each scan costs about as much as `sockdoc stats`.
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub scan: String,
    /// Also show the owning process the scans saw (each scan then walks /proc, like `stats -p`).
    #[arg(short = 'p', long)]
    pub processes: bool,
    /// Ends held while the output is slower than the kernel (a blocked pipe); past that they are
    /// dropped and counted in a `lost` record. Bounds the memory.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub buffer: usize,
    /// Receive buffer asked of the kernel for the broadcasts, in MiB (past net.core.rmem_max: root).
    /// It rides out a burst while events is descheduled; its memory is used only while backed up.
    #[arg(long, default_value_t = 32, value_name = "MIB")]
    pub kernel_buffer: usize,
    /// Only events matching this filter (the `list` language, without proc/pid; `state` means the
    /// state the connection ended from).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ConntrackArgs {
    /// Rows per breakdown.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
}

#[derive(Debug, Args, Clone)]
pub struct SysctlArgs {
    /// Lay a named profile over the audit's fixes (check, plan, apply): fast-dead-peers, busy-server,
    /// busy-client. Settings this kernel or namespace lacks are refused, with the reason.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: SysctlCommand,
}

#[derive(Debug, Subcommand, Clone)]
pub enum SysctlCommand {
    /// Every setting the incident notes tuned, plus somaxconn, tcp_retries2 and nf_conntrack_max: current
    /// value, what to do and why; and config-file settings this kernel no longer has. Exit 1 if anything
    /// should change.
    Check,
    /// Apply the plan: back up the current values and file, set the values (all or nothing, read back),
    /// write the sysctl.d file atomically. Undo with `sockdoc sysctl rollback`. With --netns or
    /// --netns-pid the namespace's values are set at runtime only: no file is written unless --conf
    /// names one, and never one the host loads at boot.
    Apply {
        /// The file to write [default: /etc/sysctl.d/90-sockdoc.conf on the host; none for another
        /// network namespace: give e.g. /etc/netns/NAME/sysctl.conf, which `ip netns exec NAME sysctl
        /// -p` loads inside it].
        #[arg(long, value_name = "FILE")]
        conf: Option<std::path::PathBuf>,
        /// Where the backup for rollback is kept.
        #[arg(long, default_value = "/var/lib/sockdoc", value_name = "DIR")]
        state_dir: std::path::PathBuf,
        /// Show the changes and stop.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask (required when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
        /// Audit log [default: /var/log/sockdoc/audit.jsonl].
        #[arg(long, value_name = "PATH")]
        audit_log: Option<std::path::PathBuf>,
    },
    /// Restore the runtime values and the sysctl.d file from before the last apply.
    Rollback {
        /// Where apply kept its backup.
        #[arg(long, default_value = "/var/lib/sockdoc", value_name = "DIR")]
        state_dir: std::path::PathBuf,
        /// Audit log [default: /var/log/sockdoc/audit.jsonl].
        #[arg(long, value_name = "PATH")]
        audit_log: Option<std::path::PathBuf>,
    },
    /// Print (or write with --out) the sysctl.d snippet with the recommended changes. Applies nothing.
    Plan {
        /// Write the snippet to this file (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<std::path::PathBuf>,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
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

#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    #[command(flatten)]
    pub select: Select,
    /// Group by: state, remote-ip, remote-port, local-ip, local-port, process, peer-prefix (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "KEY")]
    pub by: Vec<String>,
    /// Rows to show per group.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Prefix length for IPv4 peers with --by peer-prefix.
    #[arg(long, default_value_t = 24, value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=32))]
    pub prefix4: u8,
    /// Prefix length for IPv6 peers with --by peer-prefix.
    #[arg(long, default_value_t = 64, value_name = "BITS", value_parser = clap::value_parser!(u8).range(0..=128))]
    pub prefix6: u8,
    /// Filter expression (ss syntax plus sockdoc words; see `sockdoc list --help`).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ListArgs {
    #[command(flatten)]
    pub select: Select,
    /// Show owning processes (pid, fd, name): one walk of /proc/*/fd.
    #[arg(short = 'p', long = "processes")]
    pub processes: bool,
    /// Columns, comma-separated: netid,state,recvq,sendq,local,peer,process,timer,idle,inode,uid,cookie,
    /// ifindex,rtt,retrans,unacked,bytes-acked,bytes-received,cmdline.
    #[arg(
        short = 'o',
        long = "columns",
        value_delimiter = ',',
        value_name = "COLUMNS"
    )]
    pub columns: Vec<String>,
    /// Omit the header line.
    #[arg(short = 'H', long = "no-header")]
    pub no_header: bool,
    /// Filter expression (ss syntax plus sockdoc words).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}
