//! A live client from the shell: prints the config of a service as one
//! compact JSON line each time it changes (the first line is the config at
//! start), flushing every line so it can be piped.
//!
//! ```sh
//! cargo run -p jones-examples --example watch -- --zk 127.0.0.1:2181 --service web --association web-01
//! ```

use std::io::Write;

use clap::Parser;
use jones_client::JonesClient;

#[derive(Parser)]
#[command(about = "Print a service's live config, one JSON line per change")]
struct Args {
    /// ZooKeeper connect string, optionally with a chroot: `host:port[,host:port][/chroot]`.
    #[arg(long, env = "JONES_ZK")]
    zk: String,
    /// The service.
    #[arg(long)]
    service: String,
    /// The association (default: this host's fully qualified name).
    #[arg(long)]
    association: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = JonesClient::builder(&args.service).zk(&args.zk);
    if let Some(association) = &args.association {
        builder = builder.association(association);
    }
    let client = builder.build().await?;
    let mut changes = client.subscribe();
    let mut stdout = std::io::stdout().lock();
    loop {
        let snapshot = changes.borrow_and_update().clone();
        let line = serde_json::to_string(&snapshot.config)?;
        // A closed pipe (`| head -1`) ends the program quietly.
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.close().await;
    Ok(())
}
