//! Home Assistant Core: a small typed REST client, the entities a monitor shows as, and
//! the publisher that keeps Core's states equal to ours.

mod client;
mod entities;
mod publisher;

pub use client::{CoreClient, HaError};
pub use entities::{EntityState, entity_ids, main_sensor};
pub use publisher::{Publisher, PushStatus};
