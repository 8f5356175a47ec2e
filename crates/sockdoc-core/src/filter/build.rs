//! Filters built from values instead of text, for callers that hold structured fields (the reaper's
//! `local_port`, `peer`, `state`, `process`, `unit`, `container`): each value is read as a value by the same readers the
//! parser uses, and parts are combined as tree nodes, so no field can add words to another field or
//! escape its parentheses the way joined text could.

use super::ast::{CmpOp, Expr, NamePattern, Pred, Side, StateSet};
use super::{values, Filter};

impl Filter {
    /// Sockets whose local port is one of `ports`. `None` for an empty list.
    pub fn local_port_any(ports: &[u16]) -> Option<Filter> {
        let terms: Vec<Expr> = ports
            .iter()
            .map(|&port| {
                Expr::Pred(Pred::Port {
                    side: Side::Local,
                    op: CmpOp::Eq,
                    port,
                })
            })
            .collect();
        (!terms.is_empty()).then(|| Filter {
            expr: Some(Expr::any(terms)),
        })
    }

    /// Sockets whose remote end matches one of `peers`, each an address, a prefix or an address with a
    /// port as `dst` takes it (`10.0.0.0/8`, `[::1]:80`). The error names the value that is not one.
    pub fn peer_any(peers: &[String]) -> Result<Option<Filter>, String> {
        let mut terms = Vec::with_capacity(peers.len());
        for p in peers {
            let pattern = values::host_pattern(p.trim()).map_err(|e| format!("{p:?}: {e}"))?;
            terms.push(Expr::Pred(Pred::Host {
                side: Side::Remote,
                pattern,
            }));
        }
        Ok((!terms.is_empty()).then(|| Filter {
            expr: Some(Expr::any(terms)),
        }))
    }

    /// Sockets in one of `states` (names or groups as `state` takes them).
    pub fn state_any(states: &[String]) -> Result<Option<Filter>, String> {
        let mut set = StateSet::EMPTY;
        for s in states {
            set = set.union(values::state_set(s.trim()).map_err(|e| format!("{s:?}: {e}"))?);
        }
        Ok((!states.is_empty()).then_some(Filter {
            expr: Some(Expr::Pred(Pred::States(set))),
        }))
    }

    /// Sockets owned by a process of this name (`*` is a wildcard).
    pub fn process_named(name: &str) -> Result<Filter, String> {
        let name = values::process_name(name)?;
        Ok(Filter {
            expr: Some(Expr::Pred(Pred::Proc(NamePattern(name)))),
        })
    }

    /// Sockets in one of the systemd units or slices `names` (as the word `unit` takes them:
    /// `nginx` is `nginx.service`, `*` a wildcard). The error names the value that is not one.
    pub fn unit_any(names: &[String]) -> Result<Option<Filter>, String> {
        Self::names_any(names, "a unit name", |n| Pred::Unit(NamePattern(n)))
    }

    /// Sockets in one of the containers `names` (name, id, or id prefix of 12+ hex digits).
    pub fn container_any(names: &[String]) -> Result<Option<Filter>, String> {
        Self::names_any(names, "a container name or id", Pred::Container)
    }

    fn names_any(
        names: &[String],
        what: &str,
        pred: fn(String) -> Pred,
    ) -> Result<Option<Filter>, String> {
        let mut terms = Vec::with_capacity(names.len());
        for n in names {
            let name = values::name(n.trim(), what).map_err(|e| format!("{n:?}: {e}"))?;
            terms.push(Expr::Pred(pred(name)));
        }
        Ok((!terms.is_empty()).then(|| Filter {
            expr: Some(Expr::any(terms)),
        }))
    }

    /// Sockets every one of `parts` accepts; each part stays a subtree of its own. Parts that match
    /// everything add nothing; no parts (or only such parts) match everything.
    pub fn all_of(parts: Vec<Filter>) -> Filter {
        let terms: Vec<Expr> = parts.into_iter().filter_map(|f| f.expr).collect();
        Filter {
            expr: (!terms.is_empty()).then(|| Expr::all(terms)),
        }
    }

    /// Sockets at least one of `parts` accepts. A part that matches everything makes the whole match
    /// everything; no parts match nothing is not expressible, so `parts` should not be empty (an empty
    /// list gives the filter that matches everything, like an empty text).
    pub fn any_of(parts: Vec<Filter>) -> Filter {
        let mut terms = Vec::with_capacity(parts.len());
        for f in parts {
            match f.expr {
                Some(e) => terms.push(e),
                None => return Filter::default(),
            }
        }
        Filter {
            expr: (!terms.is_empty()).then(|| Expr::any(terms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Filter {
        Filter::parse(&[text.to_string()]).expect("parses")
    }

    #[test]
    fn a_value_cannot_carry_filter_words() {
        assert!(Filter::peer_any(&["127.0.0.1 or sport = :5000".into()]).is_err());
        assert!(Filter::peer_any(&["10.0.0.0/8 )".into()]).is_err());
        assert!(Filter::state_any(&["established or sport = :1".into()]).is_err());
        assert!(Filter::state_any(&["all ) or ( sport = :1".into()]).is_err());
    }

    #[test]
    fn parts_stay_subtrees_and_print_back() {
        let ports = Filter::local_port_any(&[21, 2121]).expect("ports");
        let peers = Filter::peer_any(&["10.0.0.0/8".into(), "::1".into()])
            .expect("peers")
            .expect("some");
        let user = parse("sport = :1 or state all");
        let f = Filter::all_of(vec![ports, peers, user]);
        let text = f.to_string();
        assert_eq!(
            text,
            "( sport = :21 or sport = :2121 ) and ( dst 10.0.0.0/8 or dst ::1 ) and ( sport = :1 or state all )"
        );
        // The printed text means the same tree.
        assert_eq!(parse(&text).to_string(), text);
    }

    #[test]
    fn any_of_with_a_match_all_part_matches_all() {
        assert!(Filter::any_of(vec![parse("sport = :1"), Filter::default()]).is_empty());
        assert!(Filter::all_of(vec![Filter::default()]).is_empty());
        assert!(!Filter::all_of(vec![Filter::default(), parse("tcp")]).is_empty());
    }
}
