//! Flags of the commands that act: `kill`, `keepalive`, `run-with-keepalive`, `reap`.

use clap::{Args, ValueEnum};

pub const KILL_HELP: &str = "\
Safety: a filter is required, and a blank one ('', ' ', an unset $FILTER) is
refused as a usage error; the selection is shown first; --dry-run stops there;
--yes is needed when standard input is not a terminal, and for more than
--confirm-above sockets (default 100; on a terminal, typing the count back
also does); --max caps a run; the caller's own SSH connection
($SSH_CONNECTION) is never touched; every socket is recorded in the audit log
before it is acted on (intent records synced to disk before each batch of 512,
outcome records after it), and a record that cannot be written stops the run
before the next socket (exit 74, with the report of what was done). Afterwards
the kernel is read again: a socket counts as killed only when it is gone (or,
after shutdown, changed state). The process column names one holder of each
socket (the /proc walk stops once every socket selected has one; `sockdoc list
-p FILTER` names them all). Methods (--method auto tries them in this order
and reports, per socket, why each rung failed):
  destroy   SOCK_DESTROY (CONFIG_INET_DIAG_DESTROY, CAP_NET_ADMIN); any state,
            owner or not.
  shutdown  shutdown(SHUT_RDWR) through the owner's fd (pidfd_getfd); needs an
            owning process.
  rst       the killcx method (CAP_NET_RAW): a segment forged from the peer
            makes the socket send a challenge ACK, which tells its sequence
            numbers; then the RST the peer would send is forged. ESTABLISHED,
            CLOSE-WAIT, FIN-WAIT-1/2, LAST-ACK, CLOSING, SYN-RECV, and
            TIME-WAIT unless net.ipv4.tcp_rfc1337 = 1; not UDP, listeners or
            SYN-SENT. A socket answers at most once per
            net.ipv4.tcp_invalid_ratelimit (500 ms): silent ones are asked 3
            times. The owner reads ECONNRESET (EPIPE in CLOSE-WAIT).
            --tell-peer also resets the peer's end.
Exit: 0 all killed, 1 some not killed, 64 refused or bad usage, 74 the audit
log could not be written, 77 permission.
Examples:
  sockdoc kill --dry-run state close-wait pid 4242
  # the incident's ghost, by peer
  sockdoc kill --yes dst 192.168.70.16 sport = :21
  # no SOCK_DESTROY: forge the RSTs
  sockdoc kill --yes --method rst --tell-peer dst 10.1.2.3
  # by systemd unit (also container, pod, cgroup PATH), from the cgroup tree
  sockdoc kill --dry-run unit api state close-wait";

pub const KEEPALIVE_HELP: &str = "\
Through pidfd_getfd (root), sets SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL,
TCP_KEEPCNT (and TCP_USER_TIMEOUT with --user-timeout) on each ESTABLISHED
socket and listener the filter selects; the process keeps running and its
future connections inherit it from the listener. A dead peer is then dropped
after idle + intvl x cnt seconds. Options not asked for (TCP_USER_TIMEOUT
without --user-timeout) are left as they are. Values are checked against the
kernel's limits first (idle and intvl 1-32767 s, cnt 1-127); a socket whose
write fails part-way gets its previous values back. Same safety rules as kill,
and the same audit log: intent records synced before each batch of 512 sockets
is changed, outcome records with the values before and after synced before the
next batch; a run that cannot write it stops before the next batch (exit 74).
--restore --from-audit FILE puts the recorded previous values back. Exit: 0
all set, 1 some not, 64 refused or bad usage, 66 no audit log to restore from,
74 audit log not writable, 77 permission.
Examples:
  sockdoc keepalive --dry-run sport = :21
  sockdoc keepalive --yes --idle 300 --intvl 30 --cnt 5 sport = :21
  # by container (or unit, pod)
  sockdoc keepalive --dry-run container web-1 state established
  sockdoc keepalive --restore --from-audit /var/log/sockdoc/audit.jsonl \\
      --dry-run sport = :21
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

pub const REAP_HELP: &str = "\
Every `interval` one census; each socket belongs to the first rule whose
selector matches. A rule closes ESTABLISHED connections idle (nothing sent,
received or acknowledged) past idle_timeout; keeps at most max_connections
(ESTABLISHED + CLOSE-WAIT), closing the idlest first (only those idle at least
evict_idle_min, like redsocks' connpres_idle_timeout); closes CLOSE-WAIT
sockets older than close_wait_max_age (age learned by socket cookie across
scans); and turns keepalive on for connections and listeners without it. Never
closed: listeners, the never_kill list, the caller's own SSH connection
($SSH_CONNECTION). At most max_kills_per_interval kills per scan, idlest
first; dry_run logs \"would kill\" and touches nothing. One JSON line per
action (docs/json-schema.md). SIGHUP reloads the file (a bad one is rejected
and the old one kept); SIGINT/SIGTERM stop. A selector's fields are values:
peer is one address or prefix per entry (a list for several), state one state
name per entry, unit a systemd unit or slice (\"nginx\" is nginx.service) and
container a container's name or id (12+ hex digits), each one per entry; unit
and container are read from the sockets' cgroups (no /proc walk); filter is
parsed alone and stays inside its rule. Every rule must select something: no
selector, or an empty filter, is an error. The file is read only if it is a
regular file of at most 1 MiB.

Example reap.toml (deploy/reap.toml.example has every key):
  interval = \"10s\"
  max_kills_per_interval = 100
  never_kill = [\"sport = :22\", \"dst 10.0.0.0/8\"]
  metrics = \"127.0.0.1:9718\"

  [[rule]]
  # the incident's proxy, which never sets keepalive
  name = \"ftp-proxy\"
  # selectors, all of which must match: local_port, process, unit,
  # container, peer, state, filter
  local_port = 21
  process = \"ftp-proxy\"
  idle_timeout = \"2h\"
  max_connections = 5000
  evict_idle_min = \"10m\"
  close_wait_max_age = \"5m\"
  [rule.keepalive]
  idle = 300
  intvl = 30
  count = 5

  [[rule]]
  name = \"api\"
  # every socket of the unit, and of the cgroups below it
  unit = \"api.service\"
  close_wait_max_age = \"5m\"

Examples:
  # validate, print the rules
  sockdoc reap --config /etc/sockdoc/reap.toml --check
  # what it would do, in the log
  sockdoc reap --config reap.toml --dry-run
  sudo sockdoc reap --config reap.toml --log /var/log/sockdoc/reap.jsonl
  # reload after editing
  kill -HUP $(pidof sockdoc)";

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
    /// The directory `sockdoc record` writes: connection ages (in kill records) count from its
    /// first-seen times, across the reaper's restarts.
    #[arg(long, default_value = sockdoc_record::DEFAULT_DIR, value_name = "DIR")]
    pub history: std::path::PathBuf,
    /// TLS and basic authentication for /metrics from a web configuration file in node_exporter's
    /// format (as `serve --web.config.file`); SIGHUP reads it again.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<std::path::PathBuf>,
}
