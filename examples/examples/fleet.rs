//! A fleet in one process: N live clients of one service, each with its own
//! ZooKeeper session and association `{prefix}0` … `{prefix}{N-1}`, so anyone
//! can watch a change sweep through a fleet. Once a second it prints one
//! compact JSON line:
//!
//! ```text
//! {"clients":1000,"ready":1000,"values":{"\"blue\"":998,"\"green\"":2},"watch_events":1003,"reads":2010,"bytes_read":48211,"registry_writes":1002}
//! ```
//!
//! `values` counts the clients by the value of `--key` (as JSON; `null`
//! when absent), the other fields add up every client's
//! [`stats`](jones_client::JonesClient::stats). Clients are spread over the
//! connect string's servers (client `i` lists server `i mod k` first) and
//! started in waves of `--wave` so the ensemble is not hit all at once.
//! The open-file limit is raised to what N sessions need, or the program
//! says why it cannot.
//!
//! ```sh
//! cargo run --release -p jones-examples --example fleet -- \
//!     --zk 127.0.0.1:2181 --service demo --clients 1000 --prefix host- --key color
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::Parser;
use jones_client::JonesClient;

#[derive(Parser)]
#[command(about = "Hold N live clients of one service and print how they see one key")]
struct Args {
    /// ZooKeeper connect string: `host:port[,host:port][/chroot]`.
    #[arg(long, env = "JONES_ZK")]
    zk: String,
    /// The service.
    #[arg(long)]
    service: String,
    /// How many clients.
    #[arg(long)]
    clients: usize,
    /// Associations are `{prefix}0` … `{prefix}{N-1}`.
    #[arg(long, default_value = "fleet-")]
    prefix: String,
    /// The key whose values are counted.
    #[arg(long)]
    key: String,
    /// Clients started at once; the next wave starts when this one is ready
    /// (or after 10 s).
    #[arg(long, default_value_t = 250)]
    wave: usize,
    /// Do not register the clients in the service's client registry.
    #[arg(long)]
    no_register: bool,
    /// Session timeout in milliseconds.
    #[arg(long, default_value_t = 20_000)]
    session_timeout_ms: u64,
}

/// File descriptors a session needs, plus headroom for the runtime.
const FDS_PER_CLIENT: u64 = 1;
const FD_HEADROOM: u64 = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    raise_open_file_limit(args.clients as u64 * FDS_PER_CLIENT + FD_HEADROOM);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let servers = connect_strings(&args.zk, args.clients);
    let mut clients = Vec::with_capacity(args.clients);
    let mut stdout = std::io::stdout();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    loop {
        if next < args.clients {
            let wave_end = (next + args.wave.max(1)).min(args.clients);
            for i in next..wave_end {
                let client = JonesClient::builder(&args.service)
                    .zk(&servers[i % servers.len()])
                    .association(&format!("{}{i}", args.prefix))
                    .session_timeout(Duration::from_millis(args.session_timeout_ms))
                    .register(!args.no_register)
                    .start()?;
                clients.push(client);
            }
            let ready = all_ready(&clients[next..wave_end], Duration::from_secs(10));
            next = wave_end;
            tokio::select! {
                () = ready => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        } else {
            tokio::select! {
                _ = tick.tick() => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let line = summary(&clients, args.clients, &args.key);
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    for chunk in clients.chunks(1000) {
        let closing: Vec<_> = chunk.iter().map(JonesClient::close).collect();
        for close in closing {
            close.await;
        }
    }
    Ok(())
}

/// Waits until every client of `wave` is ready, at most `timeout`.
async fn all_ready(wave: &[JonesClient], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    for client in wave {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if client.wait_ready(left).await.is_err() {
            return;
        }
    }
}

/// One line: how many clients, how many ready, their values of `key`, and
/// their summed counters.
fn summary(clients: &[JonesClient], wanted: usize, key: &str) -> String {
    let mut values: BTreeMap<String, usize> = BTreeMap::new();
    let mut ready = 0;
    let (mut watch_events, mut reads, mut bytes_read, mut registry_writes) = (0, 0, 0, 0);
    for client in clients {
        if client.is_ready() {
            ready += 1;
            let snapshot = client.snapshot();
            let value = snapshot.config.get(key).unwrap_or(&serde_json::Value::Null);
            *values.entry(value.to_string()).or_default() += 1;
        }
        let stats = client.stats();
        watch_events += stats.watch_events;
        reads += stats.reads;
        bytes_read += stats.bytes_read;
        registry_writes += stats.registry_writes;
    }
    serde_json::json!({
        "clients": wanted,
        "ready": ready,
        "values": values,
        "watch_events": watch_events,
        "reads": reads,
        "bytes_read": bytes_read,
        "registry_writes": registry_writes,
    })
    .to_string()
}

/// One connect string per server of `zk`, each listing a different server
/// first, so that client `i` taking string `i mod k` spreads the fleet.
fn connect_strings(zk: &str, clients: usize) -> Vec<String> {
    let (hosts, chroot) = match zk.find('/') {
        Some(at) => zk.split_at(at),
        None => (zk, ""),
    };
    let hosts: Vec<&str> = hosts.split(',').collect();
    let rotations = hosts.len().min(clients.max(1));
    (0..rotations)
        .map(|r| {
            let rotated: Vec<&str> = hosts[r..].iter().chain(&hosts[..r]).copied().collect();
            format!("{}{chroot}", rotated.join(","))
        })
        .collect()
}

/// Raises the soft open-file limit to `needed` (up to the hard limit), and
/// says so on standard error when the hard limit is too low.
fn raise_open_file_limit(needed: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        eprintln!("fleet: cannot read the open-file limit; keeping it");
        return;
    };
    if soft >= needed {
        return;
    }
    let target = needed.min(hard);
    if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        eprintln!("fleet: cannot raise the open-file limit from {soft} to {target}: {e}");
        return;
    }
    eprintln!("fleet: open-file limit raised from {soft} to {target}");
    if target < needed {
        eprintln!(
            "fleet: {needed} open files are needed but the hard limit is {hard}: raise it (ulimit -Hn) or run fewer clients"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings_rotate_the_servers_and_keep_the_chroot() {
        assert_eq!(
            connect_strings("a:1,b:2,c:3/jones", 10),
            [
                "a:1,b:2,c:3/jones",
                "b:2,c:3,a:1/jones",
                "c:3,a:1,b:2/jones"
            ]
        );
        assert_eq!(connect_strings("a:1", 10), ["a:1"]);
        assert_eq!(connect_strings("a:1,b:2", 1), ["a:1,b:2"]);
    }
}
