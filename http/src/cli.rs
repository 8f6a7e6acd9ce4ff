//! The server binary's command line: `blytz` (serve), `blytz admin create`
//! and `blytz vapid-keys`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use blytz::Config;
use blytz::accounts::{Accounts, TokenIssuer};
use blytz::config::Environment;
use clap::{Parser, Subcommand};

use crate::startup::Application;

/// Blytz: live-commerce auctions.
#[derive(Debug, Parser)]
#[command(name = "blytz", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage accounts from the command line.
    Admin {
        /// The admin action.
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Print a fresh Web Push (VAPID) key pair: the private key for
    /// `BLYTZ_VAPID_PRIVATE_KEY` and the public key browsers receive.
    VapidKeys,
}

/// `blytz admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Create an admin account (the only way to get one).
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Password (8 to 128 characters); may come from BLYTZ_ADMIN_PASSWORD.
        #[arg(long, env = "BLYTZ_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// Name shown in rooms.
        #[arg(long, default_value = "Admin")]
        display_name: String,
    },
}

/// Run the command line; the exit code says whether it worked.
pub async fn run(cli: Cli) -> ExitCode {
    // Logging starts before the configuration is read, so that what loading
    // says (e.g. a generated development secret) is seen.
    let env = match std::env::var("BLYTZ_ENV").as_deref() {
        Ok("production") => Environment::Production,
        _ => Environment::Development,
    };
    crate::telemetry::init(env);
    if matches!(cli.command, Some(Command::VapidKeys)) {
        let (private, public) = blytz::notify::push::generate_vapid_keys();
        // The command's whole output is the key pair, for a person to copy.
        let printed = writeln!(
            std::io::stdout(),
            "BLYTZ_VAPID_PRIVATE_KEY={}\n# public key: {public}",
            secrecy::ExposeSecret::expose_secret(&private)
        );
        return if printed.is_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let config = match Config::load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("blytz: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Admin {
            action:
                AdminAction::Create {
                    email,
                    password,
                    display_name,
                },
        } => create_admin(config, &email, &password, &display_name).await,
        Command::VapidKeys => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "blytz failed");
            eprintln!("blytz: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}

async fn create_admin(
    config: Config,
    email: &str,
    password: &str,
    display_name: &str,
) -> anyhow::Result<()> {
    let db = blytz::Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let tokens = TokenIssuer::new(
        config.jwt_secret_bytes()?,
        Duration::from_secs(config.access_token_ttl_secs),
    );
    let accounts = Accounts::new(
        db.clone(),
        tokens,
        Duration::from_secs(config.refresh_token_ttl_secs),
    )
    .await?;
    let admin = accounts
        .create_admin(email, password, display_name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.close().await;
    eprintln!("created admin {} ({})", admin.email, admin.id);
    Ok(())
}
