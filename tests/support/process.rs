//! The real binary as a child process: started on port 0 (the ports are read from its log),
//! killed with SIGKILL when a test wants a crash.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Running {
    child: Child,
    pub webhook_base: String,
    pub ui_base: String,
    /// Everything the process wrote to stdout and stderr so far.
    pub log: Arc<Mutex<String>>,
}

fn port_after(line: &str, marker: &str) -> Option<u16> {
    if !line.contains(marker) {
        return None;
    }
    let rest = line.split("port=").nth(1)?;
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

impl Running {
    /// Creates a monitor through the panel's API, as the panel does; its JSON.
    pub async fn create_monitor(&self, body: serde_json::Value) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(format!("{}/api/monitors", self.ui_base))
            .json(&body)
            .send()
            .await
            .expect("the panel answers");
        assert_eq!(response.status().as_u16(), 201, "creating {body}");
        response.json().await.expect("the monitor's JSON")
    }

    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kopia-webhook"));
        command
            .env_clear()
            .env("KOPIA_WEBHOOK_DATA_DIR", data_dir)
            .env("KOPIA_WEBHOOK_LISTEN", "127.0.0.1:0")
            .env("KOPIA_WEBHOOK_UI_LISTEN", "127.0.0.1:0")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (ports_tx, ports_rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = Arc::clone(&log);
            let ports_tx = ports_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(port) = port_after(&line, "webhook listener ready") {
                        let _ = ports_tx.send(("webhook", port));
                    }
                    if let Some(port) = port_after(&line, "panel ready") {
                        let _ = ports_tx.send(("ui", port));
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let (mut webhook, mut ui) = (None, None);
        while webhook.is_none() || ui.is_none() {
            match ports_rx.recv_timeout(Duration::from_secs(20)) {
                Ok(("webhook", port)) => webhook = Some(port),
                Ok((_, port)) => ui = Some(port),
                Err(_) => panic!(
                    "the binary did not report its ports; log:\n{}",
                    log.lock().unwrap()
                ),
            }
        }
        Self {
            child,
            webhook_base: format!("http://127.0.0.1:{}", webhook.unwrap()),
            ui_base: format!("http://127.0.0.1:{}", ui.unwrap()),
            log,
        }
    }

    /// SIGKILL: no shutdown, no flush; what was committed must survive.
    /// (A `Running` dropped without `stop` or `kill_hard`, as by a failing test, is killed
    /// the same way, so no add-on outlives its test.)
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait, as Docker stops a container.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
