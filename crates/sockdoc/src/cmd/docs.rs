//! `sockdoc completions SHELL` and the hidden `sockdoc man --dir DIR`: shell completion scripts
//! (clap_complete) and one manual page per command (clap_mangen), both generated from the clap
//! definitions in `cli/`, so what the shell offers and what the pages say is what the binary parses.
//!
//! The pages are made by the binary itself rather than by a separate generator because the command
//! tree is built in this crate (with help texts from the engine's filter reference): a generator
//! outside it would need a second copy of `cli/` or a second build. `scripts/package.sh` runs the
//! released binary once to write them.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use roff::{bold, roman, Roff};
use sockdoc_core::i18n::{Lang, Msg};

use crate::cli::{Cli, CompletionsArgs, Global, ManArgs, ShellArg, AFTER_HELP};
use crate::error::{Exit, Failure};

/// `sockdoc completions bash|zsh|fish`: the script on standard output.
pub fn completions(a: &CompletionsArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let shell = match a.shell {
        ShellArg::Bash => clap_complete::Shell::Bash,
        ShellArg::Zsh => clap_complete::Shell::Zsh,
        ShellArg::Fish => clap_complete::Shell::Fish,
    };
    let mut cmd = completed_tree();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "sockdoc", &mut script);
    out.write_all(&script).map_err(Failure::output)?;
    Ok(Exit::Ok)
}

/// The command tree the shells complete: the parser's, less its hidden commands (`man`), which
/// clap_complete would offer beside the others.
fn completed_tree() -> clap::Command {
    let full = Cli::command();
    clap::Command::new("sockdoc")
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .groups(full.get_groups().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// `sockdoc man --dir DIR`: `sockdoc.1` and one page per visible subcommand, nested ones included
/// (`sockdoc-sysctl-check.1`). Prints the paths written.
pub fn man(g: &Global, a: &ManArgs, out: &mut dyn Write) -> Result<Exit, Failure> {
    let lang = g.lang();
    std::fs::create_dir_all(&a.dir).map_err(|e| Failure::io(lang, Msg::FileCreate, &a.dir, e))?;
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let general_exit = HelpSections::parse(AFTER_HELP).exit;
    let mut written = Vec::new();
    write_pages(&root, &general_exit, &a.dir, lang, &mut written)?;
    for path in written {
        writeln!(out, "{path}").map_err(Failure::output)?;
    }
    Ok(Exit::Ok)
}

fn write_pages(
    cmd: &clap::Command,
    general_exit: &[Block],
    dir: &Path,
    lang: Lang,
    written: &mut Vec<String>,
) -> Result<(), Failure> {
    let page = page_name(cmd);
    let path = dir.join(format!("{page}.1"));
    let text = render_page(cmd, general_exit).map_err(Failure::output)?;
    std::fs::write(&path, text).map_err(|e| Failure::io(lang, Msg::FileWrite, &path, e))?;
    written.push(path.display().to_string());
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, general_exit, dir, lang, written)?;
    }
    Ok(())
}

/// `sockdoc`, `sockdoc-stats`, `sockdoc-sysctl-check`: clap's display name of a built command.
pub fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// One page: clap_mangen's name, synopsis, description, options and subcommands, then the help
/// text after the options split into EXIT STATUS (the command's own, else the general table),
/// NOTES and EXAMPLES, then VERSION and SEE ALSO.
pub fn render_page(cmd: &clap::Command, general_exit: &[Block]) -> std::io::Result<Vec<u8>> {
    let name = page_name(cmd);
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(format!("sockdoc {}", env!("CARGO_PKG_VERSION")))
        .manual("sockdoc");
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut w)?;
    }
    let help = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let sections = HelpSections::parse(&help);
    let mut roff = Roff::new();
    let exit = if sections.exit.is_empty() {
        general_exit
    } else {
        &sections.exit
    };
    section(&mut roff, "EXIT STATUS", exit);
    section(&mut roff, "NOTES", &sections.notes);
    section(&mut roff, "EXAMPLES", &sections.examples);
    roff.to_writer(&mut w)?;
    man.render_version_section(&mut w)?;
    let mut see = Roff::new();
    see.control("SH", ["SEE ALSO"]);
    let also = if name == "sockdoc" {
        "ss(8), netstat(8), lsof(8), sysctl(8)".to_string()
    } else {
        "sockdoc(1), ss(8)".to_string()
    };
    see.text([roman(also)]);
    see.to_writer(&mut w)?;
    Ok(ascii_roff(&w))
}

/// The page with every character outside ASCII written as a roff escape (`→` as `\[u2192]`), so
/// groff reads it the same without `preconv`, whatever the locale.
fn ascii_roff(page: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(page);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", c as u32));
        }
    }
    out.into_bytes()
}

fn section(roff: &mut Roff, title: &str, blocks: &[Block]) {
    if blocks.is_empty() {
        return;
    }
    roff.control("SH", [title]);
    for b in blocks {
        match b {
            Block::Para(text) => {
                roff.control("PP", []).text([roman(text.as_str())]);
            }
            Block::Lead(text) => {
                roff.control("PP", []).text([bold(text.as_str())]);
            }
            Block::Pre(lines) => {
                roff.control("PP", []).control("nf", []);
                for line in lines {
                    roff.text([roman(line.as_str())]);
                }
                roff.control("fi", []);
            }
        }
    }
}

/// A piece of a help text: a paragraph (lines at the margin, joined and filled), a lead-in heading
/// (`Keys:`), or indented lines kept as they are (examples, tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Para(String),
    Lead(String),
    Pre(Vec<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Notes,
    Exit,
    Examples,
}

/// A command's help text after the options, sorted into the man sections it belongs to.
#[derive(Debug, Default)]
pub struct HelpSections {
    pub exit: Vec<Block>,
    pub notes: Vec<Block>,
    pub examples: Vec<Block>,
}

impl HelpSections {
    /// `Examples:` (or `Example ...:`) opens the examples, `Exit codes:` the exit table, a paragraph
    /// starting `Exit:` or `Exit code:` is the command's exit status; any other line at the margin
    /// goes back to the notes.
    pub fn parse(help: &str) -> HelpSections {
        let mut s = HelpSections::default();
        let mut part = Part::Notes;
        // Whether the paragraph being built continues the previous line.
        let mut open = false;
        for line in help.lines() {
            if line.trim().is_empty() {
                open = false;
                if part == Part::Examples {
                    if let Some(Block::Pre(lines)) = s.blocks(part).last_mut() {
                        lines.push(String::new());
                    }
                }
                continue;
            }
            let indented = line.starts_with(' ');
            let heading = !indented && line.ends_with(':');
            if heading {
                open = false;
                let lower = line.to_lowercase();
                if lower.starts_with("example") {
                    part = Part::Examples;
                    if line != "Examples:" {
                        s.blocks(part).push(Block::Lead(line.to_string()));
                    }
                } else if lower.starts_with("exit code") {
                    part = Part::Exit;
                } else {
                    part = Part::Notes;
                    s.blocks(part).push(Block::Lead(line.to_string()));
                }
                continue;
            }
            if indented {
                open = false;
                let blocks = s.blocks(part);
                match blocks.last_mut() {
                    Some(Block::Pre(lines)) => lines.push(line.to_string()),
                    _ => blocks.push(Block::Pre(vec![line.to_string()])),
                }
                continue;
            }
            if line.starts_with("Exit:") || line.starts_with("Exit code:") {
                part = Part::Exit;
                open = false;
            } else if !open {
                part = Part::Notes;
            }
            s.push_prose(part, line, open);
            open = !line.ends_with('.');
        }
        for blocks in [&mut s.exit, &mut s.notes, &mut s.examples] {
            for b in blocks.iter_mut() {
                if let Block::Pre(lines) = b {
                    while lines.last().is_some_and(|l| l.is_empty()) {
                        lines.pop();
                    }
                }
            }
        }
        s
    }

    fn blocks(&mut self, part: Part) -> &mut Vec<Block> {
        match part {
            Part::Notes => &mut self.notes,
            Part::Exit => &mut self.exit,
            Part::Examples => &mut self.examples,
        }
    }

    fn push_prose(&mut self, part: Part, line: &str, open: bool) {
        let blocks = self.blocks(part);
        match blocks.last_mut() {
            Some(Block::Para(text)) if open => {
                text.push(' ');
                text.push_str(line.trim());
            }
            _ => blocks.push(Block::Para(line.trim().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_exit_and_notes_are_told_apart() {
        let s = HelpSections::parse(
            "Safety: a filter is required, and\nthe rest.\nMethods (auto):\n  destroy   SOCK_DESTROY\n\
             Exit: 0 all killed, 1 some\nnot killed.\nExamples:\n  sockdoc kill --dry-run x\n\n  \
             sockdoc kill y\nA closing note.",
        );
        assert_eq!(
            s.notes,
            vec![
                Block::Para("Safety: a filter is required, and the rest.".into()),
                Block::Lead("Methods (auto):".into()),
                Block::Pre(vec!["  destroy   SOCK_DESTROY".into()]),
                Block::Para("A closing note.".into()),
            ]
        );
        assert_eq!(
            s.exit,
            vec![Block::Para("Exit: 0 all killed, 1 some not killed.".into())]
        );
        assert_eq!(
            s.examples,
            vec![Block::Pre(vec![
                "  sockdoc kill --dry-run x".into(),
                String::new(),
                "  sockdoc kill y".into()
            ])]
        );
    }

    #[test]
    fn the_general_table_is_the_exit_status() {
        let s = HelpSections::parse(AFTER_HELP);
        assert!(
            matches!(&s.exit[..], [Block::Pre(lines)] if lines.iter().any(|l| l.contains("64")))
        );
        assert!(s.examples.is_empty());
    }
}
