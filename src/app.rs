//! Wiring: the store, the Home Assistant publisher, both HTTP listeners and the
//! background tasks, in one place.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::config::{BrokerSettings, EntitiesMode, Settings};
use crate::ha::{CoreClient, SupervisorClient};
use crate::service::publishing::{Alerting, Publisher};
use crate::service::{Service, ServiceError};
use crate::store::{Store, StoreError};
use crate::web::{AppState, ui_routes};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    #[error("cannot prepare the monitors (add-on options, ping key)")]
    Declared(#[source] ServiceError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server")]
    Server(#[source] std::io::Error),
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
        let store = Store::open_limited(&settings.database_path(), settings.database_limit_bytes)?;
        tracing::info!(path = %settings.database_path().display(), "database ready");

        let bind =
            |addr| TcpListener::bind(addr).map_err(|source| StartError::Bind { addr, source });
        let webhook_listener = bind(settings.webhook_listen)?;
        let ui_listener = bind(settings.ui_listen)?;
        let webhook_port = port_of(&webhook_listener)?;
        let ui_port = port_of(&ui_listener)?;

        let publisher = start_publisher(&settings, &store).await?;
        let store_for_starter = store.clone();
        let service = Service::new(store, publisher, Arc::clone(&settings));
        service
            .apply_declared_monitors()
            .await
            .map_err(StartError::Declared)?;
        service.ping_key().await.map_err(StartError::Declared)?;
        let starter_settings = Arc::clone(&settings);
        let starter_store = store_for_starter.clone();
        service.set_core_starter(Box::new(move |core| {
            let (settings, store) = (Arc::clone(&starter_settings), starter_store.clone());
            Box::pin(async move {
                let mut settings = (*settings).clone();
                settings.core = Some(core);
                start_publisher(&settings, &store)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot start pushing to Home Assistant");
                        Publisher::disabled()
                    })
            })
        }));
        // The connection the integration handed over at an earlier start.
        if settings.core.is_none()
            && settings.supervisor.is_none()
            && let Some((url, token)) = store_for_starter.core_link().await?
        {
            service
                .start_core(crate::config::CoreSettings { url, token })
                .await;
        }
        let state = web::Data::new(AppState {
            service,
            settings: Arc::clone(&settings),
            webhook_port,
            address: Default::default(),
        });

        let (webhook_server, ui_server) = serve(&state, webhook_listener, ui_listener)?;

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

        tokio::spawn(prune_old_events(state.clone()));
        tokio::spawn(follow_home_assistant_backups(state.clone()));
        if let Some(heartbeat) = settings.options.heartbeat.clone() {
            let state = state.clone();
            tokio::spawn(async move {
                crate::service::send_heartbeats(&state.service, heartbeat).await
            });
        }
        if settings.supervisor.is_none()
            && settings.webhook_listen.ip().is_unspecified()
            && let Some(lan) = lan_address()
        {
            // A local run listening on every interface: backup tools on other machines
            // reach it at the LAN address, not at the 127.0.0.1 the browser used.
            tracing::info!(host = %lan, "webhook URLs use this machine's LAN address");
            let mut address = state.address.write().unwrap_or_else(|p| p.into_inner());
            address.host = Some(lan.to_string());
        }
        if settings.supervisor.is_some() || settings.core.is_some() {
            let client =
                SupervisorClient::new(settings.supervisor.as_ref(), settings.core.as_ref());
            tokio::spawn(refresh_webhook_address(client, state.clone()));
        }
        if settings.supervisor.is_some() {
            let client = SupervisorClient::new(settings.supervisor.as_ref(), None);
            tokio::spawn(announce_to_home_assistant(client, state.clone()));
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

/// Starts publishing to Home Assistant: MQTT discovery or REST states, as the settings and
/// what Core has say; nothing without a Core to push to.
async fn start_publisher(settings: &Settings, store: &Store) -> Result<Publisher, StartError> {
    let publisher = match &settings.core {
        Some(core) => {
            tracing::info!(core = %core.url, "Home Assistant updates enabled");
            // The add-on's slug, asked once: the MQTT device page and the notifications
            // link to the panel with it.
            let addon_slug = SupervisorClient::new(settings.supervisor.as_ref(), None)
                .own_slug()
                .await;
            let mqtt = match choose_broker(settings).await {
                Some(broker) => Some(crate::ha::MqttSetup {
                    broker,
                    addon_slug: addon_slug.clone(),
                    install: store.install_id().await?,
                }),
                None => None,
            };
            let panel = addon_slug.map(|slug| {
                format!("https://my.home-assistant.io/redirect/supervisor_ingress/?addon={slug}")
            });
            let alerting = Alerting {
                zone: settings.options.timezone.clone(),
                notify: settings.options.problem_notifications,
                panel,
            };
            Publisher::start(
                store.clone(),
                CoreClient::new(core),
                core,
                settings.reconcile_every,
                mqtt,
                alerting,
            )
        }
        None => {
            tracing::warn!(
                "Home Assistant updates are off: no SUPERVISOR_TOKEN and no KOPIA_WEBHOOK_CORE_URL/KOPIA_WEBHOOK_CORE_TOKEN; webhooks are stored and shown in the panel only"
            );
            Publisher::disabled()
        }
    };
    Ok(publisher)
}

/// Both HTTP servers on their listeners: the webhook port, and the panel.
fn serve(
    state: &web::Data<AppState>,
    webhook_listener: TcpListener,
    ui_listener: TcpListener,
) -> Result<(Server, Server), StartError> {
    let webhook_server =
        crate::web::serve_webhooks(state.clone(), webhook_listener, worker_count())
            .map_err(StartError::Server)?;

    let ui_state = state.clone();
    let ui_server =
        HttpServer::new(move || App::new().app_data(ui_state.clone()).configure(ui_routes))
            .workers(1)
            // Open pages keep a long poll waiting (`/api/changes`); a stop need not wait
            // for them as it waits for webhooks in flight.
            .shutdown_timeout(1)
            .listen(ui_listener)
            .map_err(StartError::Server)?
            .run();
    Ok((webhook_server, ui_server))
}

/// The broker for MQTT discovery, as the `entities` option asks: `KOPIA_WEBHOOK_MQTT_URL`,
/// else the one the Supervisor offers.
async fn choose_broker(settings: &Settings) -> Option<BrokerSettings> {
    if settings.options.entities == EntitiesMode::Rest {
        tracing::info!(
            "entities through Home Assistant's REST API (the entities option says rest)"
        );
        return None;
    }
    let supervisor = SupervisorClient::new(settings.supervisor.as_ref(), None);
    let broker = match settings.mqtt.clone() {
        Some(broker) => Some(broker),
        None => supervisor.mqtt_broker().await,
    };
    match broker {
        Some(broker) if settings.options.entities == EntitiesMode::Mqtt => Some(broker),
        Some(broker) => match mqtt_works_for(&broker, settings).await {
            Ok(()) => Some(broker),
            Err(why) => {
                tracing::warn!(%why, "entities through Home Assistant's REST API, not MQTT");
                None
            }
        },
        None if settings.options.entities == EntitiesMode::Mqtt => {
            tracing::error!(
                "the entities option says mqtt, but there is no MQTT broker: install and start the Mosquitto app, then restart this add-on; until then entities go through the REST API"
            );
            None
        }
        None => {
            tracing::info!(
                "no MQTT broker: entities through Home Assistant's REST API (install the Mosquitto app for entities with unique IDs and a device per monitor)"
            );
            None
        }
    }
}

/// The oldest Core whose MQTT discovery reads what this add-on sends: device discovery
/// (`cmps`) and `default_entity_id` (2025.10). config.yaml's `homeassistant:` says the same.
const OLDEST_CORE_FOR_MQTT: (u32, u32) = (2025, 10);

/// Whether `entities: auto` may take this broker: the add-on speaks it (no TLS), and Core
/// has the MQTT integration loaded and is new enough. Otherwise the REST states stay: MQTT
/// entities Core never reads would make every entity vanish.
async fn mqtt_works_for(broker: &BrokerSettings, settings: &Settings) -> Result<(), String> {
    if broker.tls {
        return Err(format!(
            "the broker at {}:{} asks for TLS, which this add-on does not speak",
            broker.host, broker.port
        ));
    }
    let Some(core) = &settings.core else {
        return Ok(());
    };
    let client = CoreClient::new(core);
    let mut last_error = String::new();
    // Core may be starting with the add-on: a few short tries.
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(attempt)).await;
        }
        match tokio::time::timeout(Duration::from_secs(3), client.config()).await {
            Ok(Ok(config)) => {
                if !config.components.iter().any(|c| c == "mqtt") {
                    return Err("Home Assistant has no MQTT integration set up (Settings → Devices & services: add MQTT, then restart this add-on)".to_owned());
                }
                return match config.release() {
                    Some(release) if release >= OLDEST_CORE_FOR_MQTT => Ok(()),
                    _ => Err(format!(
                        "Home Assistant {} is older than 2025.10, whose MQTT discovery this add-on needs",
                        config.version
                    )),
                };
            }
            Ok(Err(e)) => last_error = crate::telemetry::ErrorChain(&e).to_string(),
            Err(_) => last_error = "Home Assistant did not answer within 3 s".to_owned(),
        }
    }
    Err(format!(
        "cannot ask Home Assistant whether it has MQTT set up ({last_error})"
    ))
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

/// The address of the interface that holds the default route: "connecting" a UDP socket
/// sends nothing, it only asks the kernel which source address it would use.
fn lan_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The LAN address and port mapping can change (DHCP, the Network settings); look again
/// every ten minutes.
async fn refresh_webhook_address(client: SupervisorClient, state: web::Data<AppState>) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    loop {
        every.tick().await;
        let mut address = client
            .webhook_address(crate::config::ADDON_WEBHOOK_PORT)
            .await;
        let mut current = state.address.write().unwrap_or_else(|p| p.into_inner());
        // Nothing better found (no Supervisor, a Core without internal_url): keep the LAN
        // address a local run found at start.
        if address.host.is_none() {
            address.host.clone_from(&current.host);
        }
        if *current != address {
            tracing::info!(host = ?address.host, port = ?address.port, "webhook address for the panel");
            *current = address;
        }
    }
}

/// Supervisor discovery: Home Assistant shows the integration as discovered, with the address
/// and key to reach the add-on; announced again when the key changes (Core then updates the
/// integration's entry). Retried while the Supervisor does not take it.
async fn announce_to_home_assistant(client: SupervisorClient, state: web::Data<AppState>) {
    let mut announced: Option<String> = None;
    let mut version = state.service.next_change(u64::MAX, Duration::ZERO).await;
    let mut retry = Duration::from_secs(10);
    loop {
        let key = match state.service.integration_key().await {
            Ok(key) => key,
            Err(e) => {
                tracing::error!(error = %crate::telemetry::ErrorChain(&e), "cannot read the integration key");
                return;
            }
        };
        if announced.as_deref() != Some(key.as_str()) {
            let Some(host) = client.own_hostname().await else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(600));
                continue;
            };
            let config = serde_json::json!({
                "host": host,
                "port": crate::config::ADDON_WEBHOOK_PORT,
                "key": key.as_str(),
            });
            if client.announce("kopia_webhook", &config).await {
                tracing::info!(
                    host,
                    "announced to Home Assistant: the integration can be added in one click"
                );
                announced = Some(key.as_str().to_owned());
                retry = Duration::from_secs(10);
            } else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(600));
                continue;
            }
        }
        version = state
            .service
            .next_change(version, Duration::from_secs(3600))
            .await;
        if state.service.is_stopping() {
            return;
        }
    }
}

/// Deletes old events a minute after start and then every six hours, in short
/// transactions so webhooks are never held up for long.
/// Home Assistant's own backups, followed over the websocket of whichever Core the add-on
/// talks to (its own settings', or the one the integration hands over, which may change).
async fn follow_home_assistant_backups(state: web::Data<AppState>) {
    let mut changes = state.service.core_changes();
    loop {
        let core = changes.borrow_and_update().clone();
        let following = core.as_ref().and_then(|core| {
            let url = crate::ha::watch::websocket_url(&core.url)?;
            let state = state.clone();
            Some(tokio::spawn(crate::ha::backups::follow_core_backups(
                url,
                core.token.clone(),
                move |news| {
                    let state = state.clone();
                    async move { state.service.core_backup_news(news).await }
                },
            )))
        });
        let changed = changes.changed().await;
        if let Some(following) = following {
            following.abort();
        }
        if changed.is_err() {
            return;
        }
    }
}

async fn prune_old_events(state: web::Data<AppState>) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut every = tokio::time::interval(Duration::from_secs(6 * 3600));
    loop {
        every.tick().await;
        state.service.prune_old_events().await;
    }
}
