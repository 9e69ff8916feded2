//! The `tfpilot` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use tfpilot::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Handler chains are deep async state machines (very large in debug builds):
    // give the runtime's threads room.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
