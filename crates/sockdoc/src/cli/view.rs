//! Flags of the commands that look: `stats`, `list`, `doctor`, `ghosts`, `conntrack`, `sysctl`.

use clap::{Args, Subcommand};

use super::Select;

pub const SYSCTL_HELP: &str = "\
Profiles (--profile NAME, on top of the audit's own fixes; an \"at least\"
never lowers a value):
  fast-dead-peers  keepalive 120 s + 4 x 15 s, tcp_retries2 8: dead peers
                   found in ~3 minutes
  busy-server      somaxconn and tcp_max_syn_backlog 8192, syncookies 1,
                   netdev_max_backlog 16384
  busy-client      ip_local_port_range 10000 65535, tcp_tw_reuse 1,
                   tcp_max_tw_buckets 262144
Examples:
  # what is wrong, and why
  sockdoc sysctl check
  # what the profile would change here
  sockdoc sysctl check --profile busy-client
  # the snippet, to review
  sockdoc sysctl plan --out /tmp/90-sockdoc.conf
  # set, verify, persist (backup kept)
  sockdoc sysctl apply --profile fast-dead-peers
  # runtime values and file as before
  sockdoc sysctl rollback";

pub const STATS_HELP: &str = "\
Examples:
  # netstat -n | awk '/^tcp/ {++S[$NF]} ...'
  sockdoc stats
  # netstat -nat | awk '{print $5}' | ... | sort -rn
  sockdoc stats --by remote-ip --top 20
  # the same, ESTABLISHED only
  sockdoc stats state established --by remote-ip
  # who holds the sockets, on which ports
  sockdoc stats --by process,local-port
  # which systemd unit leaks CLOSE-WAIT
  sockdoc stats --by unit state close-wait
  # the same per cgroup path
  sockdoc stats --by cgroup
  # every namespace, containers included
  sockdoc stats --all-netns
  # which container holds the sockets
  sockdoc --all-netns stats --by container
  # per Kubernetes pod (namespace/name)
  sockdoc stats --by pod state time-wait
--by unit, container, pod and cgroup read the cgroup id the kernel sends with
every socket (Linux 5.7+) and one walk of the cgroup2 tree: no /proc/PID/fd
walk, so they are as fast as plain stats and work without root (the tree is
world-readable), where --by process sees only your own processes. A unit is
systemd's (as `ps -o unit` names it); a cgroup without one is shown by its
path. A container is named as its runtime names it (the short id when it
cannot say), a pod as namespace/name; sockets of cgroups outside any container
(pod) share one row. `-` counts sockets without a cgroup (TIME-WAIT,
SYN-RECV); `cgroup #ID` a cgroup no longer in the tree (removed while its
sockets stayed) or outside this cgroup namespace.";

pub const DOCTOR_HELP: &str = "\
Findings (stable ids, also in --json): ghost-suspects, keepalive-coverage,
close-wait-leak, unreachable-peers, time-wait-pressure,
ephemeral-port-exhaustion, listen-overflow, syn-flood, syn-sent-fanout,
closing-piles, udp-trouble, fd-limit, conntrack-full, sysctl-obsolete,
sysctl-risky.

Findings name the process's systemd unit, container or pod beside it (`most in
api.service (python3/4242)`; `unit`, `container`, `pod` in each JSON group),
from the cgroup id the kernel sends with every socket: one walk of the cgroup2
tree, which is world-readable, so this part works without root too.

Exit code: 0 healthy (info findings only), 1 the worst finding is a warning, 2
a critical one.
Examples:
  # the same as sockdoc doctor
  sockdoc
  sockdoc doctor --json | jq '.namespaces[].findings[].id'
  # call connections silent for 10 minutes ghost suspects
  sockdoc doctor --idle 10m
  # every namespace, containers included
  sockdoc --all-netns doctor";

pub const GHOSTS_HELP: &str = "\
A suspect is an ESTABLISHED TCP connection with no keepalive timer, nothing
unacknowledged in flight, and no data or ACK received for longer than --idle
(default: the kernel's keepalive window, tcp_keepalive_time +
tcp_keepalive_probes x tcp_keepalive_intvl). Suspects are not proven dead.
With --probe each suspect gets keepalive probes every second for --probe-time
(through the owner's fd), then its original options back: `alive` when the
peer ACKed, `dead` when it reset or left the probes unanswered, `unknown` when
it cannot be probed. A suspect no reachable process holds (waiting in a
listener's accept queue, or owned in another pid namespace) gets raw probes
instead (CAP_NET_RAW): its sequence numbers are learned from a challenge ACK
and the same keepalive segment is forged from its address every second;
nothing on the socket changes. Each result says which `method` was used.
--reap then closes the dead ones.
Examples:
  # every suspect, with owner, peer and idle time
  sockdoc ghosts
  # the incident's FTP proxy
  sockdoc ghosts --idle 30m sport = :21
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
    /// The directory `sockdoc record` writes, for each suspect's age (first seen).
    #[arg(long, default_value = sockdoc_record::DEFAULT_DIR, value_name = "DIR")]
    pub history: std::path::PathBuf,
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

#[derive(Debug, Args, Clone)]
pub struct StatsArgs {
    #[command(flatten)]
    pub select: Select,
    /// Group by: state, remote-ip, remote-port, local-ip, local-port, process, unit, container, pod,
    /// cgroup, peer-prefix (comma-separated).
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
    /// ifindex,rtt,retrans,unacked,bytes-acked,bytes-received,cmdline, age (first seen by `sockdoc
    /// record`, see --history), and the socket's service:
    /// unit,container,pod,cgroup (from the cgroup id the kernel sends and one walk of the cgroup
    /// tree: no /proc walk, and they work without root; `-` for a socket without a cgroup).
    #[arg(
        short = 'o',
        long = "columns",
        value_delimiter = ',',
        value_name = "COLUMNS"
    )]
    /// Every state, as ss -a (listening and unconnected sockets too).
    #[arg(short = 'a', long = "all", overrides_with = "listening")]
    pub all: bool,
    /// Listening sockets only, as ss -l (TCP LISTEN, unconnected UDP).
    #[arg(short = 'l', long = "listening", overrides_with = "all")]
    pub listening: bool,
    /// Accepted as ss takes it: sockdoc never resolves names.
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,
    /// Uid, inode and cookie columns, as ss -e.
    #[arg(short = 'e', long = "extended")]
    pub extended: bool,
    /// tcp_info columns, as ss -i: idle, rtt, retrans, unacked, bytes acked and received.
    #[arg(short = 'i', long = "info")]
    pub info: bool,
    /// The timer column, as ss -o. `-o LIST` of column names (`-o local,peer`) still means
    /// --columns LIST.
    #[arg(short = 'o', long = "options")]
    pub options: bool,
    /// Columns, comma-separated, in any order: netid,state,recvq,sendq,local,peer,process,timer,
    /// idle,inode,uid,cookie,ifindex,rtt,retrans,unacked,bytes-acked,bytes-received,cmdline, and
    /// the socket's service: unit,container,pod,cgroup (from the cgroup id the kernel sends and one
    /// walk of the cgroup tree: no /proc walk, and they work without root; `-` for a socket
    /// without a cgroup).
    #[arg(long = "columns", value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Omit the header line.
    #[arg(short = 'H', long = "no-header")]
    pub no_header: bool,
    /// The directory `sockdoc record` writes, for the `age` column and the JSON `first_seen`.
    #[arg(long, default_value = sockdoc_record::DEFAULT_DIR, value_name = "DIR")]
    pub history: std::path::PathBuf,
    /// The summary, as ss -s: `sockdoc stats` of the same selection.
    #[arg(short = 's', long = "summary", conflicts_with = "kill")]
    pub summary: bool,
    /// Kill the selection, as ss -K: `sockdoc kill` with all its safety (a filter is required,
    /// --yes when not on a terminal, --dry-run, the audit log).
    #[arg(short = 'K', long = "kill")]
    pub kill: bool,
    #[command(flatten)]
    pub act: ListKill,
    /// Filter expression (ss syntax plus sockdoc words).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}

/// The safety flags of `kill`, taken by `list -K` (and `ss -K`).
#[derive(Debug, Args, Clone)]
pub struct ListKill {
    /// With -K: show the selection and stop.
    #[arg(long, requires = "kill")]
    pub dry_run: bool,
    /// With -K: do not ask (required when standard input is not a terminal).
    #[arg(long, requires = "kill")]
    pub yes: bool,
    /// With -K: act on at most N sockets.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub max: usize,
    /// With -K: the audit log [default: /var/log/sockdoc/audit.jsonl].
    #[arg(long, value_name = "PATH", requires = "kill")]
    pub audit_log: Option<std::path::PathBuf>,
}

pub const SS_HELP: &str = "\
The flags mean what they mean in ss: -t -u -4 -6 select, -a every state, -l
listening only, neither: ss's default (connected sockets, not TIME-WAIT or
SYN-RECV); -p users:((...)), -o timer:(...), -e uid ino sk, -i a second line
of tcp_info; -n is accepted (sockdoc never resolves names); -H no header; -s
the summary; -K kills (as sockdoc kill: --yes, --dry-run, the audit log).
sockdoc knows TCP and UDP only: sockdoc ss alone is ss -tu.
Examples:
  sockdoc ss -tanp
  sockdoc ss -ltn
  sockdoc ss -to state established '( dport = :443 )'
  sockdoc ss -K --yes dst 10.1.2.3 dport = :5432";

pub const SNAPSHOT_HELP: &str = "\
The file holds what doctor judges: every TCP and UDP socket with timers and
tcp_info, their owners (pid, fd, name, command line, uid), services (cgroup:
unit, container, pod), kernel counters read as the census starts and as it
ends, sysctls, fd limits and pressure, conntrack, sockstat, the host name,
kernel release, time taken and sockdoc's version. Compressed (zstd) and
versioned: the format is in docs/snapshot.md. Written to FILE.tmp beside FILE,
synced and renamed: never half a file.
Examples:
  # sockdoc-HOST-20250102T030405Z.sdsnap here
  sockdoc snapshot
  sockdoc snapshot -o /var/tmp/before.sdsnap
  sockdoc --all-netns snapshot -o - | ssh support 'cat > host.sdsnap'";

#[derive(Debug, Args, Clone)]
pub struct SnapshotArgs {
    /// Where to write it, or `-` for standard output [default: sockdoc-HOST-TIME.sdsnap in the
    /// current directory].
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
}

pub const ANALYZE_HELP: &str = "\
PATH is a `sockdoc snapshot` file, or evidence as people paste it: ss output
(-tan, -tanp, -tanoi, -aoen, -tupna, -peaonmi, with or without -H), netstat
(-an, -antp, -neopa, -W, -s), /proc/net/tcp, tcp6, udp, udp6, netstat, snmp,
sockstat, sysctl -a, limits, or a sosreport directory or tarball. Several
PATHs, or a directory of mixed pieces, are combined. The report says what the
evidence could not tell (no tcp_info: idle times unknown; no owners; counters
read once) instead of guessing, and counts the lines it could not read.
Exit: as doctor (0, 1 warnings, 2 critical), 65 evidence of no known format
(empty, binary, nothing readable in a file's first MiB), 66 a PATH that cannot
be read (missing, no permission).
Examples:
  sockdoc analyze host.sdsnap
  sockdoc analyze ticket-4242/ss-aoen.txt ticket-4242/sysctl-a.txt
  sockdoc --from sosreport-web1.tar.xz stats --by remote-ip";

#[derive(Debug, Args, Clone)]
pub struct AnalyzeArgs {
    /// The evidence: files, directories, sosreport tarballs.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub doctor: DoctorArgs,
}

pub const DIFF_HELP: &str = "\
Each side is `now` (the live kernel, in the namespace --netns or --netns-pid
names), a `sockdoc snapshot` file, or a dump as analyze reads it (a file or a
directory of pieces; `./now` for a file called now). The doctor runs on both;
the report shows connections new, gone and persisting, counted by state, port
(a served port, or →PORT for connections out to it), process, service and
peer; persisting connections that changed state or gained or lost a keepalive
timer; and findings that appeared, cleared or changed. A connection is the
same on both sides when its protocol and addresses are (and its socket cookie,
where both sides carry cookies: a snapshot, the live kernel, ss -e).
Namespaces are paired by name (one on each side: with each other). Filter
words narrow both sides alike. Exit: 0 nothing changed, 1 something changed
(as diff(1)), 64 usage, 65 evidence of no known format, 66 a PATH that cannot
be read.
Examples:
  # the proof of a treatment
  sockdoc snapshot -o before.sdsnap
  sockdoc keepalive --yes sport = :21
  sockdoc diff before.sdsnap now
  # two hosts compared
  sockdoc diff web1.sdsnap web2.sdsnap
  # one port only
  sockdoc diff monday/ss-tanp.txt now sport = :443";

#[derive(Debug, Args, Clone)]
pub struct DiffArgs {
    /// The "before": `now`, a snapshot file, or a dump (file or directory).
    #[arg(value_name = "BEFORE")]
    pub before: String,
    /// The "after": `now`, a snapshot file, or a dump (file or directory).
    #[arg(value_name = "AFTER")]
    pub after: String,
    /// Rows per table.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// Show unchanged rows and findings too.
    #[arg(short, long)]
    pub verbose: bool,
    /// Silence after which a connection without keepalive is a ghost suspect, on both sides
    /// [default: each side's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
    /// Time between the two readings of kernel counters on a `now` side.
    #[arg(long, default_value = DEFAULT_INTERVAL, value_name = "DURATION")]
    pub interval: String,
    /// Narrow both sides with a filter (same language as `sockdoc list`).
    #[arg(value_name = "FILTER")]
    pub filter: Vec<String>,
}
