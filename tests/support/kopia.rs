//! Kopia's notifications as Kopia's webhook sender sends them: the rendered template's lines
//! before the first blank line become HTTP headers (`Subject` among them), the rest is the
//! body without a trailing newline, and no Content-Type is set.

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Headers and body of `tests/fixtures/kopia/<fixture>`.
pub fn kopia_message(fixture: &str) -> (Vec<(String, String)>, String) {
    let rendered = std::fs::read_to_string(format!("{FIXTURES}/kopia/{fixture}")).unwrap();
    let (head, body) = rendered.split_once("\n\n").unwrap();
    let headers = head
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (headers, body.trim_end_matches('\n').to_owned())
}

/// POSTs the fixture to `url` the way Kopia does.
pub async fn send_kopia(client: &reqwest::Client, url: &str, fixture: &str) -> reqwest::Response {
    let (headers, body) = kopia_message(fixture);
    let mut request = client.post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}
