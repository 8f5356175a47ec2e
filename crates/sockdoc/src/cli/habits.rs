//! The one argument that means two things: `-o`. In ss it shows timers and takes no value; in
//! sockdoc's `list` it used to take a comma list of columns. Before the parser runs, this pass
//! rewrites `-o LIST` to `--columns LIST` when LIST is meant as columns, so old scripts keep
//! working and `-tanop` or `-to state established` read as ss reads them. Every flag stays declared
//! in the clap definitions (`cli/view.rs`); this pass only moves one word.
//!
//! `-o LIST` is columns when every comma-separated item of LIST names a column, unless LIST is one
//! word that starts a valid filter with the words after it (`-o state established`: ss's timers,
//! then the filter `state established`). So `-o local,peer`, `-o state` and `-o state sport = :22`
//! stay columns.

use std::ffi::OsString;

use sockdoc_core::filter::Filter;

use crate::cmd::list::Col;

/// Global and list flags that take a value as the next argument (the pass must not read a value as
/// a flag or a subcommand).
const TAKES_VALUE: &[&str] = &[
    "--netns",
    "--netns-pid",
    "--lang",
    "--from",
    "--format",
    "--idle",
    "--interval",
    "--columns",
    "--max",
    "--audit-log",
];

/// The command line with `-o LIST` (for `list` and `ss`) rewritten to `--columns LIST` where LIST
/// means columns; anything else unchanged.
pub fn prepass(args: Vec<OsString>) -> Vec<OsString> {
    let strs: Option<Vec<String>> = args.iter().map(|a| a.to_str().map(String::from)).collect();
    let Some(strs) = strs else {
        return args;
    };
    let Some(sub) = subcommand_at(&strs) else {
        return args;
    };
    if strs[sub] != "list" && strs[sub] != "ss" {
        return args;
    }
    let mut out: Vec<String> = strs[..=sub].to_vec();
    let mut i = sub + 1;
    while i < strs.len() {
        let a = &strs[i];
        if a == "--" {
            out.extend(strs[i..].iter().cloned());
            break;
        }
        if TAKES_VALUE.contains(&a.as_str()) {
            out.extend(strs[i..(i + 2).min(strs.len())].iter().cloned());
            i += 2;
            continue;
        }
        if let Some(rest) = a.strip_prefix("-o").filter(|r| !r.is_empty()) {
            // `-olocal,peer`, `-o=local`: the columns attached.
            let list = rest.strip_prefix('=').unwrap_or(rest);
            if is_column_list(list) {
                out.push("--columns".into());
                out.push(list.into());
                i += 1;
                continue;
            }
        }
        let cluster = a.starts_with('-') && !a.starts_with("--") && a.len() > 1;
        if cluster && a.ends_with('o') {
            if let Some(list) = strs.get(i + 1) {
                if means_columns(list, &strs[i + 2..]) {
                    let flags = &a[..a.len() - 1];
                    if flags != "-" {
                        out.push(flags.into());
                    }
                    out.push("--columns".into());
                    out.push(list.clone());
                    i += 2;
                    continue;
                }
            }
        }
        out.push(a.clone());
        i += 1;
    }
    out.into_iter().map(OsString::from).collect()
}

/// Where the subcommand is: the first word that is neither a flag nor a flag's value.
fn subcommand_at(args: &[String]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if TAKES_VALUE.contains(&a) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

fn is_column_list(list: &str) -> bool {
    let mut items = list.split(',').filter(|w| !w.is_empty()).peekable();
    items.peek().is_some() && items.all(|w| Col::parse(w).is_some())
}

/// Whether `list`, the word after `-o`, is a column list rather than the start of a filter.
fn means_columns(list: &str, after: &[String]) -> bool {
    if !is_column_list(list) {
        return false;
    }
    if list.contains(',') {
        return true;
    }
    // One word: the filter reading wins when it parses with the words that follow it.
    let words: Vec<String> = std::iter::once(list.to_string())
        .chain(after.iter().take_while(|w| !w.starts_with('-')).cloned())
        .collect();
    Filter::parse(&words).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(line: &str) -> String {
        let args = line.split(' ').map(OsString::from).collect();
        let out: Vec<String> = prepass(args)
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect();
        out.join(" ")
    }

    #[test]
    fn column_lists_become_columns() {
        assert_eq!(
            pass("sockdoc list -o local,peer,idle"),
            "sockdoc list --columns local,peer,idle"
        );
        assert_eq!(
            pass("sockdoc list -po process,local"),
            "sockdoc list -p --columns process,local"
        );
        assert_eq!(
            pass("sockdoc list -o state"),
            "sockdoc list --columns state"
        );
        assert_eq!(
            pass("sockdoc list -o state sport = :22"),
            "sockdoc list --columns state sport = :22"
        );
        assert_eq!(
            pass("sockdoc list -olocal,peer"),
            "sockdoc list --columns local,peer"
        );
        assert_eq!(
            pass("sockdoc --netns lab list -o local keepalive"),
            "sockdoc --netns lab list --columns local keepalive"
        );
    }

    #[test]
    fn ss_timers_stay_timers() {
        for line in [
            "sockdoc list -to state established",
            "sockdoc list -tanop",
            "sockdoc list -o",
            "sockdoc list -o -p",
            "sockdoc ss -tanoi dst 10.0.0.1",
            "sockdoc list -o unit nginx",
            "sockdoc list --columns local -o",
            "sockdoc stats -o local",
            "sockdoc --netns list -o local",
        ] {
            assert_eq!(pass(line), line);
        }
    }
}
