//! The Blytz server binary: `cargo run --release` serves; see `--help`.

use std::process::ExitCode;

use clap::Parser;

#[actix_web::main]
async fn main() -> ExitCode {
    blytz_http::cli::run(blytz_http::cli::Cli::parse()).await
}
