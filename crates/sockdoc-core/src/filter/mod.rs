//! The filter language: `ss`-style words (`state established '( sport = :21 )'`) plus sockdoc's own
//! (`proc`, `idle`, `keepalive`, ...), parsed once into a [`Filter`] that is then evaluated on every
//! socket and, where it can be, pushed down to the kernel as a state mask and a bytecode program.
//!
//! Layout: [`lex`] splits text into tokens, [`parse`] builds the [`ast`], [`eval`] decides a socket,
//! [`pushdown`] derives the kernel's part, [`values`] reads the arguments (ports, addresses, durations),
//! [`build`] makes filters from values (no text joined), [`help`] is the reference text.

mod ast;
mod build;
mod eval;
mod help;
mod lex;
mod parse;
mod pushdown;
mod values;

#[cfg(test)]
mod tests;

use std::fmt;

use sockdoc_diag::{BcExpr, Socket, ALL_STATES_MASK};

use crate::Owners;
use ast::Expr;

pub use eval::glob_match;
pub use help::help_text;

/// The language's keywords: those that start a predicate ([`predicate_keywords`]), then `not`,
/// `and`, `or`. Aliases the parser also takes (`excl`, `inet`, `inet6`, `listen`) are not listed.
pub fn keywords() -> impl Iterator<Item = &'static str> {
    parse::keywords()
}

/// The keywords that start a predicate (`state`, `sport`, ..., `listening`); so do `not` and `(`.
pub fn predicate_keywords() -> &'static [&'static str] {
    parse::PREDICATE_KEYWORDS
}

/// A parsed filter. The empty filter matches every socket.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    expr: Option<Expr>,
}

/// Why a filter did not parse: the offending word, where it starts and what was expected.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub struct FilterError {
    /// The word as written; empty when the text ended too early.
    pub word: String,
    /// Character offset of `word` in the words joined by single spaces (the text's length when empty).
    pub position: usize,
    pub message: String,
}

impl FilterError {
    pub(crate) fn new(
        word: impl Into<String>,
        position: usize,
        message: impl Into<String>,
    ) -> Self {
        FilterError {
            word: word.into(),
            position,
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.word.is_empty() {
            f.write_str("bad filter at its end")?;
        } else {
            write!(f, "bad filter at {}", crate::echo::quoted(&self.word))?;
        }
        write!(f, ": {} (see sockdoc list --help)", self.message)
    }
}

impl Filter {
    /// Parse the words after the subcommand. Words are joined with spaces and tokenized as one text, so
    /// `["state", "established", "(", "sport", "=", ":21", ")"]` and
    /// `["state established '( sport = :21 )'"]` mean the same. No words means "match everything".
    pub fn parse(words: &[String]) -> Result<Filter, FilterError> {
        let text = words.join(" ");
        let expr = parse::parse_text(&text, 0, 0)?;
        Ok(Filter { expr })
    }

    /// True when `s` passes the filter. Evaluated entirely here; the kernel pushdown is an optimisation.
    pub fn matches(&self, s: &Socket, owners: &dyn Owners) -> bool {
        match &self.expr {
            None => true,
            Some(e) => e.matches(s, owners),
        }
    }

    /// True when the filter tests process attribution (`proc`, `pid`).
    pub fn needs_processes(&self) -> bool {
        self.any_pred(ast::Pred::needs_processes)
    }

    /// True when the filter names services (`unit`, `container`, `pod`): the census must name the
    /// sockets' cgroups ([`crate::session::Needs::cgroups`]) and judge with [`crate::WithServices`].
    pub fn needs_services(&self) -> bool {
        self.any_pred(ast::Pred::needs_services)
    }

    /// True when the filter cannot be decided as a socket arrives from the kernel: it asks who owns
    /// the socket (a process or a service), known only once the census is whole.
    pub fn decided_late(&self) -> bool {
        self.needs_processes() || self.needs_services()
    }

    /// True when the filter reads `tcp_info` (`idle`, `retrans`, `unacked`): ask the kernel for it.
    pub fn needs_tcp_info(&self) -> bool {
        self.any_pred(ast::Pred::needs_tcp_info)
    }

    /// True when the filter reads timers (`keepalive`, `timer KIND`).
    pub fn needs_timers(&self) -> bool {
        self.any_pred(ast::Pred::needs_timers)
    }

    /// The `idiag_states` mask to dump with: a superset of the states that can match. 0 means nothing
    /// can match.
    pub fn state_mask(&self) -> u32 {
        match &self.expr {
            None => ALL_STATES_MASK,
            Some(e) => pushdown::pushdown(e).kernel_states(),
        }
    }

    /// A kernel bytecode filter that accepts every socket the filter accepts (and maybe more); `None`
    /// when nothing can be pushed down.
    pub fn kernel_filter(&self) -> Option<BcExpr> {
        self.expr
            .as_ref()
            .and_then(|e| pushdown::pushdown(e).program)
    }

    /// Which protocols can match, as `(tcp, udp)`.
    pub fn protocols(&self) -> (bool, bool) {
        self.expr.as_ref().map_or((true, true), pushdown::protocols)
    }

    /// Which address families can match, as `(ipv4, ipv6)`.
    pub fn families(&self) -> (bool, bool) {
        self.expr.as_ref().map_or((true, true), pushdown::families)
    }

    /// True for the filter that matches everything.
    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// True when the kernel's state mask and program together select exactly the filter's sockets.
    #[cfg(test)]
    fn pushdown_is_exact(&self) -> bool {
        match &self.expr {
            None => true,
            Some(e) => pushdown::pushdown(e).exact,
        }
    }

    fn any_pred(&self, f: fn(&ast::Pred) -> bool) -> bool {
        self.expr.as_ref().is_some_and(|e| e.any_pred(&f))
    }
}

impl fmt::Display for Filter {
    /// The canonical text of the filter; it parses back to the same filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr {
            None => Ok(()),
            Some(e) => write!(f, "{e}"),
        }
    }
}
