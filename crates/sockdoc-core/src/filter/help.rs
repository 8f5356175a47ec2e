//! The filter language reference printed by `--help`.

/// A concise reference of the filter language.
pub fn help_text() -> &'static str {
    HELP
}

const HELP: &str = "\
FILTER (ss syntax plus sockdoc words; no filter = every socket)
  state NAME     state is NAME; repeat to add more:
                 state established state close-wait
  exclude NAME   drop NAME from the set (a run starting with exclude starts
                 from all states). NAME: established syn-sent syn-recv
                 fin-wait-1 fin-wait-2 time-wait close-wait last-ack
                 listening closing closed (= unconn), or ss's ESTAB,
                 TIME-WAIT, ...; groups: all, connected (not
                 listening/closed), synchronized (connected, not syn-sent),
                 bucket (syn-recv, time-wait), big (all but bucket)
  listening      same as state listening
  sport OP PORT  local port; PORT is 22, :22 or a service name (ssh, :https)
  dport OP PORT  remote port
  src ADDR       local address: 10.0.0.0/8  10.1.2.3  10.1.2.3:80  ::1
                 2001:db8::/32  [::1]:80  :80 (port only)  * (any); an IPv4
                 prefix also matches ::ffff:a.b.c.d, as in ss
  dst ADDR       remote address
  dev IFACE      bound to an interface (name or index)
  tcp  udp  proto tcp|udp  ipv4  ipv6
  proc NAME      owned by a process named NAME; * is a wildcard
                 (proc 'nginx*', proc 'Web Content')
  pid N  uid N  inode N
  cgroup PATH    in exactly this cgroup, PATH from the cgroup2 root as ss -e
                 shows it (cgroup /system.slice/nginx.service); decided by
                 the kernel, as ss does
  unit NAME      in this systemd unit or slice, or a cgroup below it:
                 unit nginx (= nginx.service), unit 'app-*', unit user.slice
  container NAME in this container: its name, or its id or an id prefix of
                 12+ hex digits
  pod NS/NAME    in this Kubernetes pod (or give its uid)
                 Sockets without a cgroup (TIME-WAIT, SYN-RECV) match none of
                 these four; they read the world-readable cgroup tree and
                 need no root and no /proc walk.
  idle OP TIME   time since the last data or ACK: 500ms 30s 5m12s 2h11m 1.5s
                 (bare number = seconds); only TCP connections with tcp_info
                 have it, others never match
  keepalive      a keepalive timer is pending
  timer KIND     the pending timer: on, keepalive, timewait, persist, off
  retrans OP N   retransmissions: the larger of the timer's count (timer on
                 or persist) and tcp_info's retransmits
  unacked OP N   unacknowledged segments (tcp_info)
  recvq OP N     Recv-Q bytes (a listener: accept queue)
  sendq OP N     Send-Q bytes (a listener: backlog)
OP: = == eq   != ne   < lt   > gt   <= le   >= ge; omitted means = (idle
    needs one). src, dst, dev, proc, pid, uid, inode, timer, proto, cgroup,
    unit, container and pod take only = or !=.
Combine with  not !   and && &   or || |   ( )   and 'quotes'. Adjacent terms
mean and; not binds tightest, then and, then or. Quote ( ) & | ! < > for the
shell, or write a comparison as one word: idle>5m (an unquoted > makes the
shell write to a file named 5m).
Examples:
  state established '( dport = :ssh or sport = :ssh )'
  dst 192.168.0.0/16 and not sport = :22
  'idle > 5m' and state established
  idle>2h11m '!keepalive'
  proc vsftpd or pid 42
  unit nginx state close-wait
  tcp '!keepalive' state established
";
