//! `jones`: administer Jones from the shell, and keep configuration in a
//! file or feed it to a command for apps that can't link the library.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`cli`] | commands, flags, environment variables, help |
//! | [`api`] | the server's HTTP API, for writes and admin reads |
//! | [`admin`] | services, environments, associations, view, dump |
//! | [`restore`] | `restore`: a dump loaded back into a service |
//! | [`history`] | `history`: a service's recorded changes, with diffs; `audit`: the Jones-wide ones; `rollback` |
//! | [`pins`] | `pin`, `unpin`, `pins` |
//! | [`schema`] | `schema get`, `set`, `rm` |
//! | [`dryrun`] | `--dry-run` of config writes: views, keys, readers, schema refusals |
//! | [`account`] | `account add`, `ls`, `rm`: who may do what on the server |
//! | [`reach`] | what a delete removes, shown before it asks |
//! | [`hidden`] | inherited keys a change hides, in words |
//! | [`confirm`] | asking before a change that loses something, or `--yes` |
//! | [`input`] | `--config` inline, `@FILE` or `-`; files or stdin |
//! | [`output`] | printing results; a closed stdout ends quietly |
//! | [`error`] | the error type, the exit-code table, `--json` errors |
//! | [`edit`] | `env edit` in `$EDITOR` with the version read |
//! | [`live`] | `export` and `watch`, on `jones-client` |
//! | [`runner`] | running a command per update: modes, timeout, signals |
//! | [`formats`] | json, yaml, toml, env and php output |
//! | [`atomic`] | atomic file replacement |

mod account;
mod admin;
mod api;
mod atomic;
mod cli;
mod confirm;
mod diff;
mod dotted;
mod dryrun;
mod edit;
mod error;
mod formats;
mod hidden;
mod history;
mod input;
mod live;
mod merge3;
mod output;
mod pins;
mod reach;
mod restore;
mod runner;
mod schema;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::{CliError, Result};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => refused_command_line(e),
    };
    let verbose = matches!(cli.command, Command::Export(_) | Command::Watch(_));
    // Logs go to stderr, one whole line per event, and command output only
    // to stdout. Colours only for a person at a terminal who has not asked
    // for none (https://no-color.org).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colours_wanted())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| (if verbose { "info" } else { "warn" }).into()),
        )
        .init();
    let json = cli.json;
    let outcome = run(cli);
    output::flush_stdout();
    if let Err(e) = outcome {
        if json {
            eprintln!(
                "{}",
                serde_json::to_string(&e.to_json()).expect("JSON serializes")
            );
        } else {
            eprintln!("jones: {e}");
        }
        std::process::exit(e.exit_code());
    }
}

/// Ends on a command line clap did not take. `--help` and `--version`
/// print and exit 0 as usual; any other error is, with `--json` anywhere
/// before a `--`, one JSON object on stderr of kind `invalid_input`
/// (exit 2) like every other error, else clap's own message (exit 2).
fn refused_command_line(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if informational || !json_requested(std::env::args_os().skip(1)) {
        e.exit();
    }
    let text = e.render().to_string();
    let message = text.trim().trim_start_matches("error: ").to_owned();
    let error = CliError::invalid(message).with_kind("invalid_input");
    eprintln!(
        "{}",
        serde_json::to_string(&error.to_json()).expect("JSON serializes")
    );
    std::process::exit(error.exit_code());
}

/// Whether `args` ask for `--json` (before any `--`).
fn json_requested(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Whether log lines may carry ANSI colours: stderr is a terminal and
/// `NO_COLOR` is unset or empty.
fn colours_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}

fn run(cli: Cli) -> Result<()> {
    let api = api::Api::new(&cli.server, cli.token.clone()).with_message(cli.message.clone());
    let json = cli.json;
    if !(cli.session_timeout.is_finite() && cli.session_timeout > 0.0) {
        return Err(CliError::invalid(format!(
            "--session-timeout must be a positive number of seconds, not {}",
            cli.session_timeout
        )));
    }
    let zk = live::ZkTarget {
        // An empty JONES_ZK means none, as an unset one does.
        connect: cli.zk.clone().filter(|zk| !zk.trim().is_empty()),
        session_timeout: std::time::Duration::from_secs_f64(cli.session_timeout),
    };
    match cli.command {
        Command::Services => admin::services(&api, json),
        Command::Service(command) => admin::service(&api, command, json),
        Command::Env(command) => admin::env(&api, command, json),
        Command::Assoc(command) => admin::assoc(&api, command, json),
        Command::Dump { service } => admin::dump(&api, &service, json),
        Command::Restore {
            file,
            service,
            replace,
        } => restore::restore(&api, &file, service.as_deref(), replace, json),
        Command::Verify { service } => admin::verify(&api, &service, json),
        Command::History {
            service,
            env,
            limit,
            before,
        } => history::history(&api, &service, env.as_deref(), limit, before, json),
        Command::Audit { limit, before } => history::audit(&api, limit, before, json),
        Command::Rollback { service, id, yes } => history::rollback(&api, &service, id, yes, json),
        Command::Schema(command) => schema::schema(&api, command, json),
        Command::Pin { service, env, id } => pins::pin(&api, &service, &env, id, json),
        Command::Unpin { service, env } => pins::unpin(&api, &service, &env, json),
        Command::Pins { service } => pins::pins(&api, &service, json),
        Command::Repair { service } => admin::repair(&api, &service, json),
        Command::Account(command) => account::account(&api, command, json),
        Command::View {
            service,
            association,
        } => match zk.connect {
            Some(_) => runtime()?.block_on(live::view(&zk, &service, &association, json)),
            None => admin::view_via_server(&api, &service, &association, json),
        },
        Command::Export(args) => runtime()?.block_on(live::export(args, &zk)),
        Command::Watch(args) => runtime()?.block_on(live::watch(args, &zk)),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "jones", &mut script);
            output::write_stdout(&String::from_utf8_lossy(&script));
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_asked_for_before_a_double_dash_only() {
        let args = |list: &[&str]| {
            list.iter()
                .map(std::ffi::OsString::from)
                .collect::<Vec<_>>()
        };
        assert!(json_requested(args(&["env", "set", "--json"])));
        assert!(json_requested(args(&["--json", "bogus"])));
        assert!(!json_requested(args(&[
            "watch", "s", "h", "--", "cmd", "--json"
        ])));
        assert!(!json_requested(args(&["--jsonx"])));
    }
}
