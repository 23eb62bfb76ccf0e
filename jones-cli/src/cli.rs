//! The command line: every command, flag and environment variable, with
//! the help text `jones --help` shows.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::formats::Format;
use crate::runner::Mode;

const EXAMPLES: &str = "\
Examples:
  jones services
  jones service create checkout
  jones env set checkout / timeout_ms 250          # the root environment is /
  jones env set checkout prod db.pool.size 20      # dotted keys reach nested objects
  jones env edit checkout prod                     # opens $EDITOR, saves with the version read
  jones assoc set checkout web-01.example.com prod
  jones view checkout --association web-01.example.com
  jones export checkout --association $(hostname -f) --out /etc/checkout.env --format env --exec 'systemctl reload checkout'
  jones watch checkout --association $(hostname -f) --exec ./on-config-change.sh --mode queue

Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 version conflict,
5 server or ZooKeeper unavailable, 6 not authorized.";

/// Jones from the shell: administer live configuration, and keep it in a
/// file or feed it to a command for apps that can't link the library.
///
/// Writes go to the Jones server's HTTP API (--server). Reads that apps do
/// (view, export, watch) go to ZooKeeper directly (--zk), like the client
/// library, so they keep working while the server is down.
#[derive(Debug, Parser)]
#[command(name = "jones", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The Jones server's URL.
    #[arg(
        long,
        env = "JONES_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// ZooKeeper connect string, `host:port[,host:port][/chroot]`.
    #[arg(long, env = "JONES_ZK", global = true)]
    pub zk: Option<String>,
    /// The server's admin token, sent as a bearer token with writes.
    #[arg(long, env = "JONES_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// ZooKeeper session timeout in seconds, for the commands that read ZooKeeper.
    #[arg(
        long,
        env = "JONES_SESSION_TIMEOUT",
        default_value_t = 10.0,
        global = true,
        value_name = "SECS"
    )]
    pub session_timeout: f64,
    /// Print JSON for scripts instead of text for people.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the services.
    Services,
    /// Create or delete a service.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Read and change environments (ENV is a path like `parent/child1`; `/` is the root).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Map hosts (or any string) to environments.
    #[command(subcommand)]
    Assoc(AssocCommand),
    /// The config an app with this association reads (from ZooKeeper with --zk, else via the server).
    View {
        service: String,
        /// The association (usually the host's name).
        #[arg(long, short)]
        association: String,
    },
    /// Every znode of a service with its data, like original Jones' export.
    Dump { service: String },
    /// Check that every view equals its recomputed merge, every association
    /// points at a view, and no write is unfinished (exit 0 consistent, 1 not).
    Verify { service: String },
    /// Recompute every view, finish an unfinished write, delete orphan views;
    /// then verify (exit 0 consistent, 1 not).
    Repair { service: String },
    /// Keep a file equal to the config an association reads.
    Export(ExportArgs),
    /// Run a command each time a config (or any znode) changes.
    Watch(WatchArgs),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service with an empty root environment.
    Create { name: String },
    /// Delete a service and every environment and association in it.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// The environment tree of a service.
    Ls { service: String },
    /// An environment's config, version and inherited view.
    Get { service: String, env: String },
    /// Create an environment (its parent must exist).
    Create {
        service: String,
        env: String,
        /// Its config, a JSON object.
        #[arg(long, default_value = "{}")]
        config: String,
    },
    /// Set one key: VALUE is JSON when it parses as JSON, else a string; a dotted KEY reaches nested objects.
    Set {
        service: String,
        env: String,
        key: String,
        value: String,
    },
    /// Remove one key (dotted keys reach nested objects).
    Unset {
        service: String,
        env: String,
        key: String,
    },
    /// Edit the config in $EDITOR; saved with the version read, the edit kept in a file on conflict.
    Edit { service: String, env: String },
    /// Delete an environment.
    Rm {
        service: String,
        env: String,
        /// Also delete every environment below it.
        #[arg(long, short)]
        recursive: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AssocCommand {
    /// Map NAME to ENV.
    Set {
        service: String,
        name: String,
        env: String,
    },
    /// Remove NAME's association: it reads the root view again.
    Rm { service: String, name: String },
    /// List the associations.
    Ls { service: String },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub service: String,
    /// The association whose config is exported (usually the host's name).
    #[arg(long, short)]
    pub association: String,
    /// The file to keep in sync; replaced atomically, keeping its permissions.
    #[arg(long, short)]
    pub out: PathBuf,
    #[arg(long, short, value_enum, default_value = "json")]
    pub format: Format,
    /// Run this shell command after each rewrite of the file.
    #[arg(long)]
    pub exec: Option<String>,
    /// Write the file once and exit.
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The service whose config is watched (omit with --znode).
    #[arg(required_unless_present = "znode")]
    pub service: Option<String>,
    /// The association whose config is watched.
    #[arg(long, short, required_unless_present = "znode")]
    pub association: Option<String>,
    /// Watch this znode's data instead of a config.
    #[arg(long, conflicts_with_all = ["service", "association"])]
    pub znode: Option<String>,
    /// The shell command to run; it gets the data on stdin and JONES_* variables.
    #[arg(long)]
    pub exec: String,
    /// Run the command for the config found at start.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub on_load: bool,
    /// What to do when an update arrives while the command still runs.
    #[arg(long, value_enum, default_value = "queue")]
    pub mode: Mode,
    /// Stop a run after this many seconds: SIGTERM, then SIGKILL 5 s later.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Send this signal (e.g. HUP, USR1) to the running command when a newer update arrives.
    #[arg(long, value_name = "SIG")]
    pub notify_signal: Option<String>,
}
