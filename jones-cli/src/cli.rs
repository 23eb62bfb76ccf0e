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
  jones env create checkout prod --config '{\"db\": {\"host\": \"db1\"}}'
  jones env set checkout prod db.pool.size 20 --copy-inherited   # dotted keys reach nested objects
  jones env edit checkout prod                     # opens $EDITOR, saves with the version read
  jones assoc set checkout web-01.example.com prod
  jones view checkout --association web-01.example.com
  jones history checkout prod --limit 5
  jones account add ci-deploy --role editor --service checkout   # prints the token, once
  jones export checkout --association $(hostname -f) --out /etc/checkout.env --format env --exec 'systemctl reload checkout'
  jones watch checkout --association $(hostname -f) --exec ./on-config-change.sh --mode queue

Exit codes:
  0  ok
  1  other failure (also: verify found problems)
  2  invalid input (a name, a value, a file)
  3  not found (service, environment, association)
  4  version conflict (changed since it was read)
  5  server or ZooKeeper unavailable
  6  not authorized
  7  already exists
  8  not empty (has child environments, or a service holding data)
With --json, errors are one JSON object on stderr: {\"error\", \"kind\", \"exit_code\", ...},
the kind being the server API's.";

/// Jones from the shell: administer live configuration, and keep it in a
/// file or feed it to a command for apps that can't link the library.
///
/// Writes go to the Jones server's HTTP API (--server). Reads that apps do
/// (view, export, watch) go to ZooKeeper directly (--zk), like the client
/// library, so they keep working while the server is down.
#[derive(Debug, Parser)]
#[command(name = "jones", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The Jones server's URL; `host:port` alone means `http://host:port`.
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
    /// A token for the server: an account's (from `jones account add`) or
    /// the server's admin token, sent as a bearer token with every request.
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
    /// Why: recorded with each change this command makes, in the
    /// service's history.
    #[arg(long, short, global = true, value_name = "TEXT")]
    pub message: Option<String>,
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
    /// Load a `jones dump` (text or --json) into a service: a new one, one
    /// that holds nothing yet, or with --replace one that does.
    ///
    /// Environments and associations are written through the server, which
    /// computes the views, so `dump`, `restore` into an empty service, and
    /// `dump` again give the same text.
    Restore {
        /// The dump; `-` reads stdin.
        file: String,
        /// The service to load it into (default: the service it was dumped from).
        #[arg(long)]
        service: Option<String>,
        /// Replace what the service holds: every environment is written with
        /// the version read, so a change made meanwhile stops the restore
        /// (exit 4) instead of being overwritten; environments and
        /// associations not in the dump are deleted.
        #[arg(long)]
        replace: bool,
    },
    /// The service's recorded changes, newest first: who, when, why, and a
    /// diff of each (ENV only: that environment's).
    History {
        service: String,
        env: Option<String>,
        /// Entries to show (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only entries older than this id (the `next` of a page).
        #[arg(long)]
        before: Option<u64>,
    },
    /// The Jones-wide history: services deleted, accounts created and
    /// removed (needs a global admin).
    Audit {
        /// Entries to show (1 to 500).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only entries older than this id (the `next` of a page).
        #[arg(long)]
        before: Option<u64>,
    },
    /// Make an environment's config what it was right after history entry
    /// ID: shows the diff and asks; writes with the version read, so a
    /// change made meanwhile stops it (exit 4).
    Rollback {
        service: String,
        /// The history entry (`jones history` shows ids as `#ID`).
        id: u64,
        /// Roll back without asking.
        #[arg(long, short)]
        yes: bool,
    },
    /// The JSON Schema (draft 2020-12) every view of a service must satisfy.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Freeze an environment's view as it was right after history entry ID:
    /// it and its children stop following edits above it until unpinned.
    Pin {
        service: String,
        env: String,
        /// The history entry (`jones history` shows ids as `#ID`).
        id: u64,
    },
    /// Let a pinned environment follow its lineage again.
    Unpin { service: String, env: String },
    /// The pinned environments of a service: each one's entry, and the keys
    /// it would read differently unpinned.
    Pins { service: String },
    /// Check that every view equals its recomputed merge, every association
    /// points at a view, and no write is unfinished (exit 0 consistent, 1 not).
    Verify { service: String },
    /// Recompute every view, finish an unfinished write, delete orphan views;
    /// then verify (exit 0 consistent, 1 not).
    Repair { service: String },
    /// Accounts of the server: who may read and change what (needs an
    /// admin of every service: the admin token or such an account).
    #[command(subcommand)]
    Account(AccountCommand),
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

/// A service's merge mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Merge {
    Shallow,
    Deep,
}

impl Merge {
    pub fn as_str(self) -> &'static str {
        match self {
            Merge::Shallow => "shallow",
            Merge::Deep => "deep",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service with an empty root environment.
    Create {
        name: String,
        /// How environments inherit: `shallow` (original Jones: an object
        /// an environment sets replaces the inherited one whole) or `deep`
        /// (objects merged key by key).
        #[arg(long, value_enum, default_value = "shallow")]
        merge: Merge,
    },
    /// Change a service's merge mode; every view is rewritten in the new
    /// mode in one step.
    Merge { name: String, mode: Merge },
    /// Delete a service and every environment and association in it.
    ///
    /// Says how many environments and associations go, then asks; without
    /// a terminal to ask, needs --yes.
    Delete {
        name: String,
        /// Delete without asking.
        #[arg(long, short)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Print the schema.
    Get { service: String },
    /// Set the schema from FILE (`-`: stdin); refused (exit 2), each
    /// violation named, when a view breaks it.
    Set { service: String, file: String },
    /// Remove the schema.
    Rm { service: String },
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
        /// Its config, a JSON object: inline, `@FILE` to read a file, or `-` to read stdin.
        #[arg(long, default_value = "{}")]
        config: String,
    },
    /// Set one key; a dotted KEY reaches nested objects.
    ///
    /// By default VALUE is JSON when it parses as JSON (`42`, `true`,
    /// `[1,2]`, `"text"`), else the string as typed (`hello`, `1.2.3`). A
    /// number JSON would store differently from how it is typed (`1.10`
    /// would be 1.1, `1e3` would be 1000.0) is refused: give --string to
    /// store the text, or type the number as it should be stored.
    Set {
        service: String,
        env: String,
        key: String,
        value: String,
        /// Store VALUE as a JSON string exactly as typed (`1.10` stays "1.10").
        #[arg(long, conflicts_with = "json_value")]
        string: bool,
        /// VALUE must be JSON; an error when it is not (no fallback to a string).
        #[arg(long)]
        json_value: bool,
        /// Save even if the change hides inherited keys (a dotted KEY under
        /// the shallow merge replaces the whole inherited object).
        #[arg(long, short)]
        yes: bool,
        /// For a dotted KEY whose object the environment inherits: start
        /// from a copy of the inherited object, so no inherited key is lost.
        #[arg(long)]
        copy_inherited: bool,
        /// Write nothing: print every view the change would rewrite, key by
        /// key, the associations reading each, and whether the service's
        /// schema would refuse it (exit 2).
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove one key (dotted keys reach nested objects).
    Unset {
        service: String,
        env: String,
        key: String,
        /// Save even if the change hides inherited keys.
        #[arg(long, short)]
        yes: bool,
        /// Write nothing: print what the change would do (see `env set`).
        #[arg(long)]
        dry_run: bool,
    },
    /// Edit the config in $EDITOR; saved with the version read.
    ///
    /// Inherited keys the edit would hide are named and need a yes. If
    /// someone saved meanwhile, the edit is merged three-way: keys only one
    /// side changed merge and are saved; keys both changed are noted at the
    /// top of the file and the editor opens again (without a terminal:
    /// exit 4, the merge kept in a file for --resume).
    Edit {
        service: String,
        env: String,
        /// Take back an edit kept after a failed or conflicting `env edit`:
        /// shows how it differs from the config now, opens it in $EDITOR,
        /// and saves it with the version read now.
        #[arg(long, value_name = "FILE")]
        resume: Option<PathBuf>,
        /// Save even if the edit hides inherited keys.
        #[arg(long, short)]
        yes: bool,
    },
    /// Delete an environment.
    ///
    /// First lists every environment it removes and every association it
    /// drops (those hosts read the root config instead, which is shown),
    /// then asks; without a terminal to ask, needs --yes. Prints what it
    /// removed.
    Rm {
        service: String,
        env: String,
        /// Also delete every environment below it.
        #[arg(long, short)]
        recursive: bool,
        /// Delete without asking.
        #[arg(long, short)]
        yes: bool,
    },
}

/// What an account may do on a service (or on every service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Read configs, environments, associations, history, event streams.
    Viewer,
    /// A viewer that also sets configs and associations.
    Editor,
    /// An editor that also creates and deletes services and environments,
    /// repairs, and (on every service) manages accounts.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its token: the only time it is shown
    /// (only its hash is stored).
    ///
    /// Without --service the role holds on every service; each --service
    /// grants it on that service.
    Add {
        /// The account's name: `a-z`, `0-9`, `.`, `_` and `-`, starting
        /// with a letter or digit, at most 64 characters.
        name: String,
        /// What the account may do.
        #[arg(long, value_enum)]
        role: Role,
        /// A service the role holds on; repeatable.
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
    },
    /// List the accounts and their roles.
    Ls,
    /// Remove an account: every server refuses its token from then on.
    Rm { name: String },
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
    /// The file to keep in sync; replaced atomically, keeping its
    /// permissions. `-` writes each new config to stdout instead.
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
