//! `jones`: administer Jones from the shell, and keep configuration in a
//! file or feed it to a command for apps that can't link the library.
//!
//! | module | what it does |
//! | --- | --- |
//! | [`cli`] | commands, flags, environment variables, help |
//! | [`api`] | the server's HTTP API, for writes and admin reads |
//! | [`admin`] | services, environments, associations, view, dump |
//! | [`edit`] | `env edit` in `$EDITOR` with the version read |
//! | [`live`] | `export` and `watch`, on `jones-client` |
//! | [`runner`] | running a command per update: modes, timeout, signals |
//! | [`formats`] | json, yaml, toml, env and php output |
//! | [`atomic`] | atomic file replacement |

mod admin;
mod api;
mod atomic;
mod cli;
mod diff;
mod dotted;
mod edit;
mod error;
mod formats;
mod live;
mod output;
mod runner;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::{CliError, Result};

fn main() {
    let cli = Cli::parse();
    let verbose = matches!(cli.command, Command::Export(_) | Command::Watch(_));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| (if verbose { "info" } else { "warn" }).into()),
        )
        .init();
    if let Err(e) = run(cli) {
        eprintln!("jones: {e}");
        std::process::exit(e.exit_code());
    }
}

fn run(cli: Cli) -> Result<()> {
    let api = api::Api::new(&cli.server, cli.token.clone());
    let json = cli.json;
    if !(cli.session_timeout.is_finite() && cli.session_timeout > 0.0) {
        return Err(CliError::Invalid(format!(
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
        Command::Verify { service } => admin::verify(&api, &service, json),
        Command::Repair { service } => admin::repair(&api, &service, json),
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
            clap_complete::generate(shell, &mut Cli::command(), "jones", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))
}
