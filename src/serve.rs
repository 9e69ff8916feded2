//! `tfpilot serve`: wires the store, the GitHub client and the router, then listens.

use crate::cli::ServeArgs;

/// Runs `tfpilot serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let Some(_secret) = args.webhook_secret.filter(|s| !s.is_empty()) else {
        anyhow::bail!(
            "no webhook secret: set TFPILOT_WEBHOOK_SECRET (or --webhook-secret) to the secret configured on the GitHub App"
        );
    };
    anyhow::bail!("serve is being assembled")
}
