//! The few Supervisor (and Core) facts the panel needs to show a webhook URL that works from
//! other machines: the host's LAN address and the host port the webhook listener is mapped to.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::{BrokerSettings, CoreSettings, SupervisorSettings};

/// Where backup tools reach the webhook listener, as far as the Supervisor knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookAddress {
    /// The primary interface's IPv4 address, else Core's `internal_url` host.
    pub host: Option<String>,
    /// The host port mapped to `8098/tcp`: `Some(None)` when the user disabled it.
    pub port: Option<Option<u16>>,
}

#[derive(Clone)]
pub struct SupervisorClient {
    supervisor: Option<(String, SecretString)>,
    core: Option<(String, SecretString)>,
    http: reqwest::Client,
}

impl SupervisorClient {
    pub fn new(supervisor: Option<&SupervisorSettings>, core: Option<&CoreSettings>) -> Self {
        let urls: Vec<&str> = [
            supervisor.map(|s| s.url.as_str()),
            core.map(|c| c.url.as_str()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let http =
            super::client::http_client(&urls, Duration::from_secs(3), Duration::from_secs(10));
        Self {
            supervisor: supervisor.map(|s| (s.url.clone(), s.token.clone())),
            core: core.map(|c| (c.url.clone(), c.token.clone())),
            http,
        }
    }

    /// The MQTT broker the Supervisor offers (the Mosquitto app), if any: `None` when none
    /// is installed (the Supervisor answers 400 "Service not enabled") or it cannot be asked.
    pub async fn mqtt_broker(&self) -> Option<BrokerSettings> {
        let (url, token) = self.supervisor.as_ref()?;
        let response = self
            .http
            .get(format!("{url}/services/mqtt"))
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        let data: Value = match response {
            Ok(r) if r.status().is_success() => r.json::<Value>().await.ok()?["data"].take(),
            Ok(r) => {
                tracing::info!(
                    status = r.status().as_u16(),
                    "no MQTT broker offered by the Supervisor (install the Mosquitto app for entities with unique IDs)"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e.without_url()), "cannot ask the Supervisor for an MQTT broker");
                return None;
            }
        };
        broker_from_service(&data)
    }

    /// The add-on's full slug (`<repository>_kopia_webhook`): its panel's address in
    /// Home Assistant is `/hassio/ingress/<slug>`.
    pub async fn own_slug(&self) -> Option<String> {
        let (url, token) = self.supervisor.as_ref()?;
        let info = self.get(&format!("{url}/addons/self/info"), token).await?;
        info["data"]["slug"].as_str().map(str::to_owned)
    }

    /// The add-on's host name on Home Assistant's internal network (`<repository>-kopia-webhook`):
    /// Core reaches the webhook listener there.
    pub async fn own_hostname(&self) -> Option<String> {
        let (url, token) = self.supervisor.as_ref()?;
        let info = self.get(&format!("{url}/addons/self/info"), token).await?;
        info["data"]["hostname"].as_str().map(str::to_owned)
    }

    /// Announces a service to Home Assistant (Supervisor discovery): Core offers to set up
    /// the integration of that name with `config`. `false` if the Supervisor refused.
    pub async fn announce(&self, service: &str, config: &Value) -> bool {
        let Some((url, token)) = self.supervisor.as_ref() else {
            return false;
        };
        let response = self
            .http
            .post(format!("{url}/discovery"))
            .bearer_auth(token.expose_secret())
            .json(&serde_json::json!({ "service": service, "config": config }))
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(
                    status = r.status().as_u16(),
                    "the Supervisor refused the discovery announcement"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %crate::telemetry::ErrorChain(&e.without_url()), "cannot announce the add-on to Home Assistant");
                false
            }
        }
    }

    /// Asks the Supervisor (and Core); whatever cannot be found stays `None`.
    pub async fn webhook_address(&self, container_port: u16) -> WebhookAddress {
        let mut address = WebhookAddress::default();
        if let Some((url, token)) = &self.supervisor {
            if let Some(network) = self.get(&format!("{url}/network/info"), token).await {
                address.host = primary_ipv4(&network["data"]);
            }
            if let Some(info) = self.get(&format!("{url}/addons/self/info"), token).await {
                let mapping = &info["data"]["network"][format!("{container_port}/tcp")];
                address.port = match mapping {
                    Value::Null if info["data"]["network"].is_object() => Some(None),
                    value => value.as_u64().and_then(|p| u16::try_from(p).ok()).map(Some),
                };
            }
        }
        if address.host.is_none()
            && let Some((url, token)) = &self.core
            && let Some(config) = self.get(&format!("{url}/api/config"), token).await
        {
            address.host = config["internal_url"].as_str().and_then(host_of);
        }
        address
    }

    async fn get(&self, url: &str, token: &SecretString) -> Option<Value> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .send()
            .await;
        match response {
            Ok(r) if r.status().is_success() => r.json().await.ok(),
            Ok(r) => {
                tracing::debug!(status = r.status().as_u16(), "Supervisor lookup refused");
                None
            }
            Err(e) => {
                tracing::debug!(error = %crate::telemetry::ErrorChain(&e.without_url()), "Supervisor lookup failed");
                None
            }
        }
    }
}

/// `{"host","port","ssl","username","password",…}` as `/services/mqtt` gives it.
fn broker_from_service(data: &Value) -> Option<BrokerSettings> {
    let host = data["host"].as_str().filter(|h| !h.is_empty())?.to_owned();
    // An integer, though the docs' example shows a string: take both.
    let port = data["port"]
        .as_u64()
        .or_else(|| data["port"].as_str()?.parse().ok())
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or(1883);
    Some(BrokerSettings {
        host,
        port,
        username: data["username"].as_str().map(str::to_owned),
        password: data["password"]
            .as_str()
            .map(|p| SecretString::from(p.to_owned())),
        tls: data["ssl"].as_bool().unwrap_or(false),
    })
}

/// `interfaces[].ipv4.address` is a list like `["192.168.1.10/24"]`; the primary one wins.
fn primary_ipv4(network: &Value) -> Option<String> {
    let interfaces = network["interfaces"].as_array()?;
    let mut ordered: Vec<&Value> = interfaces.iter().filter(|i| i["primary"] == true).collect();
    ordered.extend(interfaces.iter().filter(|i| i["primary"] != true));
    ordered.into_iter().find_map(|interface| {
        let first = interface["ipv4"]["address"].as_array()?.first()?.as_str()?;
        let ip = first.split('/').next()?;
        ip.parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|ip| ip.to_string())
    })
}

/// `http://homeassistant.local:8123` -> `homeassistant.local`.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next()?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_primary_interfaces_ipv4_without_its_prefix() {
        let network = json!({"interfaces": [
            {"interface": "docker0", "primary": false, "ipv4": {"address": ["172.17.0.1/16"]}},
            {"interface": "eth0", "primary": true, "ipv4": {"address": ["192.168.1.10/24"]}}
        ]});
        assert_eq!(primary_ipv4(&network), Some("192.168.1.10".into()));
        assert_eq!(primary_ipv4(&json!({"interfaces": []})), None);
    }

    #[test]
    fn the_supervisors_broker_with_a_port_as_number_or_text() {
        let data = json!({"host": "core-mosquitto", "port": 1883, "ssl": false,
            "protocol": "3.1.1", "username": "addons", "password": "secret", "addon": "core_mosquitto"});
        let broker = broker_from_service(&data).unwrap();
        assert_eq!(
            (broker.host.as_str(), broker.port),
            ("core-mosquitto", 1883)
        );
        assert_eq!(broker.username.as_deref(), Some("addons"));
        let text_port = json!({"host": "h", "port": "1884"});
        assert_eq!(broker_from_service(&text_port).unwrap().port, 1884);
        assert!(broker_from_service(&json!({})).is_none());
    }

    #[test]
    fn hosts_of_urls() {
        assert_eq!(
            host_of("http://homeassistant.local:8123"),
            Some("homeassistant.local".into())
        );
        assert_eq!(
            host_of("https://ha.example.org/"),
            Some("ha.example.org".into())
        );
        assert_eq!(host_of("http://[fd00::1]:8123"), Some("[fd00::1]".into()));
        assert_eq!(host_of("nonsense"), None);
    }
}
