//! 中文：无法解析的命令行得到的那一行。

use crate::i18n::usage::UsageMsg as M;

/// `m` 的模板。
pub fn msg(m: M) -> &'static str {
    match m {
        M::UnknownArgument => "无法识别的参数 '{}'",
        M::UnknownCommand => "未知的命令 '{}'",
        M::InvalidValue => "'{1}' 的值 '{0}' 无效",
        M::PossibleValues => "（可选值：{}）",
        M::Missing => "缺少：{}",
        M::Conflict => "'{}' 不能与 '{}' 同时使用",
        M::Repeated => "'{}' 给出了不止一次",
        M::DidYouMean => "（是不是要用 '{}'？）",
        M::SeeHelp => "{}（见 sockdoc --help）",
    }
}
