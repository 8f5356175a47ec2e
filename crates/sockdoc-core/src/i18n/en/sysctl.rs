//! English: why the sysctl judge keeps, changes or removes a setting.

use crate::sysctl_audit::judge::Reason;

/// The reason, in English.
pub fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Fine => "fine",
        Reason::KeepaliveTimeLong => "affects only sockets with SO_KEEPALIVE (sshd, vsftpd, redis...); 300 s finds dead peers in minutes instead of 2 hours. It does nothing for services that never set SO_KEEPALIVE, like the incident's FTP proxy.",
        Reason::KeepaliveTimeShort => "short enough: dead peers of keepalive sockets are found within minutes",
        Reason::KeepaliveIntvlLong => "seconds between unanswered probes; with 5 probes a dead peer is dropped 2.5 minutes after the first probe",
        Reason::KeepaliveProbesMany => "unanswered probes before the connection is dropped",
        Reason::SyncookiesOff => "answers with cookies only when the SYN queue overflows: keeps a SYN flood from locking out real clients",
        Reason::SyncookiesOn => "on: SYN floods are answered with cookies",
        Reason::TwReuseOn => "outgoing connections may reuse TIME-WAIT ports (safe with TCP timestamps)",
        Reason::TwReuseOff => "lets outgoing connections reuse a TIME-WAIT port when timestamps prove it safe; it never affects incoming connections (the default 2 allows it on loopback only)",
        Reason::FinTimeout => "only bounds orphaned FIN-WAIT-2 sockets; it does not shorten TIME-WAIT (fixed at 60 s), whatever the blog posts say",
        Reason::SynRetriesLow => "with 2 retries connect() gives up after ~7 s, failing on any lossy path; the default 6 (~127 s) is right, applications should set their own connect timeout",
        Reason::OrphanRetries => "retries for connections no process owns any more; the default 0 means 8. Lowering it frees orphans sooner under memory pressure",
        Reason::PortRangeLow => "starting below 10000 hands out ports that services listen on (the incident notes' 1024 collides with well-known ports); 10000-65000 is wide and safe",
        Reason::PortRangeNarrow => "fewer than 20000 ephemeral ports per destination: busy clients run out (EADDRNOTAVAIL)",
        Reason::PortRangeWide => "wide enough",
        Reason::SynBacklogSmall => "half-open handshakes kept per listener; too small drops legitimate bursts (syncookies take over past it)",
        Reason::TwBucketsSmall => "too small: TIME-WAIT sockets are destroyed early (\"time wait bucket table overflow\"), removing the protection against old duplicate segments; the incident notes' 5000 is harmful. Reduce connection churn instead",
        Reason::TwBucketsFine => "fine: TIME-WAIT sockets live their 60 s",
        Reason::NetdevBacklog => "packets queued per CPU before the stack takes them; only matters at very high packet rates (softnet_stat drops)",
        Reason::SomaxconnSmall => "caps every listen() backlog; 4096 is the default since Linux 5.4",
        Reason::Retries2Low => "connections with unacknowledged data are dropped after very few retransmissions; RFC 1122 asks for at least 100 s (8)",
        Reason::Retries2Fine => "a dead peer with data in flight is given up after ~15 min at 15; prefer TCP_USER_TIMEOUT per application over lowering it for the whole host",
        Reason::ConntrackHalfFull => "the table is more than half full: when it fills, new flows are dropped at random",
        Reason::ConntrackHeadroom => "enough headroom for the current flows",
        Reason::ConntrackNotLoaded => "conntrack is not loaded in this namespace: nothing to tune",
        Reason::TwRecycleGone => "removed in Linux 4.12 (it broke clients behind NAT) and not set in any config file here: nothing to do; advice that still recommends it is obsolete",
        Reason::TwRecycleConfigured => "removed in Linux 4.12: it dropped SYNs from clients behind NAT (timestamps compared per host); the incident notes' `tcp_tw_recycle = 1` does nothing now but fail at boot. Use tcp_tw_reuse for outgoing connections.",
        Reason::Missing => "this kernel has no such setting",
        Reason::MissingConfigured => "this kernel has no such setting, but a config file sets it",
        Reason::ProfileRefused => "this kernel has no such setting here (some net.core settings exist only in the host's namespace): not applied",
    }
}
