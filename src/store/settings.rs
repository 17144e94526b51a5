//! Add-on-wide values made at the first start and kept with the database (and its backups):
//! the ping key of slug URLs, the companion integration's key, the install ID of MQTT
//! devices, and the Home Assistant connection the integration handed over.

use rusqlite::{Connection, OptionalExtension};

use super::{Store, StoreError};
use crate::domain::{IntegrationKey, PingKey};

/// The stored value of `name` if `parse` accepts it, else a new one from `make`, stored.
fn kept_or_made<T>(
    conn: &Connection,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    make: impl Fn() -> Result<(T, String), StoreError>,
) -> Result<T, StoreError> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if let Some(value) = stored.as_deref().and_then(&parse) {
        return Ok(value);
    }
    let (value, text) = make()?;
    store(conn, name, &text)?;
    Ok(value)
}

fn store(conn: &Connection, name: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO settings (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?
    .execute([name, value])?;
    Ok(())
}

fn new_ping_key() -> Result<(PingKey, String), StoreError> {
    let key = PingKey::generate();
    let text = key.as_str().to_owned();
    Ok((key, text))
}

impl Store {
    /// The add-on-wide ping key, made at the first start.
    pub async fn ping_key(&self) -> Result<PingKey, StoreError> {
        self.write(|conn| kept_or_made(conn, "ping_key", PingKey::parse, new_ping_key))
            .await
    }

    /// A new ping key; slug URLs with the old one stop working.
    pub async fn rotate_ping_key(&self) -> Result<PingKey, StoreError> {
        self.write(|conn| {
            let (key, text) = new_ping_key()?;
            store(conn, "ping_key", &text)?;
            Ok(key)
        })
        .await
    }

    /// The key the companion Home Assistant integration presents, made at the first start.
    pub async fn integration_key(&self) -> Result<IntegrationKey, StoreError> {
        self.write(|conn| {
            kept_or_made(conn, "integration_key", IntegrationKey::parse, || {
                let key = IntegrationKey::generate();
                let text = key.as_str().to_owned();
                Ok((key, text))
            })
        })
        .await
    }

    /// A new integration key: the integration set up with the old one is refused until it is
    /// given the new one.
    pub async fn rotate_integration_key(&self) -> Result<IntegrationKey, StoreError> {
        self.write(|conn| {
            let key = IntegrationKey::generate();
            store(conn, "integration_key", key.as_str())?;
            Ok(key)
        })
        .await
    }

    /// The Home Assistant connection the integration handed over (Core's URL and a token of
    /// the integration's user), if it did.
    pub async fn core_link(&self) -> Result<Option<(String, secrecy::SecretString)>, StoreError> {
        self.read(|conn| {
            let mut read = conn.prepare_cached("SELECT value FROM settings WHERE name = ?1")?;
            let url: Option<String> = read.query_row(["core_url"], |r| r.get(0)).optional()?;
            let token: Option<String> = read.query_row(["core_token"], |r| r.get(0)).optional()?;
            Ok(url
                .zip(token)
                .map(|(url, token)| (url, secrecy::SecretString::from(token))))
        })
        .await
    }

    /// Keeps the connection the integration hands over; `None` forgets it.
    pub async fn set_core_link(
        &self,
        link: Option<(String, secrecy::SecretString)>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            match link {
                Some((url, token)) => {
                    use secrecy::ExposeSecret as _;
                    store(conn, "core_url", &url)?;
                    store(conn, "core_token", token.expose_secret())?;
                }
                None => {
                    conn.execute(
                        "DELETE FROM settings WHERE name IN ('core_url', 'core_token')",
                        [],
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    /// The monitor of Home Assistant's own backups, once the add-on made it (`None`: not yet).
    /// Kept after the monitor is deleted: a deleted one is not made again.
    pub async fn core_backups_monitor(&self) -> Result<Option<i64>, StoreError> {
        self.read(|conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM settings WHERE name = 'core_backups_monitor'")?
                .query_row([], |r| r.get::<_, String>(0))
                .optional()?
                .and_then(|id| id.parse().ok()))
        })
        .await
    }

    pub async fn set_core_backups_monitor(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |conn| store(conn, "core_backups_monitor", &id.to_string()))
            .await
    }

    /// This install's ID (8 hex characters): MQTT devices and unique IDs carry it, so a
    /// reinstall does not take over the old ones.
    pub async fn install_id(&self) -> Result<String, StoreError> {
        self.write(|conn| {
            kept_or_made(
                conn,
                "install_id",
                |id| Some(id.to_owned()),
                || {
                    let mut bytes = [0u8; 4];
                    getrandom::fill(&mut bytes)
                        .map_err(|e| StoreError::Corrupt(format!("no random source: {e}")))?;
                    let id = hex::encode(bytes);
                    Ok((id.clone(), id))
                },
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn values_are_made_once_and_a_rotated_key_is_kept() {
        let (_dir, store, _) = crate::store::test_store_with_monitor().await;
        let key = store.ping_key().await.unwrap();
        assert_eq!(store.ping_key().await.unwrap().as_str(), key.as_str());
        let rotated = store.rotate_ping_key().await.unwrap();
        assert_ne!(rotated.as_str(), key.as_str());
        assert_eq!(store.ping_key().await.unwrap().as_str(), rotated.as_str());
        let install = store.install_id().await.unwrap();
        assert_eq!(install.len(), 8);
        assert_eq!(store.install_id().await.unwrap(), install);
    }
}
