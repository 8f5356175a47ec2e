//! Flags of the commands that keep running: `top`, `serve`, `events`, `record`.

use clap::Args;

pub const TOP_HELP: &str = "\
Keys:
  1-7, Tab    tables: remote IP, peer prefix, port, process, ghost suspects,
              findings, services
  Up/Down     select a row
  Enter, Esc  a row's sockets (idle, owner; timers, queues and fd as the
              terminal is wider), and back
  s > <  r    sort by the next / previous column, reverse
  /           filter (the `sockdoc list` language; empty = all)
  space       mark sockets (drill-down, ghosts)
  k           kill: the marked sockets, the highlighted one, or a whole row
              (listeners: --listen)
  a           keepalive on the selected service (a local port or process row)
  p           probe ghost suspects (alive or dead)
  z           pause     + -  refresh interval     ?  help     q  quit
Every action shows the exact sockets and asks first, needs root, never touches
the caller's own SSH connection ($SSH_CONNECTION), and appends each socket to
the audit log. Needs a terminal (exit 64 otherwise); 80x24 is enough. The
census runs on its own thread: the screen never waits for the kernel.
Examples:
  # this namespace, every 2 s
  sudo sockdoc top
  # the FTP service, every second
  sudo sockdoc top -d 1 sport = :21
  # ghosts after 10 minutes of silence
  sudo sockdoc --netns web top --idle 10m
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
    /// than a twentieth of the time (a walk of 1 s runs at most every 20 s: 300k sockets take ~0.4 s).
    /// Between full walks (one in six) only the processes whose descriptors may have changed are
    /// read again; one that swapped a file for a socket waits for the next full walk. Sockets opened
    /// since the last walk show `-` until the next.
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

pub const EVENTS_HELP: &str = "\
Ends come from the kernel's sock_diag destroy broadcasts (root). They carry no
start time and always say CLOSE, so the namespace is also scanned every
--scan: an end then shows the state the connection was last seen in and its
lifetime, `lived 3s-4s` when a scan saw it start (known to within one scan),
`lived >2m` when it was open before events started, `lived <800ms` when it
began and ended between scans. TIME-WAIT sockets expire without a broadcast:
their connection's end is reported when it entered TIME-WAIT or when its owner
closed it. Losses are reported, never silent: a `lost` line (JSON: {\"lost\":
N, \"why\": ...}) at least once a second while losing, and a total on stderr
at exit. \"output too slow\": more than --buffer ends waited for a blocked
output and were dropped (counted exactly). \"kernel buffer overflow\": the
kernel dropped broadcasts (ENOBUFS; the receive buffer is --kernel-buffer, 32
MiB): each overflow is at least one end, and ends of connections a scan saw
are then counted exactly once two scans miss them; ends of connections no scan
saw cannot be counted. --netns is pinned: when the name is deleted and
recreated, events stops with exit 69, or follows the new namespace with
--follow-netns (ends in between are lost).
Examples:
  # every TCP/UDP end in this namespace
  sockdoc events
  # FTP control connections, with the owner
  sockdoc events -p sport = :21
  # connections that ended from CLOSE-WAIT
  sockdoc events --json state close-wait
  sockdoc events --count 100 --for 1m dst 10.0.0.0/8";

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on (keep it on loopback unless a firewall guards it; 0.0.0.0 or :: is
    /// served with a warning).
    #[arg(long, default_value = "127.0.0.1:9717", value_name = "ADDR:PORT")]
    pub listen: String,
    /// Rows per bounded label set (listening ports, processes, units, containers).
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
    /// TLS and basic authentication from a web configuration file in node_exporter's format
    /// (tls_server_config, basic_auth_users with bcrypt hashes); SIGHUP reads it again.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<std::path::PathBuf>,
    /// The directory `sockdoc record` writes: each listening port's oldest connection is exported
    /// with the time the recorder first saw it, across restarts of both.
    #[arg(long, default_value = sockdoc_record::DEFAULT_DIR, value_name = "DIR")]
    pub history: std::path::PathBuf,
}

pub const SERVE_HELP: &str = "\
What each scrape reads, and what comes from slower runs cached in between (a
run starts when a scrape finds its cache older than its cadence; nothing runs
between scrapes):
  every scrape    sockets by protocol, family and state (ESTABLISHED from the
                  kernel's own count, the sockets themselves stay in the
                  kernel), accept queues, SYN-RECV, CLOSE-WAIT per process,
                  TIME-WAIT, kernel counters, conntrack; sockets per systemd
                  unit and per container by state (sockdoc_unit_sockets,
                  sockdoc_container_sockets; top K, ESTABLISHED from the last
                  doctor run), from the cgroup id the kernel sends with each
                  socket: no /proc walk, and they work without root. Sockets
                  the kernel keeps no cgroup for (TIME-WAIT, SYN-RECV) count
                  under unit=\"no_cgroup\"
  --doctor-every  the doctor's census with tcp_info: sockdoc_finding,
                  sockdoc_ghost_suspects, keepalive coverage, ESTABLISHED per
                  port, sockets per process, ephemeral ports
                  (sockdoc_doctor_age_seconds); counter-based findings compare
                  with the last run; with sockdoc record's index (--history),
                  when each port's oldest connection was first seen
                  (sockdoc_listen_port_oldest_first_seen_time_seconds)
  --owners-every  the /proc walk for process names, and the fd-limit check;
                  sockets opened since count under process \"-\"
                  (sockdoc_owners_age_seconds)
At 300k sockets a scrape costs ~0.07 s of CPU, a doctor run ~0.4 s more, a
/proc walk ~0.9 s more (node_exporter's tcpstat: ~0.7 s per scrape): at a 30 s
scrape interval ~0.25 s per scrape. HTTP: GET or HEAD /metrics and /healthz
(other methods: 405); request head <= 8 KiB within 5 s, 30 s per connection,
512 connections (the oldest still sending its request makes room); one scrape
at a time, requests that waited share its result (sockdoc_scrapes_total).
OpenMetrics when the client's Accept asks for it (Prometheus does), the
Prometheus text format 0.0.4 otherwise (curl). --web.config.file takes
node_exporter's file, e.g.
  tls_server_config:
    cert_file: /etc/sockdoc/tls.crt
    key_file: /etc/sockdoc/tls.key
  basic_auth_users:
    # htpasswd -nBC 10 \"\" | tr -d ':\\n'
    prometheus: $2y$10$...
Examples:
  # http://127.0.0.1:9717/metrics
  sockdoc serve
  # TLS + passwords
  sockdoc serve --listen 10.0.0.5:9717 --web.config.file /etc/sockdoc/web.yml
  # no TLS, no authentication: firewall it
  sockdoc serve --listen 10.0.0.5:9717
  # a container's namespace
  sockdoc --netns-pid 4242 serve --listen 127.0.0.1:9718
  # cheaper still on very busy hosts
  sockdoc serve --doctor-every 5m --owners-every 10m
  # ghost suspects after 30 minutes of silence
  sockdoc serve --idle 30m
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
    /// Also show the owning process the scans saw (each scan then walks /proc, like `list -p`).
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

pub const RECORD_HELP: &str = "\
Every --every: one census (services from cgroup ids, no /proc walk), the
connections' first-seen times by socket cookie (first-seen.idx), and the
doctor's findings of that minute with the state counts (minutes/); every
--full-every a full snapshot with owners (snapshots/, the format of sockdoc
snapshot). tcp_info (idle times) is read every --info-every and with each full
snapshot, most of a scan's cost at scale; between readings a connection keeps
its last reading's, idle times aged by the time since (a connection made since
has none yet). Over --keep, or past --max-size (the index included), the
oldest go first: full snapshots before minute records, so a week of findings
outlives the snapshots of a busy host. The layout and file formats:
docs/record.md. Then `sockdoc list -o local,peer,age` and `sockdoc ghosts`
show how old each connection is (\"≥ 6d21h (first seen 2026-11-01 14:03)\";
\"unknown\" when made after the last scan), and `sockdoc --from DIR --at TIME`
replays a recorded minute (doctor, stats, list).
Examples:
  # /var/lib/sockdoc/record, every minute
  sudo sockdoc record
  sudo sockdoc record --dir /srv/sockdoc --max-size 4GiB --keep 30d
  sudo sockdoc --netns web record --dir /var/lib/sockdoc/web
  sockdoc list -o local,peer,state,age,process -p state established
  # doctor as it was at 03:12 today
  sockdoc --from /var/lib/sockdoc/record --at 03:12
  # CLOSE-WAIT two hours ago, with ages
  sockdoc --from /var/lib/sockdoc/record --at -2h \\
      list -o local,peer,age state close-wait";

#[derive(Debug, Args, Clone)]
pub struct RecordArgs {
    /// Where to record (made if missing, mode 0700).
    #[arg(long, default_value = sockdoc_record::DEFAULT_DIR, value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Time between two censuses (at least 1s).
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub every: String,
    /// Time between two full snapshots (owners included: a /proc walk).
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub full_every: String,
    /// Time between two readings of tcp_info (idle times, retransmits); each full snapshot reads
    /// it too.
    #[arg(long, default_value = "5m", value_name = "DURATION")]
    pub info_every: String,
    /// Disk budget of the directory (KiB, MiB, GiB; KB, MB, GB).
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub max_size: String,
    /// How long recorded files are kept.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub keep: String,
    /// Silence after which an ESTABLISHED connection without keepalive is a ghost suspect in the
    /// recorded findings [default: the kernel's keepalive window].
    #[arg(long, value_name = "DURATION")]
    pub idle: Option<String>,
}
