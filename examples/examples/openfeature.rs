//! Flags through the OpenFeature client API, served by Jones: evaluates
//! each `--flag` as a boolean for the `--user` targeting key and prints one
//! JSON line with the values and reasons at start and after every
//! configuration change the provider reports.
//!
//! ```sh
//! cargo run -p jones-examples --example openfeature -- \
//!     --zk 127.0.0.1:2181 --service checkout --flag new_flow --flag pct_new_queue --user user-17
//! ```

use std::io::Write;

use clap::Parser;
use jones_client::JonesClient;
use jones_openfeature::{JonesProvider, ProviderEvent};
use open_feature::{EvaluationContext, OpenFeature};
use serde_json::json;

#[derive(Parser)]
#[command(about = "Evaluate boolean flags through OpenFeature, again after each change")]
struct Args {
    /// ZooKeeper connect string, optionally with a chroot.
    #[arg(long, env = "JONES_ZK")]
    zk: String,
    /// The service.
    #[arg(long)]
    service: String,
    /// The association (default: this host's fully qualified name).
    #[arg(long)]
    association: Option<String>,
    /// A flag to evaluate (repeat for more).
    #[arg(long = "flag", required = true)]
    flags: Vec<String>,
    /// The targeting key percentage rollouts are evaluated for.
    #[arg(long)]
    user: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = JonesClient::builder(&args.service).zk(&args.zk);
    if let Some(association) = &args.association {
        builder = builder.association(association);
    }
    let jones = builder.build().await?;
    let provider = JonesProvider::new(jones.clone());
    let mut events = provider.events();
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    let flags = api.create_client();
    drop(api);
    let user = EvaluationContext::default().with_targeting_key(args.user.as_str());
    let mut stdout = std::io::stdout().lock();
    loop {
        let mut line = serde_json::Map::new();
        for flag in &args.flags {
            let evaluated = match flags.get_bool_details(flag, Some(&user), None).await {
                Ok(d) => json!({"value": d.value, "reason": d.reason.map(|r| r.to_string())}),
                Err(e) => json!({"value": false, "error": e.code.to_string()}),
            };
            line.insert(flag.clone(), evaluated);
        }
        // A closed pipe ends the program quietly.
        if writeln!(stdout, "{}", serde_json::Value::Object(line))
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(ProviderEvent::ConfigurationChanged { .. }) => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                },
                _ = tokio::signal::ctrl_c() => {
                    jones.close().await;
                    return Ok(());
                }
            }
        }
    }
    jones.close().await;
    Ok(())
}
