use std::process::ExitCode;

use kopia_webhook::app::Application;
use kopia_webhook::config::Settings;
use kopia_webhook::telemetry;

const USAGE: &str = "usage: kopia-webhook [snapshot]
  (no argument)  run the add-on
  snapshot       write a consistent copy of the database for a Home Assistant backup";

#[tokio::main]
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
