//! The filter lexer: text to tokens, each with its character offset for error messages.
//!
//! Whitespace separates words. `( ) ! & | = < >` are tokens of their own even inside a word
//! (`!keepalive`, `sport>=1024`), and `'...'` or `"..."` is one quoted token: a group when it
//! stands where a filter is expected, the literal text when it is a word's argument (`proc 'Web Content'`).

use super::ast::CmpOp;
use super::FilterError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A plain word: a keyword, a number, an address, a name.
    Word,
    /// Text between matching quotes; `text` holds the inside.
    Quoted,
    LParen,
    RParen,
    Not,
    And,
    Or,
    Op(CmpOp),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// The word, the inside of the quotes, or the symbol as written.
    pub text: String,
    /// The token as written (with its quotes).
    pub raw: String,
    /// Character offset of the token's first character in the joined input.
    pub pos: usize,
}

impl Token {
    /// Character offset where a quoted token's inside starts.
    pub fn content_pos(&self) -> usize {
        match self.kind {
            TokenKind::Quoted => self.pos + 1,
            _ => self.pos,
        }
    }
}

/// True for characters that end a word.
pub fn is_special(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '(' | ')' | '!' | '&' | '|' | '=' | '<' | '>' | '\'' | '"'
        )
}

/// Split `text` into tokens; `base` is the character offset of `text` in the whole input.
pub fn lex(text: &str, base: usize) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let next = chars.get(i + 1).copied();
        let (kind, len) = match (c, next) {
            ('(', _) => (TokenKind::LParen, 1),
            (')', _) => (TokenKind::RParen, 1),
            ('!', Some('=')) => (TokenKind::Op(CmpOp::Ne), 2),
            ('!', _) => (TokenKind::Not, 1),
            ('&', Some('&')) => (TokenKind::And, 2),
            ('&', _) => (TokenKind::And, 1),
            ('|', Some('|')) => (TokenKind::Or, 2),
            ('|', _) => (TokenKind::Or, 1),
            ('=', Some('=')) => (TokenKind::Op(CmpOp::Eq), 2),
            ('=', _) => (TokenKind::Op(CmpOp::Eq), 1),
            ('<', Some('=')) => (TokenKind::Op(CmpOp::Le), 2),
            ('<', _) => (TokenKind::Op(CmpOp::Lt), 1),
            ('>', Some('=')) => (TokenKind::Op(CmpOp::Ge), 2),
            ('>', _) => (TokenKind::Op(CmpOp::Gt), 1),
            ('\'' | '"', _) => {
                let Some(close) = chars[i + 1..].iter().position(|&q| q == c) else {
                    return Err(FilterError::new(
                        chars[i..].iter().collect::<String>(),
                        base + i,
                        format!("unterminated quote; add the closing {c}"),
                    ));
                };
                let inside: String = chars[i + 1..i + 1 + close].iter().collect();
                let raw: String = chars[i..i + close + 2].iter().collect();
                tokens.push(Token {
                    kind: TokenKind::Quoted,
                    text: inside,
                    raw,
                    pos: base + start,
                });
                i += close + 2;
                continue;
            }
            _ => {
                let len = chars[i..]
                    .iter()
                    .position(|&w| is_special(w))
                    .unwrap_or(chars.len() - i);
                (TokenKind::Word, len)
            }
        };
        let written: String = chars[i..i + len].iter().collect();
        tokens.push(Token {
            kind,
            text: written.clone(),
            raw: written,
            pos: base + start,
        });
        i += len;
    }
    Ok(tokens)
}
