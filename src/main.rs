//! The `tfpilot` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use tfpilot::cli::{Cli, run};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
