//! Keys of the one line a command line that cannot be parsed gets (the parser's own words are
//! English). The words are in `en/usage.rs` and `zh/usage.rs`; a key without its line there does
//! not compile.

use super::{fill, Lang};

/// A usage error. Templates take `{}` (next argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageMsg {
    /// `unexpected argument '{arg}'`
    UnknownArgument,
    /// `unknown command '{name}'`
    UnknownCommand,
    /// `invalid value '{value}' for '{arg}'`
    InvalidValue,
    /// ` (possible values: {values})`
    PossibleValues,
    /// `missing: {args}`
    Missing,
    /// `'{arg}' cannot be used with '{other}'`
    Conflict,
    /// `'{arg}' was given more than once`
    Repeated,
    /// ` (did you mean '{suggestion}'?)`
    DidYouMean,
    /// `{line} (see sockdoc --help)`
    SeeHelp,
}

fn template(lang: Lang, m: UsageMsg) -> &'static str {
    match lang {
        Lang::En => super::en::usage::msg(m),
        Lang::Zh => super::zh::usage::msg(m),
    }
}

/// The text of `m` in `lang`, with `{}` placeholders filled from `args`.
pub fn text(lang: Lang, m: UsageMsg, args: &[&str]) -> String {
    fill(template(lang, m), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_take_the_same_arguments() {
        use UsageMsg::*;
        let all = [
            UnknownArgument,
            UnknownCommand,
            InvalidValue,
            PossibleValues,
            Missing,
        ];
        let all: Vec<UsageMsg> = all
            .into_iter()
            .chain([Conflict, Repeated, DidYouMean, SeeHelp])
            .collect();
        super::super::assert_translated(&all, template);
    }
}
