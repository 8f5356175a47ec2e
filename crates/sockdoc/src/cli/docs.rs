//! Arguments of the commands that describe sockdoc itself: shell completions and manual pages.

use clap::{Args, ValueEnum};

pub const COMPLETIONS_HELP: &str = "\
The Debian package installs all three; from source, load or install one:
Examples:
  source <(sockdoc completions bash)                         # this bash session
  sockdoc completions bash > /etc/bash_completion.d/sockdoc
  sockdoc completions zsh > \"${fpath[1]}/_sockdoc\"           # then restart zsh
  sockdoc completions fish > ~/.config/fish/completions/sockdoc.fish";

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: ShellArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// Directory to write the pages to (sockdoc.1, sockdoc-stats.1, ...); made if missing.
    #[arg(long, value_name = "DIR")]
    pub dir: std::path::PathBuf,
}
