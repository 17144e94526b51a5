//! Forms that change monitors. Every one works without JavaScript and stays under the
//! ingress prefix; destructive ones (rotate, delete) ask first on a page of their own.

use actix_web::{HttpResponse, web};
use askama::Template;
use base64::Engine as _;
use serde::Deserialize;

use super::{html, see_other};
use crate::domain::{HistoryLimit, Monitor, NoSuccessAlert, Origin, ShrinkRule};
use crate::service::MonitorFields;
use crate::web::{ApiError, AppState, Layout, PageError, api};

/// The fields of the new-monitor and edit forms, as typed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MonitorForm {
    name: String,
    webhook_id: String,
    history_limit: String,
    schedule: String,
    /// The zone a cron schedule runs in; empty: the add-on's.
    schedule_tz: String,
    grace: String,
    shrink_percent: String,
    shrink_runs: String,
    no_success_after: String,
    /// `on` when ticked (an unticked box is not sent).
    unusual_durations: String,
    /// The maintenance window's start (cron) and length; both empty: none.
    maintenance_cron: String,
    maintenance_for: String,
    /// `7d`, or empty for none.
    not_verified_after: String,
    /// `keep`, `generate`, `set` or `remove` (edit); `generate` or `set` (new).
    secret_action: String,
    secret: String,
}

impl MonitorForm {
    /// The maintenance window as the API takes it (`null`: none), in the schedule's zone.
    fn maintenance(&self) -> serde_json::Value {
        let cron = self.maintenance_cron.trim();
        if cron.is_empty() && self.maintenance_for.trim().is_empty() {
            return serde_json::Value::Null;
        }
        let zone = Some(self.schedule_tz.trim()).filter(|z| !z.is_empty());
        serde_json::json!({ "cron": cron, "for": self.maintenance_for.trim(), "tz": zone })
    }

    /// The schedule as the API takes it: a cron expression keeps its time zone.
    fn schedule(&self) -> serde_json::Value {
        let text = self.schedule.trim();
        let zone = self.schedule_tz.trim();
        if text.split_whitespace().count() >= 3 && !zone.is_empty() {
            serde_json::json!({ "cron": text, "tz": zone })
        } else {
            serde_json::Value::String(text.to_owned())
        }
    }

    fn history_limit(&self) -> Result<Option<i64>, ApiError> {
        number("history_limit", &self.history_limit)
    }

    /// The secret to set: `Some(None)` removes it, `None` keeps it; a generated one is new.
    fn secret(&self) -> Result<Option<Option<String>>, ApiError> {
        match self.secret_action.as_str() {
            "generate" => Ok(Some(Some(generate_secret()))),
            "remove" => Ok(Some(None)),
            "set" if self.secret.trim().is_empty() => Err(ApiError::BadRequest(
                "type the secret to set, or choose another option".into(),
            )),
            "set" => Ok(Some(Some(self.secret.trim().to_owned()))),
            _ => Ok(None),
        }
    }
}

/// An optional whole number typed into `field`.
fn number(field: &str, text: &str) -> Result<Option<i64>, ApiError> {
    match text.trim() {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{field} {text:?} is not a number"))),
    }
}

/// 192 random bits, URL-safe: easy to paste into any tool's header or secret field.
fn generate_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Template)]
#[template(path = "monitor_form.html")]
struct MonitorFormPage {
    layout: Layout,
    /// `None`: a new monitor.
    key: Option<String>,
    error: Option<String>,
    form: MonitorForm,
    has_secret: bool,
    timezone: String,
    min_limit: i64,
    max_limit: i64,
    min_shrink_runs: i64,
    max_shrink_runs: i64,
}

impl MonitorFormPage {
    fn new(layout: &Layout, state: &AppState, key: Option<String>, form: MonitorForm) -> Self {
        Self {
            layout: layout.clone(),
            key,
            error: None,
            form,
            has_secret: false,
            timezone: state.settings.options.timezone_name.clone(),
            min_limit: HistoryLimit::MIN,
            max_limit: HistoryLimit::MAX,
            min_shrink_runs: ShrinkRule::MIN_RUNS,
            max_shrink_runs: ShrinkRule::MAX_RUNS,
        }
    }

    fn with_error(mut self, error: String) -> Self {
        self.error = Some(error);
        self
    }

    fn render_bad_request(&self) -> Result<HttpResponse, PageError> {
        let body = self.render().map_err(|e| PageError::new(&self.layout, e))?;
        Ok(HttpResponse::BadRequest()
            .content_type("text/html; charset=utf-8")
            .body(body))
    }
}

/// Shown once after a secret was generated: it is not displayed anywhere again.
#[derive(Template)]
#[template(path = "secret.html")]
struct SecretPage {
    layout: Layout,
    key: String,
    name: String,
    secret: String,
}

pub async fn new_monitor_form(
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let form = MonitorForm {
        history_limit: state.settings.options.history_limit.get().to_string(),
        shrink_percent: ShrinkRule::DEFAULT.percent().to_string(),
        shrink_runs: ShrinkRule::DEFAULT.runs().to_string(),
        no_success_after: NoSuccessAlert::Auto.to_text(),
        unusual_durations: "on".into(),
        ..MonitorForm::default()
    };
    html(&MonitorFormPage::new(&layout, &state, None, form), &layout)
}

/// Creates the monitor and goes to its page; a mistake shows the form again with the reason.
pub async fn create_monitor(
    layout: Layout,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: MonitorForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let result = async {
        let secret = form.secret()?.flatten();
        let fields = MonitorFields {
            name: Some(form.name.clone()),
            webhook_id: Some(form.webhook_id.clone()),
            history_limit: form.history_limit()?,
            secret: secret.clone().map(serde_json::Value::String),
            schedule: Some(form.schedule()),
            grace: Some(form.grace.clone()),
            shrink_percent: number("shrink_percent", &form.shrink_percent)?,
            shrink_runs: number("shrink_runs", &form.shrink_runs)?,
            no_success_after: Some(form.no_success_after.clone()),
            unusual_durations: Some(form.unusual_durations == "on"),
            maintenance: Some(form.maintenance()),
            not_verified_after: Some(form.not_verified_after.clone()),
        };
        let new = fields.parse(&state.settings.options.timezone_name)?;
        Ok::<_, ApiError>((state.service.create_monitor(new).await?, secret))
    }
    .await;
    match result {
        Ok((monitor, secret)) => Ok(after_save(
            &layout,
            &monitor,
            secret.filter(|_| form.secret_action == "generate"),
        )?),
        Err(ApiError::BadRequest(reason) | ApiError::Conflict(reason)) => {
            MonitorFormPage::new(&layout, &state, None, form)
                .with_error(reason)
                .render_bad_request()
        }
        Err(other) => Err(PageError::new(&layout, other)),
    }
}

fn after_save(
    layout: &Layout,
    monitor: &Monitor,
    generated: Option<String>,
) -> Result<HttpResponse, PageError> {
    match generated {
        Some(secret) => html(
            &SecretPage {
                layout: layout.clone(),
                key: monitor.key.to_string(),
                name: monitor.name.as_str().to_owned(),
                secret,
            },
            layout,
        ),
        None => Ok(see_other(layout, &format!("monitors/{}", monitor.key))),
    }
}

async fn editable(state: &AppState, layout: &Layout, key: &str) -> Result<Monitor, PageError> {
    let monitor = api::find(state, key)
        .await
        .map_err(|e| PageError::new(layout, e))?;
    if monitor.origin == Origin::Options {
        return Err(PageError::new(
            layout,
            ApiError::Conflict(
                "this monitor is declared in the add-on options; change it there".into(),
            ),
        ));
    }
    Ok(monitor)
}

pub async fn edit_form(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    let form = MonitorForm {
        name: monitor.name.as_str().to_owned(),
        history_limit: monitor.history_limit.get().to_string(),
        schedule: monitor
            .schedule
            .as_ref()
            .map(schedule_text)
            .unwrap_or_default(),
        schedule_tz: monitor
            .schedule
            .as_ref()
            .and_then(|s| s.to_json()["tz"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        grace: monitor.grace.to_string(),
        shrink_percent: monitor.shrink.percent().to_string(),
        shrink_runs: monitor.shrink.runs().to_string(),
        no_success_after: monitor.no_success.to_text(),
        unusual_durations: if monitor.unusual_durations { "on" } else { "" }.into(),
        maintenance_cron: window_json(&monitor, "cron"),
        maintenance_for: window_json(&monitor, "for"),
        not_verified_after: monitor
            .not_verified_after
            .map(crate::domain::format_period)
            .unwrap_or_default(),
        secret_action: "keep".into(),
        ..MonitorForm::default()
    };
    let mut page = MonitorFormPage::new(&layout, &state, Some(monitor.key.to_string()), form);
    page.has_secret = monitor.secret.is_some();
    html(&page, &layout)
}

/// A field of the monitor's maintenance window, for the edit form.
fn window_json(monitor: &crate::domain::Monitor, field: &str) -> String {
    monitor
        .pause
        .window
        .as_ref()
        .and_then(|w| w.to_json()[field].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The short form the edit field takes back: `1d`, or the cron expression.
pub(super) fn schedule_text(schedule: &crate::domain::Schedule) -> String {
    let json = schedule.to_json();
    json["every"]
        .as_str()
        .or_else(|| json["cron"].as_str())
        .unwrap_or_default()
        .to_owned()
}

pub async fn save_edit(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    let form: MonitorForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let result = async {
        let secret = form.secret()?;
        let fields = MonitorFields {
            name: Some(form.name.clone()),
            webhook_id: None,
            history_limit: form.history_limit()?,
            secret: secret
                .clone()
                .map(|s| s.map_or(serde_json::Value::Null, serde_json::Value::String)),
            schedule: Some(form.schedule()),
            grace: Some(form.grace.clone()).filter(|g| !g.trim().is_empty()),
            shrink_percent: number("shrink_percent", &form.shrink_percent)?,
            shrink_runs: number("shrink_runs", &form.shrink_runs)?,
            no_success_after: Some(form.no_success_after.clone()),
            unusual_durations: Some(form.unusual_durations == "on"),
            maintenance: Some(form.maintenance()),
            not_verified_after: Some(form.not_verified_after.clone()),
        };
        Ok::<_, ApiError>((
            state
                .service
                .update_monitor(
                    &monitor,
                    fields.parse(&state.settings.options.timezone_name)?,
                )
                .await?,
            secret.flatten(),
        ))
    }
    .await;
    match result {
        Ok((updated, secret)) => after_save(
            &layout,
            &updated,
            secret.filter(|_| form.secret_action == "generate"),
        ),
        Err(ApiError::BadRequest(reason) | ApiError::Conflict(reason)) => {
            let mut page =
                MonitorFormPage::new(&layout, &state, Some(monitor.key.to_string()), form);
            page.has_secret = monitor.secret.is_some();
            page.with_error(reason).render_bad_request()
        }
        Err(other) => Err(PageError::new(&layout, other)),
    }
}

/// A page that asks before something that cannot be undone.
#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    layout: Layout,
    title: String,
    message: String,
    action: String,
    button: &'static str,
    back: String,
}

pub async fn confirm_rotate(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    let title = format!("New webhook URL for {}?", monitor.name.as_str());
    let message = "The current URL stops working at once. Every backup tool that uses it must get the new one.";
    confirm(
        &layout,
        &monitor,
        title,
        message,
        "rotate",
        "Make a new URL",
    )
}

pub async fn rotate_webhook_id(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    state
        .service
        .rotate_webhook_id(&monitor)
        .await
        .map_err(layout.fail())?;
    Ok(see_other(
        &layout,
        &format!("monitors/{}?notice=rotated", monitor.key),
    ))
}

pub async fn confirm_delete(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    let title = format!("Delete {}?", monitor.name.as_str());
    let message = "Its history is deleted, its webhook URL stops working and its entities are removed from Home Assistant.";
    confirm(&layout, &monitor, title, message, "delete", "Delete")
}

/// Asks before `action` (a path under the monitor) on a page of its own.
fn confirm(
    layout: &Layout,
    monitor: &Monitor,
    title: String,
    message: &str,
    action: &str,
    button: &'static str,
) -> Result<HttpResponse, PageError> {
    let page = ConfirmPage {
        layout: layout.clone(),
        title,
        message: message.to_owned(),
        action: format!("monitors/{}/{action}", monitor.key),
        button,
        back: format!("monitors/{}", monitor.key),
    };
    html(&page, layout)
}

pub async fn delete_monitor(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = editable(&state, &layout, &key).await?;
    state
        .service
        .delete_monitor(&monitor)
        .await
        .map_err(layout.fail())?;
    Ok(see_other(&layout, ""))
}

/// Stores a test event as if a backup tool had sent one, and says whether it went on to
/// Home Assistant.
pub async fn send_test_event(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = api::find(&state, &key).await.map_err(layout.fail())?;
    let outcome = state
        .service
        .send_test_event(&monitor)
        .await
        .map_err(layout.fail())?;
    let notice = if outcome.sent_to_home_assistant {
        "test"
    } else {
        "test-stored"
    };
    Ok(see_other(
        &layout,
        &format!("monitors/{}?notice={notice}", monitor.key),
    ))
}

#[derive(Debug, Deserialize)]
pub struct RetireForm {
    #[serde(default)]
    source: String,
}

/// Forgets a source that is no longer backed up (its history stays).
pub async fn retire_source(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
    form: web::Form<RetireForm>,
) -> Result<HttpResponse, PageError> {
    let monitor = api::find(&state, &key).await.map_err(layout.fail())?;
    let source = Some(form.source.as_str()).filter(|s| !s.is_empty());
    state
        .service
        .retire_source(&monitor, source)
        .await
        .map_err(layout.fail())?;
    Ok(see_other(
        &layout,
        &format!("monitors/{}?notice=retired", monitor.key),
    ))
}

/// The pause form: a period, or empty to resume.
#[derive(Debug, Deserialize)]
pub struct PauseForm {
    #[serde(rename = "for", default)]
    for_: String,
}

/// Pauses the monitor for the chosen period, or resumes it.
pub async fn pause_monitor(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
    form: web::Form<PauseForm>,
) -> Result<HttpResponse, PageError> {
    let monitor = api::find(&state, &key).await.map_err(layout.fail())?;
    let until = match form.for_.trim() {
        "" => None,
        period => Some(
            api::PauseBody {
                for_: Some(period.to_owned()),
                until: None,
            }
            .until()
            .map_err(layout.fail())?,
        ),
    };
    state
        .service
        .pause_monitor(&monitor, until)
        .await
        .map_err(layout.fail())?;
    let notice = if until.is_some() { "paused" } else { "resumed" };
    Ok(see_other(
        &layout,
        &format!("monitors/{}?notice={notice}", monitor.key),
    ))
}

/// Applies the schedule the monitor's history shows ("daily around 03:00").
pub async fn apply_learned_schedule(
    layout: Layout,
    state: web::Data<AppState>,
    key: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let monitor = api::find(&state, &key).await.map_err(layout.fail())?;
    state
        .service
        .apply_learned_schedule(&monitor)
        .await
        .map_err(layout.fail())?;
    Ok(see_other(
        &layout,
        &format!("monitors/{}?notice=scheduled", monitor.key),
    ))
}

pub async fn confirm_rotate_ping_key(layout: Layout) -> Result<HttpResponse, PageError> {
    let page = ConfirmPage {
        layout: layout.clone(),
        title: "Make a new ping key?".into(),
        message: "Every URL with the current ping key stops working at once: each backup tool that uses one needs the new URL. Monitors and their webhook URLs stay as they are.".into(),
        action: "ping-key/rotate".into(),
        button: "Make a new ping key",
        back: String::new(),
    };
    html(&page, &layout)
}

pub async fn rotate_ping_key(
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    state
        .service
        .rotate_ping_key()
        .await
        .map_err(layout.fail())?;
    Ok(see_other(&layout, ""))
}

pub async fn confirm_rotate_integration_key(layout: Layout) -> Result<HttpResponse, PageError> {
    let page = ConfirmPage {
        layout: layout.clone(),
        title: "Make a new integration key?".into(),
        message: "The Kopia Webhook Status integration stops relaying reports until it has the new key. With the Supervisor, Home Assistant is given the new key by itself; otherwise reconfigure the integration with it (Settings → Devices & services → Kopia Webhook Status → Reconfigure).".into(),
        action: "integration-key/rotate".into(),
        button: "Make a new key",
        back: String::new(),
    };
    html(&page, &layout)
}

pub async fn rotate_integration_key(
    layout: Layout,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    state
        .service
        .rotate_integration_key()
        .await
        .map_err(layout.fail())?;
    Ok(see_other(&layout, ""))
}
