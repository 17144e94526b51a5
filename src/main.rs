use std::process::ExitCode;

use kopia_webhook::app::Application;
use kopia_webhook::config::Settings;
use kopia_webhook::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            telemetry::init("info");
            tracing::error!("configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(settings.options.tracing_filter());
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("cannot start: {e}");
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
