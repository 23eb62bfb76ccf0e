//! `jones-server`: the Jones admin server (HTTP API and web editor).
//!
//! Without `--zk` it runs in dev mode with its own local ZooKeeper.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use jones_server::devmode::{DEV_DIGEST, DevZooKeeper};
use jones_server::http::{HttpOptions, PublicUrl, ServerState, serve};
use jones_server::{Admin, ZkOptions};
use zookeeper_client::SessionState;

/// The Jones server: writes configuration to ZooKeeper, serves the HTTP API
/// under /api/v1 and the web editor at /.
///
/// No `Debug`: the arguments hold the admin token and the digest.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// ZooKeeper to use: host:port[,host:port][/chroot]. Without it the
    /// server starts its own local ZooKeeper (dev mode).
    #[arg(long, env = "JONES_ZK")]
    zk: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "JONES_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// ZooKeeper digest credential `user:password`; znodes are created
    /// world-readable and writable only by it. Dev mode defaults to
    /// `jones:jones-dev`.
    #[arg(long, env = "JONES_ZK_DIGEST", hide_env_values = true)]
    digest: Option<String>,
    /// The bootstrap admin token, an admin of every service. With it every
    /// request but health, metrics and the editor's files needs a role:
    /// this token or an account's (`jones account add`), as
    /// `Authorization: Bearer` or the editor's sign-in. Without it the API
    /// is open to every local user (loopback only).
    #[arg(long, env = "JONES_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// With --admin-token: let requests without a credential read (what a
    /// viewer may GET, event streams included); writes still need a role.
    #[arg(long, env = "JONES_ANONYMOUS_READ")]
    anonymous_read: bool,
    /// Allow listening on a non-loopback address without an admin token.
    #[arg(long)]
    insecure: bool,
    /// A URL the server is reached at besides its listen address (behind a
    /// proxy, or under a DNS name), e.g. `https://jones.example.com`;
    /// repeatable. Requests naming another host are refused (403), as are
    /// writes from another origin.
    #[arg(long = "public-url", value_name = "URL", value_parser = PublicUrl::parse)]
    public_urls: Vec<PublicUrl>,
    /// Open event streams at most; beyond it 503.
    #[arg(long, env = "JONES_MAX_STREAMS", default_value_t = HttpOptions::default().max_streams)]
    max_streams: usize,
    /// Open HTTP connections at most; further clients wait.
    #[arg(long, env = "JONES_MAX_CONNECTIONS", default_value_t = HttpOptions::default().max_connections)]
    max_connections: usize,
    /// How long a write to a client may stay blocked (the client stopped
    /// reading, e.g. a stalled event stream) before its connection is
    /// closed, in milliseconds.
    #[arg(long, env = "JONES_SEND_TIMEOUT_MS", default_value_t = HttpOptions::default().send_timeout.as_millis() as u64)]
    send_timeout_ms: u64,
    /// Dev mode's ZooKeeper client port on 127.0.0.1 (default: a free one).
    #[arg(long, env = "JONES_DEV_ZK_PORT")]
    dev_zk_port: Option<u16>,
    /// Dev mode's state directory (ZooKeeper's data lives below it).
    #[arg(long, env = "JONES_STATE_DIR", default_value = ".jones")]
    state_dir: PathBuf,
    /// Log filter, e.g. `info` or `jones_server=debug`.
    #[arg(long, env = "JONES_LOG", default_value = "info")]
    log: String,
    /// Create the demo service `demo` (the original Jones fixture) when it is
    /// missing.
    #[arg(long)]
    demo: bool,
    /// Give every znode under /services that anonymous clients may change
    /// (as original Jones created them) the server's ACL; needs --digest.
    #[arg(long, env = "JONES_SECURE_EXISTING")]
    secure_existing: bool,
    /// ZooKeeper session timeout, in milliseconds.
    #[arg(long, env = "JONES_ZK_SESSION_TIMEOUT_MS", default_value_t = 10_000)]
    session_timeout_ms: u64,
    /// The nodemap format of new services (and of empty nodemaps): `json`,
    /// as upstream Jones writes it, or `lines` for fleets on the 0.5.x
    /// client. A nodemap holding associations keeps its format.
    #[arg(long, env = "JONES_NODEMAP_FORMAT", default_value = "json")]
    nodemap_format: jones_server::NodemapFormat,
    /// Fault injection, for crash tests only: stop every association index
    /// build after this many batches, as if the server died there.
    #[arg(long, hide = true)]
    stop_index_build_after: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(refusal) =
        jones_server::http::check_listen(args.listen, args.admin_token.is_some(), args.insecure)
    {
        eprintln!("jones-server: {refusal}");
        return ExitCode::from(2);
    }
    if args.anonymous_read && args.admin_token.is_none() {
        eprintln!(
            "jones-server: --anonymous-read needs --admin-token (without one every request is open)"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jones-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jones-server: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let (dev, connect, digest) = match &args.zk {
        Some(zk) => (None, zk.clone(), args.digest.clone()),
        None => {
            tracing::info!(state_dir = %args.state_dir.display(), "dev mode: starting a local ZooKeeper");
            let dev = DevZooKeeper::start(&args.state_dir, args.dev_zk_port)
                .await
                .map_err(|e| format!("dev mode: {e}"))?;
            tracing::info!(zk = %dev.connect_string(), data = %dev.data_dir().display(), "dev mode: ZooKeeper is serving");
            let connect = dev.connect_string();
            let digest = args.digest.clone().or_else(|| Some(DEV_DIGEST.to_owned()));
            (Some(dev), connect, digest)
        }
    };
    if args.secure_existing && digest.is_none() {
        return Err(
            "--secure-existing needs --digest: the server's ACL is what the znodes get".into(),
        );
    }
    let mut options = ZkOptions::new(&connect);
    options.digest = digest;
    options.session_timeout = Duration::from_millis(args.session_timeout_ms);
    let admin = Admin::connect(options)
        .await
        .map_err(|e| e.to_string())?
        .with_nodemap_format(args.nodemap_format)
        .with_limits(jones_server::Limits {
            stop_index_build_after: args.stop_index_build_after,
            ..jones_server::Limits::default()
        });
    match admin.repair_pending().await {
        Ok(report) => {
            for (service, result) in report {
                match result {
                    Ok(()) => {
                        tracing::warn!(%service, "repaired a write an earlier server left unfinished")
                    }
                    Err(e) => {
                        tracing::error!(%service, error = %e, "cannot repair a write left unfinished; the healer keeps trying")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not check for interrupted writes"),
    }
    match admin.build_missing_indexes().await {
        Ok(report) => {
            for (service, result) in report {
                match result {
                    Ok(()) => tracing::info!(%service, "built the association index"),
                    Err(e) => {
                        tracing::warn!(%service, error = %e, "cannot build the association index; clients read the nodemap until a repair builds it")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not check the association indexes"),
    }
    let audit = if args.secure_existing {
        let secured = admin.secure_existing().await.map_err(|e| e.to_string())?;
        tracing::info!(
            secured,
            "gave world-writable znodes under /services the server's ACL"
        );
        admin
            .last_acl_audit()
            .ok_or_else(|| "no ACL audit after securing".to_owned())
    } else {
        admin.audit_acls().await.map_err(|e| e.to_string())
    };
    report_world_writable(audit);
    match admin.list_services().await {
        Ok(services) => {
            for service in services {
                if let Some(reason) = service.rule_problem() {
                    tracing::warn!(%service, %reason, "service is read-only: its name predates Jones' name rules");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not list the services"),
    }
    let healer = jones_server::Healer::start(admin.clone());
    if args.demo {
        match jones_server::devmode::seed_demo(&admin).await {
            Ok(true) => tracing::info!("created the demo service `demo`"),
            Ok(false) => tracing::info!("the demo service `demo` is already there"),
            Err(e) => return Err(format!("cannot create the demo service: {e}")),
        }
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public: Vec<String> = args.public_urls.iter().map(ToString::to_string).collect();
    tracing::info!(%addr, zk = %connect, token = args.admin_token.is_some(), ?public, "jones-server listening on http://{addr}/");
    match (&args.admin_token, args.anonymous_read) {
        (None, _) => tracing::warn!(
            "no --admin-token: the API is open to every local user who can reach http://{addr}/ \
             (accounts' tokens, when sent, only name who made a change)"
        ),
        (Some(_), true) => tracing::info!(
            "--anonymous-read: reads need no credential; writes need the role of an account or the admin token"
        ),
        (Some(_), false) => {
            tracing::info!("every request needs a role: an account's token or the admin token")
        }
    }
    // Watch the session so it can be seen closing once the server (the
    // last holder of the client) is gone, before dev mode's ZooKeeper stops.
    let mut session = admin
        .zk()
        .client()
        .await
        .map_err(|e| e.to_string())?
        .state_watcher();
    let mut options = HttpOptions::default();
    options.public_urls = args.public_urls.clone();
    options.max_streams = args.max_streams;
    options.max_connections = args.max_connections;
    options.send_timeout = Duration::from_millis(args.send_timeout_ms);
    options.anonymous_read = args.anonymous_read;
    let state = ServerState::with_options(admin, args.admin_token.clone(), options);
    serve(listener, state, shutdown_signal()).await;
    healer.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        while !matches!(
            session.changed().await,
            SessionState::Closed | SessionState::Expired | SessionState::AuthFailed
        ) {}
    })
    .await;
    if closed.is_err() {
        tracing::debug!("the ZooKeeper session did not report closing in time");
    }
    tracing::info!("jones-server stopped");
    drop(dev);
    Ok(())
}

/// Logs the znodes under /services anyone may change, per service.
fn report_world_writable(audit: Result<jones_server::AclAudit, String>) {
    match audit {
        Ok(audit) if audit.world_writable == 0 => {
            tracing::debug!(
                checked = audit.checked,
                "no world-writable znodes under /services"
            )
        }
        Ok(audit) => {
            for service in &audit.services {
                tracing::warn!(
                    service = %service.service,
                    znodes = service.world_writable,
                    examples = ?service.examples,
                    "znodes anyone may change (created by original Jones?); run with --secure-existing to give them the server's ACL"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not check the ACLs under /services"),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT: shutting down"),
        _ = term => tracing::info!("SIGTERM: shutting down"),
    }
}
