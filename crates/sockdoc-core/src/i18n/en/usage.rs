//! English: the line a command line that cannot be parsed gets.

use crate::i18n::usage::UsageMsg as M;

/// The template of `m`.
pub fn msg(m: M) -> &'static str {
    match m {
        M::UnknownArgument => "unexpected argument '{}'",
        M::UnknownCommand => "unknown command '{}'",
        M::InvalidValue => "invalid value '{}' for '{}'",
        M::PossibleValues => " (possible values: {})",
        M::Missing => "missing: {}",
        M::Conflict => "'{}' cannot be used with '{}'",
        M::Repeated => "'{}' was given more than once",
        M::DidYouMean => " (did you mean '{}'?)",
        M::SeeHelp => "{} (see sockdoc --help)",
    }
}
