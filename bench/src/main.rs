//! `blytz-bench`: load scenarios against a Blytz server, and the seed design
//! (one Redis Lua script per bid) as a baseline. See `--help` and the
//! "Benchmarks" section of the README.
//!
//! Each scenario starts its own server in a child process (this binary run
//! again with the hidden `serve` subcommand) on a throw-away database, unless
//! `--url` names one. All traffic stays on 127.0.0.1.

// A command-line tool: its output on stdout is the report.
#![allow(clippy::print_stdout)]

mod bare;
mod baseline;
mod bidding;
mod chat;
mod cli;
mod client;
mod cluster;
mod plot;
mod procfs;
mod report;
mod scenarios;
mod server;
mod target;
mod watchers;

use std::process::ExitCode;

/// The server's allocator (see `http/src/main.rs`): the bench runs the
/// server as this binary's `serve`, so it measures what the server ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let command = match Cli::parse().command {
        Command::Serve(args) => return server::serve(args),
        Command::Blytz(args) => return server::blytz(args),
        Command::BareRoom(args) => return bare::serve(args),
        command => command,
    };
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("blytz-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // On Ctrl-C the scenario is dropped, which stops its servers and removes their folders.
    let run = async {
        tokio::select! {
            result = scenarios::run(command) => result,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    };
    match runtime.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blytz-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Thousands of sockets need thousands of file descriptors: lift the soft
/// limit to the hard one (the child server inherits it).
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => eprintln!("open files limit: {limit}"),
        Err(e) => eprintln!("could not raise the open files limit: {e}"),
    }
}
