//! The add-on folder passes the community add-on linter (frenck/action-addon-linter): its
//! JSON schema, copied unchanged into `tests/addon-linter/`, plus the linter's own rules.
//! Also: every option and port has a translation, and no other file is named config.yaml.

use std::path::Path;

use serde_json::Value;

const ADDON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/kopia_webhook");

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> Value {
    yaml(&format!("{ADDON}/config.yaml"))
}

/// The linter's schema. Its patterns use Python's `(?P<name>…)` groups, which a draft-7
/// validator's `regex` format check refuses; `(?<name>…)` is the same group in ECMA-262.
fn linter_schema() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/addon-linter/config.schema.json"
    ))
    .unwrap();
    serde_json::from_str(&text.replace("(?P<", "(?<")).unwrap()
}

#[test]
fn config_yaml_matches_the_linters_schema() {
    let schema = linter_schema();
    let validator = jsonschema::draft7::new(&schema).unwrap();
    let config = config();
    let errors: Vec<String> = validator
        .iter_errors(&config)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn config_yaml_follows_the_linters_rules() {
    let schema = linter_schema();
    let config = config();
    let config = config.as_object().unwrap();
    for (key, value) in config {
        if let Some(default) = schema["properties"][key].get("default") {
            assert_ne!(
                value, default,
                "'{key}' should be removed, it uses a default value"
            );
        }
    }
    let has = |k: &str| config.contains_key(k);
    assert!(
        !(has("webui") && config["ingress"] == true),
        "webui with ingress"
    );
    let dynamic_ingress_port = config.get("ingress_port") == Some(&Value::from(0));
    assert!(
        !dynamic_ingress_port || has("host_network"),
        "ingress_port 0 needs host_network"
    );
    for obsolete in ["watchdog", "codenotary", "auto_uart"] {
        assert!(!has(obsolete), "'{obsolete}' is not allowed");
    }
    assert!(
        !(config.get("backup") == Some(&Value::from("cold"))
            && (has("backup_pre") || has("backup_post")))
    );
    for arch in config["arch"].as_array().unwrap() {
        assert!(
            ["aarch64", "amd64"].contains(&arch.as_str().unwrap()),
            "deprecated arch {arch}"
        );
    }
}

#[test]
fn config_yaml_says_what_the_product_needs() {
    let c = config();
    assert_eq!(c["name"], "Kopia Webhook Status");
    assert_eq!(c["slug"], "kopia_webhook");
    assert_eq!(c["ingress"], true);
    assert_eq!(c["homeassistant_api"], true);
    assert_eq!(c["ports"]["8098/tcp"], 8098);
    assert!(
        c.get("ingress_port").is_none(),
        "the UI uses the default 8099"
    );
    assert_eq!(c["schema"]["history_limit"], "int(5,40)");
    assert_eq!(
        c["version"],
        env!("CARGO_PKG_VERSION"),
        "config.yaml and Cargo.toml versions agree"
    );
    // Every option that has a default is in the schema, and every schema key is documented.
    for key in c["options"].as_object().unwrap().keys() {
        assert!(c["schema"].get(key).is_some(), "option {key} has no schema");
    }
}

#[test]
fn every_option_and_port_has_a_translation() {
    let c = config();
    let t = yaml(&format!("{ADDON}/translations/en.yaml"));
    for key in c["schema"].as_object().unwrap().keys() {
        let entry = &t["configuration"][key];
        assert!(
            entry["name"].is_string() && entry["description"].is_string(),
            "no translation for {key}"
        );
    }
    // Lists of settings (the monitors option) translate each field too.
    for (key, schema) in c["schema"].as_object().unwrap() {
        let fields = schema
            .as_array()
            .and_then(|items| items.first())
            .and_then(Value::as_object);
        for field in fields.into_iter().flat_map(|f| f.keys()) {
            let entry = &t["configuration"][key]["fields"][field];
            assert!(
                entry["name"].is_string() && entry["description"].is_string(),
                "no translation for {key}.{field}"
            );
        }
    }
    for port in c["ports"].as_object().unwrap().keys() {
        assert!(
            t["network"][port].is_string(),
            "no translation for port {port}"
        );
    }
}

#[test]
fn no_other_file_is_named_config_yaml() {
    // The Supervisor searches the repository for config.yaml files and takes each for an add-on.
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "data" | "node_modules") {
                    walk(&path, found);
                }
            } else if matches!(name.as_str(), "config.yaml" | "config.yml" | "config.json") {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new(env!("CARGO_MANIFEST_DIR")), &mut found);
    assert_eq!(found, [format!("{ADDON}/config.yaml")]);
}

#[test]
fn the_repository_and_addon_files_exist() {
    let root = env!("CARGO_MANIFEST_DIR");
    let repository = yaml(&format!("{root}/repository.yaml"));
    assert!(repository["name"].is_string());
    for file in [
        "Dockerfile",
        "DOCS.md",
        "README.md",
        "CHANGELOG.md",
        "icon.png",
        "logo.png",
        "apparmor.txt",
    ] {
        assert!(
            Path::new(ADDON).join(file).is_file(),
            "kopia_webhook/{file} is missing"
        );
    }
}
