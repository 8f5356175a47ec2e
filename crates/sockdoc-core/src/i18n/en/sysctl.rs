//! English: why the sysctl judge keeps, changes or removes a setting, what the sysctl profiles are
//! for, and what `sysctl plan|apply|rollback` say.

use crate::i18n::sysctl::SysctlMsg as M;
use crate::sysctl_audit::judge::Reason;
use crate::sysctl_audit::ProfileText as T;

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

/// What a sysctl profile is for, or why it wants one of its settings.
pub fn profile(t: T) -> &'static str {
    match t {
        T::FastDeadPeers => "find dead peers in about 3 minutes instead of 2 hours: keepalive sockets probe after 2 minutes of silence, and data nobody acknowledges is given up after ~100 s. Services that never set SO_KEEPALIVE (the incident's FTP proxy) still need `sockdoc keepalive` or `run-with-keepalive`.",
        T::FastKeepaliveTime => "first keepalive probe after 2 minutes of silence",
        T::FastKeepaliveIntvl => "15 s between unanswered probes",
        T::FastKeepaliveProbes => "dropped after 4 unanswered probes: 120 + 4 x 15 = 3 minutes in all",
        T::FastRetries2 => "a peer that stops acknowledging data is given up after ~100 s (RFC 1122's minimum) instead of ~15 min",
        T::BusyServer => "many inbound connections and accept bursts (web servers, brokers, FTP): deep listen and SYN queues, syncookies on.",
        T::ServerSomaxconn => "lets listen() backlogs of up to 8192 (the application must ask for it too)",
        T::ServerSynBacklog => "8192 half-open handshakes per listener before syncookies take over",
        T::ServerSyncookies => "cookies when the SYN queue overflows: a flood cannot lock real clients out",
        T::ServerNetdevBacklog => "a deeper per-CPU input queue for packet bursts",
        T::BusyClient => "many outgoing connections to few destinations (proxies, crawlers, connection pools): the widest safe ephemeral range, TIME-WAIT reuse for outgoing connections, TIME-WAIT sockets kept their full 60 s.",
        T::ClientPortRange => "55536 ports per destination, none below 10000 where services listen",
        T::ClientTwReuse => "outgoing connections reuse TIME-WAIT ports when timestamps prove it safe",
        T::ClientTwBuckets => "room for 4000+ connections/s of churn without destroying TIME-WAIT early",
    }
}

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::HostWide => "host-wide: the host's value {} applies to every network namespace; check and change it on the host",
        M::OneNamespace => "sysctl works on one namespace at a time: use --netns NAME or --netns-pid PID, not --all-netns",
        M::RollbackNoProfile => "rollback restores what apply backed up, whatever the profile: drop --profile",
        M::ThisHost => "this host",
        M::OnThisHost => "on this host",
        M::InNamespace => "in {}",
        M::NsNamed => "network namespace {} (net:{})",
        M::NsOfPid => "network namespace of pid {} (net:{})",
        M::NsUnnamed => "network namespace (unnamed) (net:{})",
        M::HostLoaded => "{} is loaded into the host by `sysctl --system` and at boot, so the settings of {} must not go there: choose another file (e.g. {})",
        M::NotAFilePath => "{} is not a file path",
        M::Exists => "{} exists: pass --force to replace it",
        M::StaleRemoved => "removed {}, left by an interrupted sockdoc run",
        M::StaleKept => "cannot remove {}, left by an interrupted sockdoc run: {}",
        M::WriteConf => "write {}",
        M::WriteNoFile => "write no file (a namespace's settings are runtime only; pass --conf FILE, e.g. {}, to keep them)",
        M::WillSet => "will set {} setting(s) at runtime {} and {}",
        M::WouldSet => "dry run: would set {} setting(s) at runtime {} and {}",
        M::NothingToChange => "nothing to change",
        M::EarlierApply => "an earlier apply is still in place ({}): run `sockdoc sysctl rollback` first",
        M::CannotReadKey => "cannot read {}: {}",
        M::Applied => "applied {} setting(s) {}; {}; backup in {} (sockdoc sysctl rollback undoes it)",
        M::WroteConf => "wrote {}",
        M::NoFileWritten => "no file written",
        M::NothingToRollBack => "nothing to roll back: no backup {}",
        M::BackupDamaged => "the backup {} is damaged: {}",
        M::RestoredAnd => "restored {} setting(s) and {}",
        M::Restored => "restored {} setting(s)",
        M::ActApply => "apply",
        M::ActRollBack => "roll back",
        M::RootWhy => "writing /proc/sys and the files under /etc and /var/lib",
        M::RefuseNoYes => "refusing to {} {} settings without --yes (standard input is not a terminal)",
        M::Prompt => "{} these {} settings? [y/N] ",
    }
}
