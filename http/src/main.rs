//! The Blytz server binary: `cargo run --release` serves; see `--help`.

use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc keeps freed blocks of the password hash (19 MiB each, one
/// per sign-up or login) in its heaps once its adaptive mmap threshold has
/// risen past them: a server that signed 200 people up peaked at 1.3 GiB.
/// mimalloc hands freed memory back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    blytz_http::cli::run(blytz_http::cli::Cli::parse()).await
}
