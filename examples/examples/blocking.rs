//! The blocking API, for a plain `fn main` app without an async runtime:
//! prints a value at start and each time the config changes.
//!
//! ```sh
//! cargo run -p jones-examples --example blocking -- --zk 127.0.0.1:2181 --service web --key workers
//! ```

use std::time::Duration;

use clap::Parser;
use jones_client::blocking::JonesClient;

#[derive(Parser)]
struct Args {
    /// ZooKeeper connect string.
    #[arg(long)]
    zk: String,
    /// The service.
    #[arg(long)]
    service: String,
    /// The association (default: this host's fully qualified name).
    #[arg(long)]
    association: Option<String>,
    /// The key to print.
    #[arg(long)]
    key: String,
    /// Stop after this many changes (default: run until killed).
    #[arg(long)]
    changes: Option<usize>,
}

fn main() -> Result<(), jones_client::Error> {
    let args = Args::parse();
    let mut builder = jones_client::JonesClient::builder(&args.service).zk(&args.zk);
    if let Some(association) = &args.association {
        builder = builder.association(association);
    }
    let mut client = JonesClient::build(builder)?;
    let show = |client: &JonesClient| {
        let value: Option<serde_json::Value> = client.get(&args.key);
        let shown = value.map_or_else(|| "(missing)".to_owned(), |v| v.to_string());
        println!("{} = {shown}", args.key);
    };
    show(&client);
    let mut seen = 0;
    while args.changes.is_none_or(|n| seen < n) {
        if client.wait_for_change(Duration::from_secs(60)).is_some() {
            seen += 1;
            show(&client);
        }
    }
    client.close();
    Ok(())
}
