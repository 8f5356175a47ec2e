//! What ss's flags mean on `sockdoc list` and `sockdoc ss`: which states (ss's default set unless
//! `-a` or `-l`), which columns (`-p -o -e -i`), and `-s` / `-K` handed to `stats` / `kill`.
//!
//! `sockdoc list` alone keeps showing every state, as it always has (scripts rely on it). A command
//! line that uses a flag only ss has (`-a -l -n -e -i -o -K`) reads as ss reads it: without `-a` or
//! `-l`, ss's default states (not listening, not closed, not TIME-WAIT, not SYN-RECV), and ss's
//! columns (`Netid State Recv-Q Send-Q Local Peer`, plus what `-p -o -e -i` add). A `state` or
//! `exclude` word in the filter decides the states itself, as in ss. `sockdoc ss` always reads so.

use sockdoc_core::i18n::{text, Lang, Msg};

use super::Col;
use crate::cli::{KillArgs, KillMethod, ListArgs, StatsArgs};
use crate::error::Failure;

/// What ss's output shows besides its base columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SsFlags {
    /// The Netid column: both TCP and UDP are listed.
    pub netid: bool,
    pub processes: bool,
    pub timers: bool,
    pub extended: bool,
    pub info: bool,
}

/// How the sockets are written as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Aligned columns with headers in the user's language (`list`, `ghosts`).
    Table,
    /// ss's lines, headers and field names (`sockdoc ss`).
    Ss(SsFlags),
}

/// Whether the command line reads as ss's: `sockdoc ss`, or a flag only ss has.
pub fn ss_habits(a: &ListArgs, ss: bool) -> bool {
    ss || a.all || a.listening || a.numeric || a.extended || a.info || a.options || a.kill
}

/// The style of `sockdoc ss` (`ss`) or `sockdoc list`.
pub fn style(a: &ListArgs, ss: bool) -> Style {
    if !ss {
        return Style::Table;
    }
    Style::Ss(SsFlags {
        netid: a.select.tcp == a.select.udp,
        processes: a.processes,
        timers: a.options,
        extended: a.extended,
        info: a.info,
    })
}

/// The columns: `--columns`, else ss's (with ss's habits) or sockdoc's default.
pub fn columns(lang: Lang, a: &ListArgs, style: Style) -> Result<Vec<Col>, Failure> {
    if !a.columns.is_empty() {
        return a
            .columns
            .iter()
            .filter(|w| !w.is_empty())
            .map(|w| {
                Col::parse(w).ok_or_else(|| Failure::usage(text(lang, Msg::UnknownColumn, &[w])))
            })
            .collect();
    }
    // Without ss's flags: sockdoc's own columns (every protocol named, timer and idle always);
    // with them, ss's: the netid only for both protocols, -o the timer, -e and -i their columns.
    let habits = ss_habits(a, matches!(style, Style::Ss(_)));
    let mut c = Vec::new();
    if !habits || a.select.tcp == a.select.udp {
        c.push(Col::Netid);
    }
    c.extend([Col::State, Col::RecvQ, Col::SendQ, Col::Local, Col::Peer]);
    if !habits || a.options {
        c.push(Col::Timer);
    }
    if !habits {
        c.push(Col::Idle);
    }
    if habits && a.extended {
        c.extend([Col::Uid, Col::Inode, Col::Cookie]);
    }
    if habits && a.info {
        c.extend([
            Col::Idle,
            Col::Rtt,
            Col::Retrans,
            Col::Unacked,
            Col::BytesAcked,
            Col::BytesReceived,
        ]);
    }
    if a.processes {
        c.push(Col::Process);
    }
    Ok(c)
}

/// The states of ss's habits as filter words: none for `-a` (every state), listening and closed
/// for `-l`, else ss's default set.
fn state_words(a: &ListArgs) -> &'static [&'static str] {
    if a.all {
        &[]
    } else if a.listening {
        &["state", "listening", "state", "closed"]
    } else {
        &[
            "state",
            "connected",
            "exclude",
            "syn-recv",
            "exclude",
            "time-wait",
        ]
    }
}

/// Whether the filter says which states itself (`state NAME`, `exclude NAME`, `listening`).
fn names_states(words: &[String]) -> bool {
    words.iter().flat_map(|w| w.split_whitespace()).any(|w| {
        let w = w.trim_start_matches(['(', '!']);
        matches!(w, "state" | "exclude" | "excl" | "listening" | "listen")
    })
}

/// The filter words a listing runs: the user's, with ss's states before them when the command
/// line reads as ss's and the filter names no states.
pub fn filter_words(a: &ListArgs, ss: bool) -> Vec<String> {
    if !ss_habits(a, ss) || names_states(&a.filter) {
        return a.filter.clone();
    }
    let states = state_words(a);
    if states.is_empty() {
        return a.filter.clone();
    }
    let mut words: Vec<String> = states.iter().map(|w| w.to_string()).collect();
    if !a.filter.is_empty() {
        words.push("and".into());
        words.push("(".into());
        words.extend(a.filter.iter().cloned());
        words.push(")".into());
    }
    words
}

/// `-s`: the same selection as `sockdoc stats` (every state: ss -s counts them all).
pub fn as_stats(a: &ListArgs) -> StatsArgs {
    StatsArgs {
        select: a.select.clone(),
        by: Vec::new(),
        top: 10,
        prefix4: 24,
        prefix6: 64,
        filter: a.filter.clone(),
    }
}

/// `-K`: the same selection as `sockdoc kill`, its safety flags from the command line. Without a
/// filter there is nothing to add to: kill then refuses, as it always does.
pub fn as_kill(a: &ListArgs, ss: bool) -> KillArgs {
    let mut words = Vec::new();
    if !a.filter.is_empty() {
        let protocol = match (a.select.tcp, a.select.udp) {
            (true, false) => Some("tcp"),
            (false, true) => Some("udp"),
            _ => None,
        };
        let family = match (a.select.ipv4, a.select.ipv6) {
            (true, false) => Some("ipv4"),
            (false, true) => Some("ipv6"),
            _ => None,
        };
        words.extend(protocol.into_iter().chain(family).map(String::from));
        words.extend(filter_words(a, ss));
    }
    KillArgs {
        method: KillMethod::Auto,
        dry_run: a.act.dry_run,
        yes: a.act.yes,
        max: a.act.max,
        confirm_above: 100,
        tell_peer: false,
        listen: a.all || a.listening,
        audit_log: a.act.audit_log.clone(),
        filter: words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &str) -> ListArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: ListArgs,
        }
        T::parse_from(std::iter::once("t").chain(line.split_whitespace())).a
    }

    #[test]
    fn ss_states() {
        let words = |line: &str| filter_words(&args(line), false).join(" ");
        assert_eq!(words("-t"), "");
        assert_eq!(words("-tan"), "");
        assert_eq!(
            words("-tn"),
            "state connected exclude syn-recv exclude time-wait"
        );
        assert_eq!(words("-ltn"), "state listening state closed");
        assert_eq!(
            words("-tn dport = :22"),
            "state connected exclude syn-recv exclude time-wait and ( dport = :22 )"
        );
        assert_eq!(words("-to state established"), "state established");
        assert_eq!(filter_words(&args(""), true).len(), 6);
    }

    #[test]
    fn ss_states_are_what_ss_shows() {
        use sockdoc_core::filter::Filter;
        use sockdoc_diag::State;
        let mask = Filter::parse(&filter_words(&args("-n"), false))
            .map(|f| f.state_mask())
            .unwrap_or_default();
        let shown: Vec<State> = State::ALL
            .into_iter()
            .filter(|s| mask & s.mask_bit() != 0)
            .collect();
        use State::*;
        let want = [
            Established,
            SynSent,
            FinWait1,
            FinWait2,
            CloseWait,
            LastAck,
            Closing,
        ];
        assert_eq!(shown.len(), want.len(), "{shown:?}");
        assert!(want.iter().all(|s| shown.contains(s)), "{shown:?}");
    }

    #[test]
    fn kill_keeps_its_safety() {
        let k = as_kill(&args("-tK"), false);
        assert!(k.filter.is_empty(), "no filter: kill refuses");
        let k = as_kill(&args("-tK --yes dst 10.0.0.1"), false);
        assert!(k.yes && !k.listen);
        assert_eq!(k.filter[0], "tcp");
        assert!(k.filter.contains(&"dst".to_string()));
    }
}
