//! Keys of the headers of the census tables: the columns of `list` and `ghosts`, and the key
//! column of each `stats --by` grouping. The words are in `en/table.rs` (the names ss prints) and
//! `zh/table.rs`; a key without its word there does not compile. `sockdoc ss` always prints the
//! English ones, as ss does.

use super::Lang;

/// A header of a census table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    Netid,
    State,
    RecvQ,
    SendQ,
    Local,
    Peer,
    Process,
    Timer,
    Idle,
    Inode,
    Uid,
    Cookie,
    Ifindex,
    Rtt,
    Retrans,
    Unacked,
    BytesAcked,
    BytesReceived,
    Cmdline,
    Unit,
    Container,
    Pod,
    Cgroup,
    /// The `age` column (first seen by the recorder).
    Age,
    // The key columns of `stats --by` that no listing column names.
    RemoteIp,
    RemotePort,
    LocalIp,
    LocalPort,
    PeerPrefix,
}

/// The header `h` in `lang`.
pub fn header(lang: Lang, h: Header) -> &'static str {
    match lang {
        Lang::En => super::en::table::header(h),
        Lang::Zh => super::zh::table::header(h),
    }
}

/// The header of the key column of a `stats --by` grouping (`remote-ip`, `unit`, ...), in `lang`;
/// `None` for a name it does not know.
pub fn group_header(lang: Lang, by: &str) -> Option<&'static str> {
    let h = match by {
        "state" => Header::State,
        "remote-ip" => Header::RemoteIp,
        "remote-port" => Header::RemotePort,
        "local-ip" => Header::LocalIp,
        "local-port" => Header::LocalPort,
        "process" => Header::Process,
        "unit" => Header::Unit,
        "container" => Header::Container,
        "pod" => Header::Pod,
        "cgroup" => Header::Cgroup,
        "peer-prefix" => Header::PeerPrefix,
        _ => return None,
    };
    Some(header(lang, h))
}
