//! The filter parser: tokens to an [`Expr`], by recursive descent.
//!
//! ```text
//! filter  := or?
//! or      := and ( ("or" | "||" | "|") and )*
//! and     := unary ( ("and" | "&&" | "&")? unary )*      juxtaposition means and
//! unary   := ("not" | "!") unary | primary
//! primary := "(" or ")" | 'quoted filter' | predicate
//! ```
//!
//! A run of adjacent `state`/`exclude` words is one predicate, as in `ss`: `state` adds to the set,
//! `exclude` removes from it, and a run that starts with `exclude` starts from all states.

use sockdoc_diag::{Family, Proto, State};

use super::ast::{CmpOp, Expr, NamePattern, Pred, Side, StateSet};
use super::lex::{lex, Token, TokenKind};
use super::values;
use super::FilterError;

/// Deepest nesting of parentheses, quotes and `not` accepted; keeps recursion bounded.
const MAX_DEPTH: usize = 64;

/// The words that start a predicate (so do `not` and `(`), in the order messages list them.
pub(crate) const PREDICATE_KEYWORDS: &[&str] = &[
    "state",
    "exclude",
    "sport",
    "dport",
    "src",
    "dst",
    "dev",
    "tcp",
    "udp",
    "proto",
    "ipv4",
    "ipv6",
    "proc",
    "pid",
    "uid",
    "inode",
    "idle",
    "keepalive",
    "retrans",
    "unacked",
    "recvq",
    "sendq",
    "timer",
    "listening",
    "cgroup",
    "unit",
    "container",
    "pod",
];

/// The keywords that join predicates.
const CONNECTIVES: &[&str] = &["not", "and", "or"];

/// Every keyword ([`PREDICATE_KEYWORDS`], then [`CONNECTIVES`]), for "did you mean" suggestions.
pub(crate) fn keywords() -> impl Iterator<Item = &'static str> {
    PREDICATE_KEYWORDS.iter().chain(CONNECTIVES).copied()
}

/// The words that can start a predicate, for "expected one of" messages.
fn predicate_words() -> String {
    format!("{}, not, (", PREDICATE_KEYWORDS.join(", "))
}

/// Parse `text`, whose first character is at character offset `base` of the whole input, found
/// `depth` levels of nesting deep (quoted groups are parsed this way). `Ok(None)` for empty text.
pub fn parse_text(text: &str, base: usize, depth: usize) -> Result<Option<Expr>, FilterError> {
    let tokens = lex(text, base)?;
    let end = base + text.chars().count();
    let mut parser = Parser {
        tokens,
        next: 0,
        end,
        depth,
    };
    if parser.tokens.is_empty() {
        return Ok(None);
    }
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(Some(expr)),
        Some(t) if t.kind == TokenKind::RParen => Err(err(t, "unbalanced ')': no '(' before it")),
        Some(t) => Err(err(
            t,
            "unexpected word; expected and, or, or a filter word",
        )),
    }
}

fn err(token: &Token, message: impl Into<String>) -> FilterError {
    FilterError::new(token.raw.clone(), token.pos, message)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Offset just past the text, for "missing ..." errors.
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.next).cloned();
        if t.is_some() {
            self.next += 1;
        }
        t
    }

    fn at_end(&self, message: impl Into<String>) -> FilterError {
        FilterError::new(String::new(), self.end, message)
    }

    /// True when the next token is the keyword `word` (case-insensitive).
    fn peek_keyword(&self, word: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == TokenKind::Word && t.text.eq_ignore_ascii_case(word))
    }

    fn peek_or(&self) -> bool {
        self.peek().is_some_and(|t| t.kind == TokenKind::Or) || self.peek_keyword("or")
    }

    fn peek_and(&self) -> bool {
        self.peek().is_some_and(|t| t.kind == TokenKind::And) || self.peek_keyword("and")
    }

    /// True when the next token can start a filter term (for juxtaposition).
    fn peek_term_start(&self) -> bool {
        match self.peek() {
            Some(t) => match t.kind {
                TokenKind::Word => {
                    !t.text.eq_ignore_ascii_case("and") && !t.text.eq_ignore_ascii_case("or")
                }
                TokenKind::Quoted | TokenKind::LParen | TokenKind::Not => true,
                _ => false,
            },
            None => false,
        }
    }

    fn enter(&mut self, token: &Token) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(
                token,
                format!("filter nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and()?];
        while self.peek_or() {
            self.binary_operator()?;
            terms.push(self.and()?);
        }
        Ok(Expr::any(terms))
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.unary()?];
        loop {
            if self.peek_and() {
                self.binary_operator()?;
            } else if !self.peek_term_start() {
                break;
            }
            terms.push(self.unary()?);
        }
        Ok(Expr::all(terms))
    }

    /// Consume a binary operator (`and`, `||`, ...) and check that a term follows it.
    fn binary_operator(&mut self) -> Result<(), FilterError> {
        let Some(op) = self.bump() else {
            return Ok(());
        };
        match self.peek() {
            None => Err(self.at_end(format!("missing filter after \"{}\"", op.raw))),
            Some(_) if self.peek_term_start() => Ok(()),
            Some(t) => Err(err(t, format!("expected a filter after \"{}\"", op.raw))),
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let is_not = self.peek().is_some_and(|t| {
            t.kind == TokenKind::Not
                || (t.kind == TokenKind::Word && t.text.eq_ignore_ascii_case("not"))
        });
        if !is_not {
            return self.primary();
        }
        let Some(not) = self.bump() else {
            return Err(self.at_end("missing filter"));
        };
        if self.peek().is_none() {
            return Err(self.at_end(format!("missing filter after \"{}\"", not.raw)));
        }
        self.enter(&not)?;
        let operand = self.unary()?;
        self.depth -= 1;
        Ok(Expr::negate(operand))
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let Some(token) = self.bump() else {
            return Err(self.at_end("missing filter"));
        };
        match token.kind {
            TokenKind::LParen => {
                self.enter(&token)?;
                if self.peek().is_some_and(|t| t.kind == TokenKind::RParen) {
                    return Err(err(&token, "empty parentheses; expected a filter inside"));
                }
                let inner = self.or()?;
                match self.bump() {
                    Some(t) if t.kind == TokenKind::RParen => {}
                    Some(t) => return Err(err(&t, "unexpected word; expected and, or, or ')'")),
                    None => return Err(err(&token, "unbalanced '(': missing ')'")),
                }
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::Quoted => {
                self.enter(&token)?;
                let inner = parse_text(&token.text, token.content_pos(), self.depth)?
                    .ok_or_else(|| err(&token, "empty quotes; expected a filter inside"))?;
                self.depth -= 1;
                Ok(inner)
            }
            TokenKind::RParen => Err(err(&token, "unbalanced ')': no '(' before it")),
            TokenKind::And | TokenKind::Or => Err(err(
                &token,
                format!("missing filter before \"{}\"", token.raw),
            )),
            TokenKind::Op(_) => Err(err(
                &token,
                format!(
                    "unexpected comparison; expected one of: {}",
                    predicate_words()
                ),
            )),
            TokenKind::Not => Err(err(&token, "unexpected \"!\"")),
            TokenKind::Word => self.predicate(token),
        }
    }

    /// A predicate starting with the keyword `word` (an `Expr` because `!=` forms negate it).
    fn predicate(&mut self, word: Token) -> Result<Expr, FilterError> {
        let keyword = word.text.to_ascii_lowercase();
        // Only read by sport/dport/src/dst.
        let side = match keyword.as_str() {
            "sport" | "src" => Side::Local,
            _ => Side::Remote,
        };
        let (negated, pred) = match keyword.as_str() {
            "state" | "exclude" | "excl" => (false, self.state_run(word)?),
            "listening" | "listen" => (false, Pred::States(StateSet::of(&[State::Listen]))),
            "sport" | "dport" => {
                let op = self.comparison().unwrap_or(CmpOp::Eq);
                let port = self.argument(&word, "a port", values::port)?;
                (false, Pred::Port { side, op, port })
            }
            "src" | "dst" => {
                let negated = self.equality(&word)?;
                let pattern = self.argument(&word, "an address", values::host_pattern)?;
                (negated, Pred::Host { side, pattern })
            }
            "dev" => {
                let negated = self.equality(&word)?;
                let ifindex = self.argument(&word, "an interface", values::interface)?;
                (negated, Pred::Dev(ifindex))
            }
            "tcp" => (false, Pred::Proto(Proto::Tcp)),
            "udp" => (false, Pred::Proto(Proto::Udp)),
            "proto" => {
                let negated = self.equality(&word)?;
                (
                    negated,
                    Pred::Proto(self.argument(&word, "a protocol", values::protocol)?),
                )
            }
            "ipv4" | "inet" => (false, Pred::Family(Family::V4)),
            "ipv6" | "inet6" => (false, Pred::Family(Family::V6)),
            "proc" => {
                let negated = self.equality(&word)?;
                let name = self.argument(&word, "a process name", values::process_name)?;
                (negated, Pred::Proc(NamePattern(name)))
            }
            "pid" => {
                let negated = self.equality(&word)?;
                let pid = self.argument(&word, "a pid", |w| values::number(w, "a pid"))?;
                (negated, Pred::Pid(pid))
            }
            "uid" => {
                let negated = self.equality(&word)?;
                let uid = self.argument(&word, "a uid", |w| values::number(w, "a uid"))?;
                (negated, Pred::Uid(uid))
            }
            "inode" => {
                let negated = self.equality(&word)?;
                let what = "an inode number";
                let inode = self.argument(&word, what, |w| values::number(w, what))?;
                (negated, Pred::Inode(inode))
            }
            "idle" => {
                let Some(op) = self.comparison() else {
                    return Err(self.missing_or_bad(&word, "a comparison (write idle>5m, or quote it: 'idle > 5m'; a bare > is the shell's redirection)"));
                };
                let ms = self.argument(&word, "a duration", values::duration_ms)?;
                (false, Pred::Idle { op, ms })
            }
            "keepalive" => (false, Pred::Keepalive),
            "retrans" | "unacked" => {
                let op = self.comparison().unwrap_or(CmpOp::Eq);
                let count = self.argument(&word, "a count", |w| values::number(w, "a count"))?;
                if keyword == "retrans" {
                    (false, Pred::Retrans { op, count })
                } else {
                    (false, Pred::Unacked { op, count })
                }
            }
            "recvq" | "sendq" => {
                let op = self.comparison().unwrap_or(CmpOp::Eq);
                let what = "a byte count";
                let bytes = self.argument(&word, what, |w| values::number(w, what))?;
                if keyword == "recvq" {
                    (false, Pred::RecvQ { op, bytes })
                } else {
                    (false, Pred::SendQ { op, bytes })
                }
            }
            "timer" => {
                let negated = self.equality(&word)?;
                (
                    negated,
                    Pred::Timer(self.argument(&word, "a timer kind", values::timer_kind)?),
                )
            }
            "and" | "or" => {
                return Err(err(
                    &word,
                    format!("missing filter before \"{}\"", word.raw),
                ))
            }
            "cgroup" | "unit" | "container" | "pod" => self.service_predicate(&word)?,
            "autobound" | "fwmark" => {
                return Err(err(
                    &word,
                    "this ss filter word is not supported by sockdoc",
                ))
            }
            _ => return Err(self.unknown_word(&word)),
        };
        let e = Expr::Pred(pred);
        Ok(if negated { Expr::negate(e) } else { e })
    }

    /// `cgroup PATH`, `unit NAME`, `container NAME`, `pod NS/NAME`, each with an optional `=` or
    /// `!=` (true when negated).
    fn service_predicate(&mut self, word: &Token) -> Result<(bool, Pred), FilterError> {
        let negated = self.equality(word)?;
        let pred = match word.text.to_ascii_lowercase().as_str() {
            "cgroup" => {
                let (path, id) = self.argument(word, "a cgroup path", values::cgroup)?;
                Pred::Cgroup { path, id }
            }
            "unit" => {
                let what = "a unit name";
                Pred::Unit(NamePattern(
                    self.argument(word, what, |w| values::name(w, what))?,
                ))
            }
            "container" => {
                let what = "a container name or id";
                Pred::Container(self.argument(word, what, |w| values::name(w, what))?)
            }
            _ => Pred::Pod(self.argument(word, "a pod", values::pod)?),
        };
        Ok((negated, pred))
    }

    /// `state NAME` / `exclude NAME`, repeated while the words keep coming.
    fn state_run(&mut self, first: Token) -> Result<Pred, FilterError> {
        let mut set = if first.text.eq_ignore_ascii_case("state") {
            StateSet::EMPTY
        } else {
            StateSet::ALL
        };
        let mut word = first;
        loop {
            let names = self.argument(&word, "a state", values::state_set)?;
            set = if word.text.eq_ignore_ascii_case("state") {
                set.union(names)
            } else {
                set.minus(names)
            };
            let continues = ["state", "exclude", "excl"]
                .iter()
                .any(|k| self.peek_keyword(k));
            if !continues {
                break;
            }
            match self.bump() {
                Some(next) => word = next,
                None => break,
            }
        }
        Ok(Pred::States(set))
    }

    /// An optional comparison operator (`=`, `!=`, `<`, `lt`, ...).
    fn comparison(&mut self) -> Option<CmpOp> {
        let op = match self.peek() {
            Some(Token {
                kind: TokenKind::Op(op),
                ..
            }) => Some(*op),
            Some(t) if t.kind == TokenKind::Word => CmpOp::from_word(&t.text),
            _ => None,
        };
        if op.is_some() {
            self.next += 1;
        }
        op
    }

    /// An optional `=` or `!=` (true when negated); other comparisons are errors.
    fn equality(&mut self, word: &Token) -> Result<bool, FilterError> {
        let at = self.peek().cloned();
        match self.comparison() {
            None | Some(CmpOp::Eq) => Ok(false),
            Some(CmpOp::Ne) => Ok(true),
            Some(_) => {
                let t = at.unwrap_or_else(|| word.clone());
                Err(err(&t, format!("\"{}\" takes only = or !=", word.text)))
            }
        }
    }

    /// The argument word after `after`, converted by `convert`.
    fn argument<T>(
        &mut self,
        after: &Token,
        what: &str,
        convert: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, FilterError> {
        match self.peek() {
            Some(t) if matches!(t.kind, TokenKind::Word | TokenKind::Quoted) => {
                let t = t.clone();
                self.next += 1;
                convert(&t.text).map_err(|message| err(&t, message))
            }
            _ => Err(self.missing_or_bad(after, what)),
        }
    }

    /// The error for a missing argument: at the end of the text, or at the token in its place.
    fn missing_or_bad(&self, after: &Token, what: &str) -> FilterError {
        match self.peek() {
            None => self.at_end(format!("missing {what} after \"{}\"", after.raw)),
            Some(t) => err(t, format!("expected {what} after \"{}\"", after.raw)),
        }
    }

    fn unknown_word(&self, word: &Token) -> FilterError {
        if values::state_set(&word.text).is_ok() {
            return err(
                word,
                format!(
                    "a state needs the word state (state {}); expected one of: {}",
                    word.text,
                    predicate_words()
                ),
            );
        }
        let lower = word.text.to_ascii_lowercase();
        let suggestion = keywords()
            .filter(|_| lower.len() <= 16)
            .map(|k| (edit_distance(&lower, k), k))
            .filter(|(d, k)| *d <= 2 && *d < k.len())
            .min();
        let hint = match suggestion {
            Some((_, k)) => format!(" (did you mean \"{k}\"?)"),
            None => String::new(),
        };
        err(
            word,
            format!("unknown word{hint}; expected one of: {}", predicate_words()),
        )
    }
}

/// Edit distance counting a swap of two adjacent characters as one edit (`sprot` is one from `sport`).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}
