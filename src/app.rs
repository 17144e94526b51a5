//! Wiring: the store, the Home Assistant publisher, both HTTP listeners and the
//! background tasks, in one place.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use jiff::{SignedDuration, Timestamp};

use crate::config::Settings;
use crate::ha::{CoreClient, Publisher, SupervisorClient};
use crate::store::{Store, StoreError};
use crate::web::{AppState, ui_routes, webhook_routes};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server: {0}")]
    Server(std::io::Error),
}

/// The running add-on: both listeners bound, background tasks started.
pub struct Application {
    webhook_port: u16,
    ui_port: u16,
    webhook_server: Server,
    ui_server: Server,
}

impl Application {
    /// Opens the database, binds both listeners (port 0 picks a free one) and starts
    /// pushing to Home Assistant. Must be called inside a tokio runtime.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // reqwest is built without a default TLS provider so that ring, not aws-lc, is used.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let settings = Arc::new(settings);
        if crate::store::restore_if_missing(&settings.database_path(), &settings.snapshot_path())? {
            tracing::warn!(
                "no database found: started from the snapshot of the last Home Assistant backup"
            );
        }
        let store = Store::open(&settings.database_path())?;
        tracing::info!(path = %settings.database_path().display(), "database ready");
        sync_declared_monitors(&store, &settings).await?;

        let bind =
            |addr| TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source });
        let webhook_listener = bind(settings.webhook_listen)?;
        let ui_listener = bind(settings.ui_listen)?;
        let webhook_port = port_of(&webhook_listener)?;
        let ui_port = port_of(&ui_listener)?;

        let publisher = match &settings.core {
            Some(core) => {
                tracing::info!(core = %core.url, "Home Assistant updates enabled");
                Publisher::start(
                    store.clone(),
                    CoreClient::new(core),
                    core,
                    settings.reconcile_every,
                )
            }
            None => {
                tracing::warn!(
                    "Home Assistant updates are off: no SUPERVISOR_TOKEN and no KOPIA_WEBHOOK_CORE_URL/KOPIA_WEBHOOK_CORE_TOKEN; webhooks are stored and shown in the panel only"
                );
                Publisher::disabled()
            }
        };
        let state = web::Data::new(AppState {
            store: store.clone(),
            publisher,
            settings: Arc::clone(&settings),
            webhook_port,
            throttle: crate::web::Throttle::new(settings.rate_per_second, settings.rate_burst),
            address: Default::default(),
        });

        let webhook_state = state.clone();
        let webhook_server = HttpServer::new(move || {
            App::new()
                .app_data(webhook_state.clone())
                .configure(webhook_routes)
        })
        .workers(worker_count())
        .listen(webhook_listener)
        .map_err(StartError::Server)?
        .run();

        let ui_state = state.clone();
        let ui_server =
            HttpServer::new(move || App::new().app_data(ui_state.clone()).configure(ui_routes))
                .workers(1)
                .listen(ui_listener)
                .map_err(StartError::Server)?
                .run();

        tracing::info!(
            addr = %settings.webhook_listen.ip(),
            port = webhook_port,
            "webhook listener ready: backup tools POST to /api/webhook/<id>"
        );
        tracing::info!(
            addr = %settings.ui_listen.ip(),
            port = ui_port,
            "panel ready{}",
            if settings.allow_loopback_ui {
                format!(": open http://127.0.0.1:{ui_port}/")
            } else {
                " (through Home Assistant ingress)".to_owned()
            }
        );

        tokio::spawn(prune_old_events(
            store.clone(),
            settings.options.retention_days,
        ));
        if settings.supervisor.is_some() || settings.core.is_some() {
            let client =
                SupervisorClient::new(settings.supervisor.as_ref(), settings.core.as_ref());
            tokio::spawn(refresh_webhook_address(client, state.clone()));
        }

        Ok(Self {
            webhook_port,
            ui_port,
            webhook_server,
            ui_server,
        })
    }

    pub fn webhook_port(&self) -> u16 {
        self.webhook_port
    }

    pub fn ui_port(&self) -> u16 {
        self.ui_port
    }

    /// Something that stops both listeners gracefully, for tests and embedding.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            handles: [self.webhook_server.handle(), self.ui_server.handle()],
        }
    }

    /// Serves until both listeners stop (SIGINT/SIGTERM stop them).
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        let webhooks = self.webhook_server;
        let ui = self.ui_server;
        let (a, b) = tokio::join!(webhooks, ui);
        a.and(b)
    }
}

/// Stops a running [`Application`].
#[derive(Clone)]
pub struct Stopper {
    handles: [actix_web::dev::ServerHandle; 2],
}

impl Stopper {
    /// Stops accepting connections, lets requests in flight finish, then returns.
    pub async fn stop(&self) {
        for handle in &self.handles {
            handle.stop(true).await;
        }
    }
}

/// Applies the `monitors` add-on option; broken entries are logged and skipped.
async fn sync_declared_monitors(store: &Store, settings: &Settings) -> Result<(), StoreError> {
    let mut declared = Vec::new();
    for entry in &settings.options.monitors {
        match entry {
            Ok(monitor) => declared.push(monitor.clone()),
            Err(reason) => tracing::error!("skipped: {reason}"),
        }
    }
    let keys = store.sync_declared_monitors(declared).await?;
    if !keys.is_empty() {
        tracing::info!(
            count = keys.len(),
            "monitors from the add-on options are in place"
        );
    }
    Ok(())
}

fn port_of(listener: &TcpListener) -> Result<u16, StartError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(StartError::Server)
}

/// A home gets a handful of webhooks an hour; two workers are plenty and keep memory low.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 2))
}

/// The LAN address and port mapping can change (DHCP, the Network settings); look again
/// every ten minutes.
async fn refresh_webhook_address(client: SupervisorClient, state: web::Data<AppState>) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let address = client
            .webhook_address(crate::config::ADDON_WEBHOOK_PORT)
            .await;
        let mut current = state.address.write().unwrap_or_else(|p| p.into_inner());
        if *current != address {
            tracing::info!(host = ?address.host, port = ?address.port, "webhook address for the panel");
            *current = address;
        }
    }
}

/// Deletes events older than `retention_days`, a minute after start and then every six
/// hours, in its own transactions so webhooks are never held up for long.
async fn prune_old_events(store: Store, retention_days: u32) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut every = tokio::time::interval(Duration::from_secs(6 * 3600));
    loop {
        every.tick().await;
        let cutoff = Timestamp::now() - SignedDuration::from_hours(24 * i64::from(retention_days));
        match store.prune_events(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, retention_days, "old events pruned"),
            Err(e) => tracing::warn!(error = %e, "pruning old events failed"),
        }
    }
}
