//! Asking before a change that loses something: what is lost is shown on
//! stderr, then the person at the terminal answers; without a terminal
//! the command needs its `--yes`.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{CliError, Result};

/// Shows `shown` on stderr, then goes on if `yes` or the answer to
/// `question` is yes; refuses with `refused` otherwise (exit 2).
pub fn confirm(shown: &str, question: &str, refused: &str, yes: bool) -> Result<()> {
    eprint!("{shown}");
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::invalid(format!(
            "{refused}: confirm with --yes (no terminal to ask)"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::invalid(format!("cannot read the answer: {e}")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(CliError::invalid(refused.to_owned())),
    }
}
