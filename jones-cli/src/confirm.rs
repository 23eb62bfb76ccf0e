//! Asking before a change that loses something: what is lost is shown on
//! stderr, then the person at the terminal answers; without a terminal
//! the command needs its `--yes`. Both refusals are bad input (exit 2) with
//! their own `kind`: `confirmation_required` when there was no one to ask
//! and no `--yes`, `not_confirmed` when the answer was no.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{CliError, Result};

/// Shows `shown` on stderr, then goes on if `yes` or the answer to
/// `question` is yes; refuses with `refused` otherwise (exit 2, see the
/// module documentation for the kinds).
pub fn confirm(shown: &str, question: &str, refused: &str, yes: bool) -> Result<()> {
    eprint!("{shown}");
    if yes {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::invalid(format!(
            "{refused}: confirm with --yes (no terminal to ask)"
        ))
        .with_kind("confirmation_required"));
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
        _ => Err(CliError::invalid(refused.to_owned()).with_kind("not_confirmed")),
    }
}
