//! Gating code paths with the three kinds of switch.
//!
//! With `--zk` it reads a live service and re-evaluates on every change;
//! without, it runs on built-in test data (no ZooKeeper needed):
//!
//! ```sh
//! cargo run -p jones-examples --example switches
//! cargo run -p jones-examples --example switches -- --zk 127.0.0.1:2181 --service web
//! ```
//!
//! The config it reads:
//!
//! ```json
//! {"new_checkout": true, "pct_new_queue": 25, "buckets": 10, "enabled_for": [0, 3]}
//! ```

use clap::Parser;
use jones_client::{JonesClient, TestData, parse_config};

#[derive(Parser)]
struct Args {
    /// ZooKeeper connect string; without it, built-in test data is used.
    #[arg(long)]
    zk: Option<String>,
    /// The service.
    #[arg(long, default_value = "web")]
    service: String,
    /// The association (default: this host's fully qualified name).
    #[arg(long)]
    association: Option<String>,
}

/// The decisions an app would take, for a few users.
fn report(client: &JonesClient) {
    // A toggle: the whole new checkout on or off.
    let checkout = if client.enabled("new_checkout") {
        "new"
    } else {
        "old"
    };
    println!("checkout: {checkout}");
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        // A sticky rollout: the same user stays on the new queue as the percentage grows.
        let queue = if client.percentage("pct_new_queue", user) {
            "new"
        } else {
            "old"
        };
        println!("  {user:>5}: queue {queue}");
    }
    for account in [10u64, 13, 27] {
        // A bucket list: accounts whose id % buckets is enabled.
        let beta = client.in_buckets("buckets", "enabled_for", account);
        println!("  account {account}: beta {beta}");
    }
    println!("  switch misses so far: {}", client.switch_misses());
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let Some(zk) = args.zk else {
        let data = TestData::new(parse_config(
            br#"{"new_checkout": true, "pct_new_queue": 25, "buckets": 10, "enabled_for": [0, 3]}"#,
        )?);
        let client = data.client();
        report(&client);
        println!("raising pct_new_queue to 60:");
        data.update(parse_config(
            br#"{"new_checkout": true, "pct_new_queue": 60, "buckets": 10, "enabled_for": [0, 3]}"#,
        )?);
        report(&client);
        return Ok(());
    };
    let mut builder = JonesClient::builder(&args.service).zk(&zk);
    if let Some(association) = &args.association {
        builder = builder.association(association);
    }
    let client = builder.build().await?;
    let mut changes = client.subscribe();
    loop {
        report(&client);
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.close().await;
    Ok(())
}
