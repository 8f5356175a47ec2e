//! Evidence from other hosts and other times: what a support engineer receives (`ss` or `netstat`
//! output pasted into a ticket, `/proc/net` files, `sysctl -a`, a sosreport) or what
//! `sockdoc snapshot` wrote, read into the types the live census uses, so the doctor and every
//! read-only view judge it as they judge the live kernel.
//!
//! One [`Evidence`] per reading: the namespaces it holds (sockets, owners where the dump named them,
//! the kernel state it carried), what it could tell ([`Known`]: a view says what it could not judge
//! and why), where it came from ([`Source`]) and the lines it could not read ([`Unread`]: counted,
//! the first few kept with their line numbers; never fatal, never dropped in silence).
//!
//! [`read`] is the one entry point: files, directories of mixed pieces, sosreport directories and
//! tarballs. Modules by format: [`ss`](crate::ss) and `netstat` socket tables, `procnet`
//! (`/proc/net/*`), `settings` (`sysctl -a`, limits, `netstat -s`), `text` (one dump, its
//! sections and format sniffing), `archive` (directories, sosreports, tarballs); `collect`
//! gathers their readings per namespace; `addr`, `words` and `lines` are shared by all.

mod addr;
mod archive;
mod collect;
mod lines;
mod netstat;
mod procnet;
mod recording;
mod settings;
mod ss;
mod text;
mod words;

pub use archive::read;
pub use recording::{open, unjudged, Recording};

pub mod snapshot;

use std::path::PathBuf;

use sockdoc_core::doctor::KernelState;
use sockdoc_diag::Socket;
use sockdoc_proc::SocketOwners;

/// Everything one reading of evidence gave.
#[derive(Default)]
pub struct Evidence {
    pub source: Source,
    /// At least one namespace for a reading that found sockets; several for a file that held
    /// several (`ip netns exec` loops, `ss -N`, a sosreport's namespaces).
    pub namespaces: Vec<NsEvidence>,
    /// Lines no reader could take.
    pub unread: Unread,
}

/// The sockets and state of one namespace, as far as the evidence tells.
#[derive(Default)]
pub struct NsEvidence {
    /// How the evidence named it (`current`, a netns name from a header line, a file's name).
    pub label: String,
    /// In the census's order (TCP v4, v6, UDP v4, v6). A socket whose dump gave no inode gets a
    /// made-up one (from [`SYNTHETIC_INODE`] up), so owners and lookups by inode still work.
    pub sockets: Vec<Socket>,
    /// Owners the dump named (`ss -p`, `netstat -p`, a snapshot); `None` when it named none.
    pub owners: Option<SocketOwners>,
    /// The services (unit, container, pod) of the sockets' cgroups, when the evidence named them
    /// (a snapshot).
    pub services: Option<sockdoc_core::service::Services>,
    /// Counters, sysctls, limits, conntrack and sockstat the evidence carried (a counter read
    /// once gives levels, not rates: see [`Known::counter_rates`]).
    pub kernel: Option<KernelState>,
    pub known: Known,
    /// cgroup paths the dump named (`ss -e`'s `cgroup:/system.slice/sshd.service`): a foreign
    /// host's cgroup ids mean nothing here, so each path gets a made-up id (from
    /// [`SYNTHETIC_CGROUP`] up) in `Socket::cgroup_id`, and this table names it. Sorted by id.
    pub cgroup_paths: Vec<(u64, String)>,
    /// Descriptor limits the evidence showed (`/proc/PID/limits`, `ulimit -a`), with the pid when
    /// it said whose. A limit of a pid the dump names as an owner also fills
    /// `KernelState::fd_pressure` (with the socket descriptors as the open count: a lower bound).
    pub nofile: Vec<(Option<u32>, sockdoc_proc::limits::NoFile)>,
    /// The conntrack table counted (`/proc/net/nf_conntrack`, `conntrack -L`; a snapshot's cut to
    /// its [`snapshot::CONNTRACK_TOP`] largest keys per breakdown), when the evidence had it. The
    /// fill (`count`/`max`) is the kernel state's `conntrack_after` (`sysctl -a`, a snapshot).
    pub conntrack_table: Option<sockdoc_proc::conntrack_table::TableCounts>,
    /// Which files told what (empty for a snapshot: the snapshot told everything).
    pub provenance: Provenance,
    /// When the recorder first saw each socket (ms since the epoch, 0 unknown; the order of
    /// `sockets`): a recorder's snapshot has them, other evidence none.
    pub first_seen: Option<Vec<u64>>,
}

/// Which files of a reading told a namespace's sockets, sysctls and counters, each as (what the
/// file was read as: the command when the dump named it, else the tool; the file).
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// The socket dumps kept (several for `/proc/net/tcp` and `tcp6`).
    pub sockets: Vec<(String, PathBuf)>,
    pub sysctls: Vec<(String, PathBuf)>,
    pub counters: Vec<(String, PathBuf)>,
}

impl Provenance {
    /// Add `(form, file)` to `list` unless it is there.
    pub(crate) fn note(list: &mut Vec<(String, PathBuf)>, form: &str, file: &std::path::Path) {
        if !list.iter().any(|(f, p)| f == form && p == file) {
            list.push((form.to_string(), file.to_path_buf()));
        }
    }
}

/// Inodes from here up are made up by a reader for sockets whose dump gave none.
/// TIME-WAIT and SYN-RECV sockets keep inode 0 (the kernel gives them no file).
pub const SYNTHETIC_INODE: u32 = 0xF000_0000;

/// cgroup ids from here up are made up for cgroup paths a dump named (see
/// [`NsEvidence::cgroup_paths`]).
pub const SYNTHETIC_CGROUP: u64 = 1 << 62;

/// What the evidence could tell, so a view can say what it could not judge and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// Timers (`ss -o`, `netstat -o`, `/proc/net/tcp`): keepalive on or off.
    pub timers: bool,
    /// tcp_info (`ss -i`): idle times, retransmits, RTT.
    pub tcp_info: bool,
    /// Owning processes (`ss -p`, `netstat -p`).
    pub owners: bool,
    /// Real socket inodes (`ss -e`, `netstat -e`, `/proc/net/tcp`).
    pub inodes: bool,
    /// Receive and send queues.
    pub queues: bool,
    /// Listen backlogs (`ss` shows a listener's backlog as its Send-Q; netstat and /proc/net
    /// show 0).
    pub backlogs: bool,
    /// Socket uids.
    pub uids: bool,
    /// cgroup ids (a snapshot; `ss -e` on kernels that print `cgroup:`).
    pub cgroups: bool,
    /// Counters read twice, some time apart: rates (drops per second) can be judged.
    pub counter_rates: bool,
    /// The sysctls that matter to the doctor.
    pub sysctls: bool,
    /// Every state was dumped (not a `state` filter's share, nor listeners only).
    pub all_states: bool,
    /// Each socket's state is known. False when `ss` ran with a one-state filter (no State
    /// column) and no command line said which: those sockets are stored as ESTAB.
    pub states: bool,
}

/// Where one of [`Known`]'s flags lives.
type Flag = fn(&mut Known) -> &mut bool;

impl Known {
    /// The flags' names (in snapshot headers and the JSON `source` block), and where each lives.
    pub const FLAGS: [(&'static str, Flag); 12] = [
        ("timers", |k| &mut k.timers),
        ("tcp_info", |k| &mut k.tcp_info),
        ("owners", |k| &mut k.owners),
        ("inodes", |k| &mut k.inodes),
        ("queues", |k| &mut k.queues),
        ("backlogs", |k| &mut k.backlogs),
        ("uids", |k| &mut k.uids),
        ("cgroups", |k| &mut k.cgroups),
        ("counter_rates", |k| &mut k.counter_rates),
        ("sysctls", |k| &mut k.sysctls),
        ("all_states", |k| &mut k.all_states),
        ("states", |k| &mut k.states),
    ];

    /// The names of what the evidence could not tell.
    pub fn missing(self) -> Vec<&'static str> {
        let mut k = self;
        Known::FLAGS
            .iter()
            .filter(|(_, flag)| !*flag(&mut k))
            .map(|(name, _)| *name)
            .collect()
    }
}

/// Where the evidence came from.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// Each file read and what it was read as.
    pub files: Vec<SourceFile>,
    /// The host it describes, when the evidence says (a snapshot, a sosreport's `hostname`).
    pub host: Option<String>,
    /// The kernel release, when the evidence says.
    pub kernel: Option<String>,
    /// When it was taken, as the evidence says it (RFC 3339 from a snapshot; a sosreport's
    /// `date` output as printed), when it does.
    pub taken: Option<String>,
    /// Files of a directory or archive left aside, with why (no known format, binary, empty).
    pub ignored: Vec<(PathBuf, String)>,
}

/// One file of the evidence.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    /// What it was read as (`ss -tanoi`, `netstat -antp`, `/proc/net/tcp6`, `sysctl -a`,
    /// `sockdoc snapshot v1`).
    pub format: String,
    /// Lines (or records) taken.
    pub taken: u64,
    /// Lines read and left aside on purpose: sockets of other families (`u_str`, `nl`, `raw`),
    /// netstat's UNIX-socket section and their continuation lines.
    pub skipped: u64,
}

/// Lines that could not be read.
#[derive(Clone, Debug, Default)]
pub struct Unread {
    pub count: u64,
    /// The first few, as (file, line number from 1, the line cut to a sane length).
    pub first: Vec<(PathBuf, u64, String)>,
}

/// How many unread lines are kept with their text.
pub const UNREAD_KEPT: usize = 5;

impl Unread {
    /// Count a line no reader could take; keep it when it is among the first few.
    pub fn note(&mut self, file: &std::path::Path, line_no: u64, line: &str) {
        self.count += 1;
        if self.first.len() < UNREAD_KEPT {
            let cut: String = line.chars().take(200).collect();
            self.first.push((file.to_path_buf(), line_no, cut));
        }
    }
}

/// Why evidence could not be read at all (a file that is empty, binary, or of no known format).
/// Lines that cannot be read are not errors: they are [`Unread`]. The `Display` words are English;
/// the binary words each case in the user's language from the fields.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The path (or, for a directory none of whose files could be read, the first such file)
    /// cannot be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty: nothing to judge")]
    Empty { path: PathBuf },
    #[error("{path} is not text (a binary file?): give ss or netstat output, /proc/net files, a sosreport or a sockdoc snapshot")]
    Binary { path: PathBuf },
    #[error("{path}: {problem}")]
    Snapshot {
        path: PathBuf,
        problem: snapshot::Problem,
    },
    #[error("{path}: no known format (ss, netstat, /proc/net, sysctl -a, limits, a sosreport or a sockdoc snapshot): {why}")]
    Unknown { path: PathBuf, why: NotEvidence },
}

/// Why a file, directory or archive read as no known format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotEvidence {
    /// No line of the file read as any format; its first line (cut to 80 bytes).
    #[error("its first line reads {0:?}; give the output as the tool printed it, header included")]
    FirstLine(String),
    /// Nothing in the first [`SNIFF_BYTES`] of the file read as any format, so the rest was not
    /// read; its first line (cut to 80 bytes).
    #[error("nothing in its first MiB reads as one (its first line reads {0:?}); give the output as the tool printed it, header included")]
    Head(String),
    /// A directory in which no file is evidence.
    #[error("no file in it is ss or netstat output, /proc/net, sysctl -a or limits")]
    Directory,
    /// An archive with no evidence in it.
    #[error("an archive with no ss or netstat output, /proc/net files, sysctl -a or limits in it")]
    Archive,
}

/// How much of a file is read to find what it is: a file of which nothing in its first MiB reads
/// as a known format is refused without reading the rest (a 2 GB log is refused as fast as a
/// small one). Once something reads, the whole file is read.
pub const SNIFF_BYTES: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_lines_are_counted_and_the_first_few_kept() {
        let mut u = Unread::default();
        for i in 1..=8 {
            u.note(std::path::Path::new("ss.txt"), i, &"x".repeat(300));
        }
        assert_eq!(u.count, 8);
        assert_eq!(u.first.len(), UNREAD_KEPT);
        assert_eq!(u.first[0].1, 1);
        assert_eq!(u.first[0].2.len(), 200);
    }
}
