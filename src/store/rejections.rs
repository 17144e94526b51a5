//! Refused webhook requests, kept per monitor so the panel can say why a tool's webhook
//! "does not work".

use jiff::Timestamp;
use rusqlite::params;
use serde::Serialize;

use super::{Store, StoreError, from_ms, to_ms};

/// How many refused requests are kept per monitor.
const KEEP: i64 = 100;
/// How much of a refused body is kept.
pub const HEAD_BYTES: usize = 2048;

#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub at: Timestamp,
    pub peer: Option<String>,
    pub status: u16,
    pub reason: String,
    /// The start of the body, as text (invalid UTF-8 replaced).
    pub head: String,
    /// How many requests this row stands for (a flood is summarised once a minute).
    pub count: u64,
}

impl Store {
    pub async fn record_rejection(
        &self,
        monitor_id: i64,
        peer: Option<String>,
        status: u16,
        reason: String,
        head: Vec<u8>,
        count: u64,
    ) -> Result<(), StoreError> {
        let at = Timestamp::now();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO rejections (monitor_id, at, peer, status, reason, head, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![monitor_id, to_ms(at), peer, status, reason, &head[..head.len().min(HEAD_BYTES)], count],
            )?;
            conn.execute(
                "DELETE FROM rejections WHERE monitor_id = ?1 AND id <= (
                     SELECT id FROM rejections WHERE monitor_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![monitor_id, KEEP],
            )?;
            Ok(())
        })
        .await
    }

    /// The newest refused requests first.
    pub async fn rejections(
        &self,
        monitor_id: i64,
        limit: usize,
    ) -> Result<Vec<Rejection>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at, peer, status, reason, head, count FROM rejections WHERE monitor_id = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![monitor_id, limit as i64])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let head: Option<Vec<u8>> = row.get(4)?;
                out.push(Rejection {
                    at: from_ms(row.get(0)?)?,
                    peer: row.get(1)?,
                    status: row.get(2)?,
                    reason: row.get(3)?,
                    head: crate::domain::printable(&head.unwrap_or_default()),
                    count: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(1),
                });
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_newest_hundred_are_kept() {
        let (_dir, store, monitor_id) = crate::store::test_store_with_monitor().await;
        for i in 0..105 {
            store
                .record_rejection(
                    monitor_id,
                    Some("10.0.0.2".into()),
                    400,
                    format!("bad {i}"),
                    vec![b'x'; 5000],
                    1,
                )
                .await
                .unwrap();
        }
        let kept = store.rejections(monitor_id, 500).await.unwrap();
        assert_eq!(kept.len(), 100);
        assert_eq!(kept[0].reason, "bad 104");
        assert_eq!(kept[0].head.len(), HEAD_BYTES);
    }
}
