use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use secrecy::{ExposeSecret, SecretString};

use super::{Store, StoreError, from_ms, to_ms};
use crate::domain::{
    Grace, HistoryLimit, MaintenanceWindow, Monitor, MonitorChanges, MonitorKey, MonitorName,
    NewMonitor, NoSuccessAlert, Origin, Pause, Schedule, ShrinkRule, Slug, WebhookId,
    format_period, parse_period,
};

/// The slug itself if free, else the first free `slug_2`, `slug_3`…
fn free_key(conn: &Connection, base: &MonitorKey) -> Result<MonitorKey, StoreError> {
    let mut key = base.clone();
    let mut n = 2;
    while key.is_reserved()
        || conn
            .query_row(
                "SELECT 1 FROM monitors WHERE key = ?1",
                [key.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some()
    {
        key = base.with_suffix(n);
        n += 1;
    }
    Ok(key)
}

fn insert_monitor(
    conn: &Connection,
    key: &MonitorKey,
    new: &NewMonitor,
    origin: Origin,
    now: Timestamp,
) -> Result<i64, StoreError> {
    // IDs come from a counter, never reused after a delete.
    let id: i64 = conn
        .prepare_cached(
            "UPDATE counters SET value = MAX(value, (SELECT COALESCE(MAX(id), 0) FROM monitors)) + 1
             WHERE name = 'monitor' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    let slug = new.slug.clone().unwrap_or_else(|| Slug::of_key(key));
    let slug_taken = conn
        .prepare_cached("SELECT name FROM monitors WHERE slug = ?1")?
        .query_row([slug.as_str()], |r| r.get::<_, String>(0))
        .optional()?;
    if let Some(other) = slug_taken {
        return Err(StoreError::Conflict(format!(
            "the slug {slug} already belongs to the monitor {other:?}; choose another name"
        )));
    }
    conn.execute(
        "INSERT INTO monitors (id, key, name, webhook_id, secret, history_limit, origin, created_at, schedule, grace_s,
             slug, unseen, shrink_percent, shrink_runs, no_success_after, unusual_durations, maintenance,
             not_verified_after)
         VALUES (?10, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            key.as_str(),
            new.name.as_str(),
            new.webhook_id.as_str(),
            new.secret.as_ref().map(|s| s.expose_secret().to_owned()),
            new.history_limit.get() as i64,
            origin.as_str(),
            to_ms(now),
            schedule_json(new.schedule.as_ref()),
            new.grace.as_secs(),
            id,
            slug.as_str(),
            new.unseen,
            new.shrink.percent(),
            new.shrink.runs(),
            new.no_success.to_text(),
            new.unusual_durations,
            maintenance_json(new.maintenance.as_ref()),
            new.not_verified_after.map(format_period),
        ],
    )?;
    Ok(id)
}

fn maintenance_json(window: Option<&MaintenanceWindow>) -> Option<String> {
    window.map(|w| w.to_json().to_string())
}

const COLUMNS: &str = "id, key, name, webhook_id, secret, history_limit, origin, created_at, schedule, grace_s, \
                       slug, unseen, shrink_percent, shrink_runs, no_success_after, unusual_durations, \
                       paused_until, maintenance, not_verified_after";

fn schedule_json(schedule: Option<&Schedule>) -> Option<String> {
    schedule.map(|s| s.to_json().to_string())
}

fn monitor_from_row(row: &Row<'_>) -> Result<Monitor, StoreError> {
    let corrupt = |e: crate::domain::ParseError| StoreError::Corrupt(e.0);
    let origin: String = row.get(6)?;
    Ok(Monitor {
        id: row.get(0)?,
        key: MonitorKey::parse(&row.get::<_, String>(1)?).map_err(corrupt)?,
        name: MonitorName::parse(&row.get::<_, String>(2)?).map_err(corrupt)?,
        webhook_id: WebhookId::existing(&row.get::<_, String>(3)?).map_err(corrupt)?,
        secret: row.get::<_, Option<String>>(4)?.map(SecretString::from),
        history_limit: HistoryLimit::parse(row.get(5)?).map_err(corrupt)?,
        origin: if origin == "options" {
            Origin::Options
        } else {
            Origin::Ui
        },
        created_at: from_ms(row.get(7)?)?,
        schedule: row
            .get::<_, Option<String>>(8)?
            .map(|text| {
                let value =
                    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Schedule::from_json(&value, "UTC").map_err(corrupt)
            })
            .transpose()?,
        grace: Grace::from_secs(row.get(9)?).map_err(corrupt)?,
        slug: Slug::parse(&row.get::<_, String>(10)?).map_err(corrupt)?,
        unseen: row.get(11)?,
        shrink: ShrinkRule::new(row.get(12)?, row.get(13)?).map_err(corrupt)?,
        no_success: NoSuccessAlert::parse(&row.get::<_, String>(14)?).map_err(corrupt)?,
        unusual_durations: row.get(15)?,
        pause: Pause {
            until: row.get::<_, Option<i64>>(16)?.map(from_ms).transpose()?,
            window: row
                .get::<_, Option<String>>(17)?
                .map(|text| {
                    let value = serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    MaintenanceWindow::from_json(&value).map_err(corrupt)
                })
                .transpose()?,
        },
        not_verified_after: row
            .get::<_, Option<String>>(18)?
            .map(|text| parse_period(&text, "not_verified_after").map_err(corrupt))
            .transpose()?,
    })
}

fn query_monitors(
    conn: &Connection,
    filter: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Monitor>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM monitors {filter} ORDER BY name COLLATE NOCASE, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params)?;
    let mut monitors = Vec::new();
    while let Some(row) = rows.next()? {
        monitors.push(monitor_from_row(row)?);
    }
    Ok(monitors)
}

impl Store {
    /// Creates a monitor; its key is the slug of its name, suffixed `_2`, `_3`… when taken.
    pub async fn create_monitor(
        &self,
        new: NewMonitor,
        origin: Origin,
    ) -> Result<Monitor, StoreError> {
        let now = Timestamp::now();
        self.write_monitors(move |conn| {
            let taken: bool = conn
                .query_row("SELECT 1 FROM monitors WHERE webhook_id = ?1", [new.webhook_id.as_str()], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            if taken {
                return Err(StoreError::Conflict(
                    "that webhook ID is already used by another monitor; choose another or leave it empty".into(),
                ));
            }
            // Two monitors with one name (or names that differ only in case and punctuation)
            // would be told apart only by a silent `_2` in their entity IDs.
            let mut key = MonitorKey::from_name(&new.name);
            if key.is_reserved() {
                // "Backups": `sensor.kopia_backups` is the add-on's overview.
                key = free_key(conn, &key)?;
            }
            if let Some(existing) = conn
                .query_row("SELECT name FROM monitors WHERE key = ?1", [key.as_str()], |r| {
                    r.get::<_, String>(0)
                })
                .optional()?
            {
                return Err(StoreError::Conflict(format!(
                    "there is already a monitor called {existing:?} (its entities are sensor.kopia_{key}…); choose another name"
                )));
            }
            let id = insert_monitor(conn, &key, &new, origin, now)?;
            Ok(Monitor {
                id,
                slug: new.slug.clone().unwrap_or_else(|| Slug::of_key(&key)),
                unseen: new.unseen,
                key,
                name: new.name,
                webhook_id: new.webhook_id,
                secret: new.secret,
                history_limit: new.history_limit,
                origin,
                created_at: now,
                schedule: new.schedule,
                grace: new.grace,
                shrink: new.shrink,
                no_success: new.no_success,
                unusual_durations: new.unusual_durations,
                pause: Pause::default(),
                not_verified_after: None,
            })
        })
        .await
    }

    /// Makes the store match the monitors declared in the add-on options: each is created,
    /// or updated in place (found by its webhook ID, so its key and history stay). Monitors
    /// no longer declared keep their history and become editable in the panel.
    /// Returns the keys of the declared monitors.
    pub async fn sync_declared_monitors(
        &self,
        declared: Vec<NewMonitor>,
    ) -> Result<Vec<MonitorKey>, StoreError> {
        let now = Timestamp::now();
        self.write_monitors(move |conn| {
            let mut keys = Vec::new();
            let mut ids = Vec::new();
            for new in declared {
                let existing: Option<(i64, String)> = conn
                    .query_row(
                        "SELECT id, key FROM monitors WHERE webhook_id = ?1",
                        [new.webhook_id.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let (id, key) = match existing {
                    Some((id, key)) => {
                        conn.execute(
                            "UPDATE monitors SET name = ?2, history_limit = ?3, secret = ?4, schedule = ?5,
                                 grace_s = ?6, shrink_percent = ?7, shrink_runs = ?8, no_success_after = ?9,
                                 unusual_durations = ?10, maintenance = ?11, not_verified_after = ?12,
                                 origin = 'options', entities_due = entities_due + 1
                             WHERE id = ?1",
                            params![
                                id,
                                new.name.as_str(),
                                new.history_limit.get() as i64,
                                new.secret.as_ref().map(|s| s.expose_secret().to_owned()),
                                schedule_json(new.schedule.as_ref()),
                                new.grace.as_secs(),
                                new.shrink.percent(),
                                new.shrink.runs(),
                                new.no_success.to_text(),
                                new.unusual_durations,
                                maintenance_json(new.maintenance.as_ref()),
                                new.not_verified_after.map(format_period),
                            ],
                        )?;
                        let key = MonitorKey::parse(&key).map_err(|e| StoreError::Corrupt(e.0))?;
                        (id, key)
                    }
                    None => {
                        let key = free_key(conn, &MonitorKey::from_name(&new.name))?;
                        (insert_monitor(conn, &key, &new, Origin::Options, now)?, key)
                    }
                };
                ids.push(id);
                keys.push(key);
            }
            let declared_ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
            conn.execute(
                "UPDATE monitors SET origin = 'ui' WHERE origin = 'options'
                 AND id NOT IN (SELECT value FROM json_each(?1))",
                [declared_ids],
            )?;
            Ok(keys)
        })
        .await
    }

    /// Applies an edit and returns the monitor as it now is.
    pub async fn update_monitor(
        &self,
        id: i64,
        changes: MonitorChanges,
    ) -> Result<Monitor, StoreError> {
        self.write_monitors(move |conn| {
            if let Some(webhook_id) = &changes.webhook_id {
                let taken = conn
                    .query_row(
                        "SELECT 1 FROM monitors WHERE webhook_id = ?1 AND id != ?2",
                        params![webhook_id.as_str(), id],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some();
                if taken {
                    return Err(StoreError::Conflict(
                        "that webhook ID is already used by another monitor".into(),
                    ));
                }
                conn.execute(
                    "UPDATE monitors SET webhook_id = ?2 WHERE id = ?1",
                    params![id, webhook_id.as_str()],
                )?;
            }
            if let Some(name) = &changes.name {
                let clash: Option<String> = conn
                    .query_row(
                        "SELECT name FROM monitors WHERE id != ?1 AND (name = ?2 COLLATE NOCASE OR key = ?3)",
                        params![id, name.as_str(), MonitorKey::from_name(name).as_str()],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(existing) = clash {
                    return Err(StoreError::Conflict(format!(
                        "there is already a monitor called {existing:?}; choose another name"
                    )));
                }
                conn.execute(
                    "UPDATE monitors SET name = ?2 WHERE id = ?1",
                    params![id, name.as_str()],
                )?;
            }
            if let Some(limit) = changes.history_limit {
                conn.execute(
                    "UPDATE monitors SET history_limit = ?2 WHERE id = ?1",
                    params![id, limit.get() as i64],
                )?;
            }
            if let Some(secret) = &changes.secret {
                let secret = secret.as_ref().map(|s| s.expose_secret().to_owned());
                conn.execute(
                    "UPDATE monitors SET secret = ?2 WHERE id = ?1",
                    params![id, secret],
                )?;
            }
            if let Some(schedule) = &changes.schedule {
                conn.execute(
                    "UPDATE monitors SET schedule = ?2 WHERE id = ?1",
                    params![id, schedule_json(schedule.as_ref())],
                )?;
            }
            if let Some(grace) = changes.grace {
                conn.execute(
                    "UPDATE monitors SET grace_s = ?2 WHERE id = ?1",
                    params![id, grace.as_secs()],
                )?;
            }
            if let Some(shrink) = changes.shrink {
                conn.execute(
                    "UPDATE monitors SET shrink_percent = ?2, shrink_runs = ?3 WHERE id = ?1",
                    params![id, shrink.percent(), shrink.runs()],
                )?;
            }
            if let Some(on) = changes.unusual_durations {
                conn.execute(
                    "UPDATE monitors SET unusual_durations = ?2 WHERE id = ?1",
                    params![id, on],
                )?;
            }
            if let Some(until) = changes.paused_until {
                conn.execute(
                    "UPDATE monitors SET paused_until = ?2 WHERE id = ?1",
                    params![id, until.map(to_ms)],
                )?;
            }
            if let Some(window) = &changes.maintenance {
                conn.execute(
                    "UPDATE monitors SET maintenance = ?2 WHERE id = ?1",
                    params![id, maintenance_json(window.as_ref())],
                )?;
            }
            if let Some(after) = changes.not_verified_after {
                conn.execute(
                    "UPDATE monitors SET not_verified_after = ?2 WHERE id = ?1",
                    params![id, after.map(format_period)],
                )?;
            }
            if let Some(no_success) = changes.no_success {
                conn.execute(
                    "UPDATE monitors SET no_success_after = ?2 WHERE id = ?1",
                    params![id, no_success.to_text()],
                )?;
            }
            conn.execute(
                "UPDATE monitors SET entities_due = entities_due + 1 WHERE id = ?1",
                [id],
            )?;
            query_monitors(conn, "WHERE id = ?1", &[&id])?
                .pop()
                .ok_or_else(|| StoreError::Conflict("the monitor was deleted meanwhile".into()))
        })
        .await
    }

    /// Deletes a monitor and its history; its Home Assistant entities are queued for removal.
    pub async fn delete_monitor(&self, id: i64) -> Result<(), StoreError> {
        self.write_monitors(move |conn| {
            // Every entity is removed from Core, even one not marked pushed: a push answered
            // after Core was last seen forgetting (see the epoch) may still have reached it.
            conn.execute(
                "UPDATE entities SET desired = NULL, attempts = 0, next_attempt_at = 0, monitor_id = NULL
                 WHERE monitor_id = ?1",
                [id],
            )?;
            conn.execute(
                "UPDATE notifications SET want_status = NULL, attempts = 0, next_attempt_at = 0
                 WHERE monitor_id = ?1",
                [id],
            )?;
            conn.execute("DELETE FROM monitors WHERE id = ?1", [id])?;
            super::outbox::cursor_after_deletion(conn)?;
            Ok(())
        })
        .await
    }

    /// Every monitor, by name.
    pub async fn monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        self.read(|conn| query_monitors(conn, "", &[])).await
    }

    pub async fn monitor_by_id(&self, id: i64) -> Result<Option<Monitor>, StoreError> {
        self.read(move |conn| Ok(query_monitors(conn, "WHERE id = ?1", &[&id])?.pop()))
            .await
    }

    pub async fn monitor_by_key(&self, key: &MonitorKey) -> Result<Option<Monitor>, StoreError> {
        let key = key.as_str().to_owned();
        self.read(move |conn| Ok(query_monitors(conn, "WHERE key = ?1", &[&key])?.pop()))
            .await
    }

    /// The monitor a webhook belongs to. Every webhook asks this, so the answer comes from a
    /// map kept in memory, loaded again after any change to the monitors.
    pub async fn monitor_by_webhook_id(
        &self,
        id: &WebhookId,
    ) -> Result<Option<Monitor>, StoreError> {
        if let Some(found) = self.monitor_cache.get(id.as_str()) {
            return Ok(found);
        }
        let generation = self.monitor_cache.generation();
        let all = self.read(|conn| query_monitors(conn, "", &[])).await?;
        let found = all.iter().find(|m| m.webhook_id == *id).cloned();
        self.monitor_cache.fill(generation, all);
        Ok(found)
    }

    /// The monitor a slug URL names.
    pub async fn monitor_by_slug(&self, slug: &Slug) -> Result<Option<Monitor>, StoreError> {
        let slug = slug.as_str().to_owned();
        self.read(move |conn| Ok(query_monitors(conn, "WHERE slug = ?1", &[&slug])?.pop()))
            .await
    }

    /// The monitor was opened in the panel: no longer marked as new.
    pub async fn mark_seen(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute("UPDATE monitors SET unseen = 0 WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// A write that changes monitors: the webhook map is dropped once it is committed.
    async fn write_monitors<R, F>(&self, work: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    {
        let cache = Arc::clone(&self.monitor_cache);
        self.submit(work, move |_| cache.invalidate(), super::WhenFull::Wait)
            .await
    }
}

/// Monitors by webhook ID. A generation number keeps a load that raced a change from
/// installing what it read before that change.
#[derive(Default)]
pub(super) struct MonitorCache {
    generation: AtomicU64,
    by_webhook_id: RwLock<Option<(u64, HashMap<String, Monitor>)>>,
}

impl MonitorCache {
    /// `Some(answer)` when the map is loaded.
    fn get(&self, webhook_id: &str) -> Option<Option<Monitor>> {
        let map = self.by_webhook_id.read().unwrap_or_else(|p| p.into_inner());
        let (generation, map) = map.as_ref()?;
        (*generation == self.generation()).then(|| map.get(webhook_id).cloned())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn fill(&self, generation: u64, monitors: Vec<Monitor>) {
        let map = monitors
            .into_iter()
            .map(|m| (m.webhook_id.as_str().to_owned(), m))
            .collect();
        *self
            .by_webhook_id
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some((generation, map));
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_monitor(name: &str) -> NewMonitor {
        NewMonitor::new(MonitorName::parse(name).unwrap(), WebhookId::generate())
    }

    #[tokio::test]
    async fn a_second_monitor_with_the_same_name_is_refused_not_suffixed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let a = store
            .create_monitor(new_monitor("Server One"), Origin::Ui)
            .await
            .unwrap();
        assert_eq!(a.key.as_str(), "server_one");
        let err = store
            .create_monitor(new_monitor("server-one"), Origin::Ui)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict(m) if m.contains("\"Server One\"")),
            "{err:?}"
        );
        let b = store
            .create_monitor(new_monitor("Laptop"), Origin::Ui)
            .await
            .unwrap();
        let rename = MonitorChanges {
            name: Some(MonitorName::parse("SERVER ONE").unwrap()),
            ..MonitorChanges::default()
        };
        assert!(matches!(
            store.update_monitor(b.id, rename).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.monitors().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn declared_monitors_are_created_then_updated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let mut nas = new_monitor("NAS");
        let keys = store
            .sync_declared_monitors(vec![nas.clone()])
            .await
            .unwrap();
        assert_eq!(keys[0].as_str(), "nas");

        nas.name = MonitorName::parse("NAS photos").unwrap();
        nas.history_limit = HistoryLimit::parse(30).unwrap();
        store
            .sync_declared_monitors(vec![nas.clone()])
            .await
            .unwrap();
        let stored = store
            .monitor_by_webhook_id(&nas.webhook_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.key.as_str(), stored.name.as_str()),
            ("nas", "NAS photos")
        );
        assert_eq!(stored.history_limit.get(), 30);
        assert_eq!(stored.origin, Origin::Options);

        store.sync_declared_monitors(vec![]).await.unwrap();
        let kept = store
            .monitor_by_webhook_id(&nas.webhook_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.origin, Origin::Ui);
    }

    #[tokio::test]
    async fn the_webhook_map_follows_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let first = store
            .create_monitor(new_monitor("One"), Origin::Ui)
            .await
            .unwrap();
        assert!(
            store
                .monitor_by_webhook_id(&first.webhook_id)
                .await
                .unwrap()
                .is_some()
        );
        let second = store
            .create_monitor(new_monitor("Two"), Origin::Ui)
            .await
            .unwrap();
        assert!(
            store
                .monitor_by_webhook_id(&second.webhook_id)
                .await
                .unwrap()
                .is_some()
        );
        let rotated = WebhookId::generate();
        let changes = MonitorChanges {
            webhook_id: Some(rotated.clone()),
            ..MonitorChanges::default()
        };
        store.update_monitor(first.id, changes).await.unwrap();
        assert!(
            store
                .monitor_by_webhook_id(&first.webhook_id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store
                .monitor_by_webhook_id(&rotated)
                .await
                .unwrap()
                .unwrap()
                .id,
            first.id
        );
        store.delete_monitor(second.id).await.unwrap();
        assert!(
            store
                .monitor_by_webhook_id(&second.webhook_id)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn ids_of_deleted_monitors_are_never_given_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let first = store
            .create_monitor(new_monitor("A"), Origin::Ui)
            .await
            .unwrap();
        let second = store
            .create_monitor(new_monitor("B"), Origin::Ui)
            .await
            .unwrap();
        store.delete_monitor(second.id).await.unwrap();
        let third = store
            .create_monitor(new_monitor("C"), Origin::Ui)
            .await
            .unwrap();
        assert!(third.id > second.id, "{} reused", third.id);
        assert!(second.id > first.id);
    }

    #[tokio::test]
    async fn a_webhook_id_cannot_be_used_twice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let first = new_monitor("A");
        let mut second = new_monitor("B");
        second.webhook_id = first.webhook_id.clone();
        store.create_monitor(first, Origin::Ui).await.unwrap();
        let err = store.create_monitor(second, Origin::Ui).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)));
    }
}
