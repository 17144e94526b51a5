//! Debian's Mosquitto on a free loopback port, for tests; stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Mosquitto {
    child: Child,
    pub port: u16,
    binary: &'static str,
    conf_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// `users`: `None` allows anonymous clients; else a password file with this one user.
    pub fn start(user: Option<(&str, &str)>) -> Self {
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("the MQTT tests need Debian's mosquitto: apt-get install -y mosquitto (tools/test.sh does)");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = format!("listener {port} 127.0.0.1\npersistence false\n");
        match user {
            None => conf.push_str("allow_anonymous true\n"),
            Some((name, password)) => {
                let file = dir.path().join("passwords");
                std::fs::write(&file, format!("{name}:{password}\n")).unwrap();
                let status = Command::new("mosquitto_passwd")
                    .args(["-U", file.to_str().unwrap()])
                    .status()
                    .expect("mosquitto_passwd runs");
                assert!(status.success());
                conf.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
        }
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = spawn(binary, &conf_path, port);
        Self {
            child,
            port,
            binary,
            conf_path,
            _dir: dir,
        }
    }

    /// The broker goes away (SIGKILL: it says goodbye to nobody).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The broker comes back on the same port, empty (no persistence).
    pub fn start_again(&mut self) {
        self.child = spawn(self.binary, &self.conf_path, self.port);
    }

    pub fn url(&self, user: Option<(&str, &str)>) -> String {
        match user {
            Some((name, password)) => format!("mqtt://{name}:{password}@127.0.0.1:{}", self.port),
            None => format!("mqtt://127.0.0.1:{}", self.port),
        }
    }
}

fn spawn(binary: &str, conf_path: &std::path::Path, port: u16) -> Child {
    let child = Command::new(binary)
        .args(["-c", conf_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto starts");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
