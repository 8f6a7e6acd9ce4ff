//! Building and running the server: `Application::build(config)` binds the
//! listener (port 0 picks a free port, for tests), `run_until_stopped` serves
//! until SIGINT/SIGTERM (see [`crate::lifecycle`]) or [`Application::handle`]'s stop.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::map_config;
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use anyhow::Context;
use blytz::accounts::{Accounts, TokenIssuer};
use blytz::auctions::{Auctions, SETTLE_AFTER, SqlJournal};
use blytz::catalog::{Catalog, MediaStore};
use blytz::cluster::{ClusterSettings, Duty, Forwarder, Leases, Relay};
use blytz::commerce::Commerce;
use blytz::db::Writer;
use blytz::redis_store::Redis;
use blytz::shows::{Shows, SqlChatStore};
use blytz::{Config, Db, Error};
use blytz_actors::chat::{ChatHub, ChatSettings, PresenceIndex};
use blytz_actors::ports::Placement;
use blytz_actors::ports::SystemClock;
// Background loops hold database calls: a loop cut by a stopping arbiter
// drops its call inside the runtime (`blytz_actors::runtime`).
use blytz_actors::runtime;
use blytz_actors::{Engine, EngineHooks, EngineSettings};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;
use utoipa_scalar::{Scalar, Servable};

use crate::error::{ApiError, json_error, path_error, query_error};
use crate::limits::{FORGET_IDLE_EVERY, RateLimits};
use crate::middleware::{cors, rate_limit, record_metrics, request_ids, security_headers};
use crate::state::AppState;
use crate::{metrics, openapi, routes};

/// How often giveaways due are drawn and flash sales due are ended.
const LOTS_TICK: Duration = Duration::from_millis(250);

/// A bound, ready-to-run server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// The journal's connection, given back before storage closes.
    journal_writer: Writer,
    /// On PostgreSQL, the pool of snapshots and settles
    /// ([`Db::write_behind`]), closed with storage.
    write_behind: Option<Db>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connect storage, apply migrations, build the services and bind the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        let listener =
            TcpListener::bind(config.bind).with_context(|| format!("binding {}", config.bind))?;
        Self::build_with(config, db, listener).await
    }

    /// The same over an already connected, migrated database and a bound listener.
    pub async fn build_with(config: Config, db: Db, listener: TcpListener) -> anyhow::Result<Self> {
        let redis = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(Redis::connect(url).await?),
            None => None,
        };
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
        let presence = PresenceIndex::default();
        let (observer, facts) = blytz::notify::facts_channel(presence.clone());
        let cluster = match ClusterSettings::from_config(&config)? {
            Some(settings) => {
                let Db::Postgres(pool) = &db else {
                    anyhow::bail!("BLYTZ_CLUSTER=on needs DATABASE_URL=postgres://...");
                };
                Some(Leases::join(settings, pool.clone()).await?)
            }
            None => None,
        };
        let journal_writer = db.journal_writer().await?;
        let write_behind = db.write_behind();
        let mut journal =
            SqlJournal::new(db.clone(), redis.clone()).committing_on(journal_writer.clone());
        if let Some(behind) = &write_behind {
            journal = journal.deriving_on(behind.clone());
        }
        let mut hooks = EngineHooks {
            observer: Some(observer),
            ..EngineHooks::default()
        };
        if let Some(leases) = &cluster {
            journal = journal.fenced_for(leases.node_id(), leases.settings().lease);
            hooks.placement = Some(Arc::clone(leases) as Arc<dyn Placement>);
            hooks.remote = Some(Arc::new(Forwarder::new(Arc::clone(leases))?));
        }
        let read_models = journal.read_models();
        runtime::spawn(read_models.clone().settle_every(SETTLE_AFTER));
        let settings = match config.engine_threads {
            0 => EngineSettings::default(),
            threads => EngineSettings {
                arbiters: threads,
                ..EngineSettings::default()
            },
        };
        let workers = match config.workers {
            0 => default_workers(),
            workers => workers,
        };
        let engine = Engine::start_with(Arc::new(journal), Arc::new(SystemClock), settings, hooks);
        if let Some(leases) = &cluster {
            let relay = Relay::start(
                &leases.settings().redis_url,
                leases.relay_channel(),
                leases.node_id(),
                engine.clone(),
            )
            .await?;
            engine.rooms().set_relay(relay);
            runtime::spawn(Arc::clone(leases).run(engine.clone()));
        }
        let resumed = engine
            .resume_open_auctions()
            .await
            .map_err(|e| anyhow::anyhow!("resuming open auctions: {e}"))?;
        if resumed > 0 {
            tracing::info!(resumed, "open auctions resumed from the journal");
        }
        let duty = Duty::new(cluster.clone());
        let catalog = Catalog::new(db.clone(), MediaStore::from_config(&config)?);
        let auctions = Auctions::new(engine, db.clone(), read_models, catalog.clone());
        let chat_store = SqlChatStore::open(db.clone()).await?;
        let chat = ChatHub::start(
            auctions.engine().rooms().clone(),
            Arc::new(chat_store.clone()),
            Arc::new(SystemClock),
            ChatSettings {
                rate_per_sec: config.chat_rate_per_sec,
                burst: config.chat_burst,
            },
            presence.clone(),
        );
        let shows = Shows::new(db.clone(), auctions.clone(), chat, chat_store);
        let audience = blytz::audience::Audience::new(db.clone());
        let notifications = blytz::notify::Notifications::from_config(db.clone(), &config)?
            .with_rooms(auctions.engine().rooms().clone());
        runtime::spawn(notifications.clone().run(
            facts,
            blytz::notify::Sources {
                presence,
                audience: audience.clone(),
            },
        ));
        runtime::spawn(
            catalog
                .clone()
                .flush_views_every(Duration::from_secs(config.view_flush_secs)),
        );
        let commerce = Commerce::from_config(db.clone(), &config)?
            .with_rooms(auctions.engine().rooms().clone())
            .with_notifications(notifications.clone());
        runtime::spawn(
            commerce
                .clone()
                .consume_outbox_every(Duration::from_millis(config.outbox_poll_ms), duty.clone()),
        );
        runtime::spawn(commerce.clone().sweep_reservations_every(
            Duration::from_secs(config.reservation_sweep_secs),
            duty.clone(),
        ));
        let lots = blytz::shows::lots::Lots::new(
            db.clone(),
            catalog.clone(),
            commerce.clone(),
            shows.chat().clone(),
            auctions.engine().rooms().clone(),
        );
        let shows = shows.with_lots(lots.clone());
        runtime::spawn(lots.clone().run_due_every(LOTS_TICK, duty));
        let streaming = blytz::streaming::Streaming::from_config(&config)?;
        let limits = match (&cluster, &redis) {
            (Some(leases), Some(redis)) => {
                RateLimits::new(&config).shared_in(redis, leases.cluster_id(), &config)
            }
            _ => RateLimits::new(&config),
        };
        let limits = Arc::new(limits);
        spawn_limit_janitor(Arc::clone(&limits));
        let ws = Arc::new(crate::ws::budget::WsBudget::new(&config));

        let state = AppState {
            config: Arc::new(config),
            db,
            redis,
            accounts,
            catalog,
            auctions,
            shows,
            lots,
            audience,
            notifications,
            commerce,
            streaming,
            limits,
            ws,
            metrics: metrics::handle()?,
            cluster,
            lifecycle: Arc::default(),
        };
        let port = listener
            .local_addr()
            .context("reading the bound port")?
            .port();
        let spec = Arc::new(openapi::document());
        let data = web::Data::new(state.clone());
        let server = http_server(listener, workers, data, spec)?;
        tracing::info!(port, env = ?state.config.env, backend = ?state.db.backend(), "Blytz is listening");
        Ok(Self {
            port,
            server,
            state,
            journal_writer,
            write_behind,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The shared state (services, storage), e.g. for tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until stopped (SIGINT, SIGTERM or the handle), then close storage.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_web::rt::spawn(crate::lifecycle::stop_on_signal(
            self.state.clone(),
            self.server.handle(),
        ));
        let result = self.server.await;
        if let Some(leases) = &self.state.cluster
            && let Err(e) = leases.leave().await
        {
            tracing::warn!(error = %e, "could not leave the cluster at shutdown");
        }
        self.state.auctions.engine().stop();
        self.state.shows.chat().stop();
        if let Err(e) = self.state.catalog.flush_views().await {
            tracing::warn!(error = %e, "could not flush product views at shutdown");
        }
        // The shared pool's close waits for every connection it lent.
        self.journal_writer.close().await;
        if let Some(behind) = &self.write_behind {
            behind.close().await;
        }
        self.state.db.close().await;
        tracing::info!("Blytz stopped");
        result
    }
}

/// HTTP workers by default: one per core. Since a bid below an auction's
/// floor is answered on its worker, the workers carry most of a bid's work
/// and the engine's thread about a fifth of a core on a hot auction: on two
/// cores, two workers beside it did about a sixth more durable bids a
/// second on 100 auctions than one, and lowered the fan-out's p99
/// (`docs/performance.md`, "Two HTTP workers again").
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The HTTP server on `listener`: actix-web's own assembly (as
/// `HttpServer` builds it), plus an upgrade service so that a WebSocket
/// leaves the HTTP dispatcher at the switch ([`crate::ws::upgrade`]).
fn http_server(
    listener: TcpListener,
    workers: usize,
    data: web::Data<AppState>,
    spec: Arc<utoipa::openapi::OpenApi>,
) -> anyhow::Result<Server> {
    let addr = listener.local_addr().context("reading the bound address")?;
    // SIGTERM and SIGINT stop the node in order: see `lifecycle`.
    let builder = Server::build()
        .shutdown_timeout(10)
        .disable_signals()
        .workers(workers);
    let shutdown = builder.graceful_shutdown_signal();
    // A request without a `Host` header is read as for `localhost:8080`
    // (actix-web keeps the bound address for its own `HttpServer`).
    let config = |()| AppConfig::default();
    let builder = builder
        .listen("blytz-http", listener, move || {
            let shutdown = shutdown.clone();
            HttpService::build()
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                // Bids and room frames are small writes that must leave at
                // once: with Nagle on, the second of two frames waits for
                // the client's delayed ACK (about 40 ms).
                .tcp_nodelay(true)
                .local_addr(addr)
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .upgrade(crate::ws::upgrade::factory(map_config(
                    create_app(data.clone(), Arc::clone(&spec)),
                    config,
                )))
                .finish(map_config(
                    create_app(data.clone(), Arc::clone(&spec)),
                    config,
                ))
                .tcp()
        })
        .context("listening")?;
    Ok(builder.run())
}

/// The app factory: middleware, extractor settings, routes, docs.
pub fn create_app(
    state: web::Data<AppState>,
    spec: Arc<utoipa::openapi::OpenApi>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(state.config.json_limit_bytes)
        .error_handler(json_error);
    let spec_json = Arc::clone(&spec);
    let cors_origins = state.config.cors_origins.clone();
    App::new()
        .app_data(state)
        .app_data(json)
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .wrap(from_fn(rate_limit))
        .wrap(from_fn(request_ids))
        .wrap(from_fn(record_metrics))
        .wrap(actix_web::middleware::Condition::new(
            !cors_origins.is_empty(),
            cors(&cors_origins),
        ))
        .wrap(from_fn(security_headers))
        .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
        .into_utoipa_app()
        .configure(routes::all)
        .split_for_parts()
        .0
        .route(
            "/api/openapi.json",
            web::get().to(move || {
                let spec = Arc::clone(&spec_json);
                async move { HttpResponse::Ok().json(spec.as_ref()) }
            }),
        )
        .configure(routes::cluster::internal)
        .service(Scalar::with_url("/api/docs", spec.as_ref().clone()))
        .configure(routes::web::configure)
        .default_service(web::to(not_found))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(Error::NotFound { what: "route" }.into())
}

/// Forget idle rate-limit keys now and then, so memory stays bounded.
fn spawn_limit_janitor(limits: Arc<RateLimits>) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(FORGET_IDLE_EVERY);
        loop {
            tick.tick().await;
            limits.forget_idle();
        }
    });
}
