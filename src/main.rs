use std::process::ExitCode;

use kopia_webhook::app::Application;
use kopia_webhook::config::Settings;
use kopia_webhook::telemetry;

const USAGE: &str = "usage: kopia-webhook [snapshot | integration-key]
  (no argument)    run the add-on
  snapshot         write a consistent copy of the database for a Home Assistant backup
  integration-key  print the key the Home Assistant integration is set up with
                   (docker exec kopia-webhook kopia-webhook integration-key)";

// One thread for the async side (Core's connections, the evaluator, the outbox, MQTT): a
// home's reports leave it idle nearly always, and a thread fewer (two on a two-core machine,
// more on larger ones) is 0.3 MiB less resident memory. HTTP is served on actix's own worker
// threads, SQLite on the writer thread and the blocking pool.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            telemetry::init("info");
            tracing::error!("configuration error: {}", telemetry::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.options.tracing_filter());
    for problem in &settings.options.problems {
        tracing::error!("{problem}");
    }
    match command.as_deref() {
        None => {}
        Some("snapshot") => return snapshot(&settings),
        Some("integration-key") => return integration_key(&settings).await,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {}", telemetry::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stopped with an error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `backup_pre`: the Supervisor runs this inside the container before a backup.
fn snapshot(settings: &Settings) -> ExitCode {
    match kopia_webhook::store::snapshot(&settings.database_path(), &settings.snapshot_path()) {
        Ok(()) => {
            tracing::info!(path = %settings.snapshot_path().display(), "database snapshot written for the backup");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(
                "cannot write the database snapshot: {}",
                telemetry::ErrorChain(&e)
            );
            ExitCode::FAILURE
        }
    }
}

/// Prints the integration key on standard output (never in the log): what a user of Home
/// Assistant Container pastes into the integration's set-up, as the panel shows it.
async fn integration_key(settings: &Settings) -> ExitCode {
    let store = match kopia_webhook::store::Store::open(&settings.database_path()) {
        Ok(store) => store,
        Err(e) => {
            tracing::error!("cannot open the database: {}", telemetry::ErrorChain(&e));
            return ExitCode::FAILURE;
        }
    };
    match store.integration_key().await {
        Ok(key) => {
            println!("{}", key.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(
                "cannot read the integration key: {}",
                telemetry::ErrorChain(&e)
            );
            ExitCode::FAILURE
        }
    }
}
