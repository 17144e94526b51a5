//! A small stand-in for Home Assistant's ingress: it serves `/api/hassio_ingress/<token>/…`,
//! forwards to the add-on's panel with the prefix removed and `X-Ingress-Path` set, passes
//! `Location` through unchanged (as Core and the Supervisor do), and remembers every request
//! that arrived outside the prefix.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

pub struct IngressProxy {
    pub base: String,
    escaped: Arc<Mutex<Vec<String>>>,
    forwarded: Arc<Mutex<usize>>,
}

struct Target {
    upstream: String,
    prefix: String,
    client: reqwest::Client,
    escaped: Arc<Mutex<Vec<String>>>,
    forwarded: Arc<Mutex<usize>>,
}

impl IngressProxy {
    pub async fn start(upstream: &str, token: &str) -> Self {
        let escaped = Arc::new(Mutex::new(Vec::new()));
        let forwarded = Arc::new(Mutex::new(0));
        let target = web::Data::new(Target {
            upstream: upstream.to_owned(),
            prefix: format!("/api/hassio_ingress/{token}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            escaped: Arc::clone(&escaped),
            forwarded: Arc::clone(&forwarded),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(target.clone())
                .default_service(web::to(forward))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self {
            base: format!("http://127.0.0.1:{port}"),
            escaped,
            forwarded,
        }
    }

    pub fn escaped(&self) -> Vec<String> {
        self.escaped.lock().unwrap().clone()
    }

    pub fn forwarded(&self) -> usize {
        *self.forwarded.lock().unwrap()
    }
}

async fn forward(req: HttpRequest, body: web::Bytes, target: web::Data<Target>) -> HttpResponse {
    let path = req.path();
    let Some(rest) = path
        .strip_prefix(&target.prefix)
        .filter(|r| r.starts_with('/'))
    else {
        target.escaped.lock().unwrap().push(req.uri().to_string());
        // What Core answers for paths it does not know.
        return HttpResponse::NotFound().body("404: Not Found");
    };
    *target.forwarded.lock().unwrap() += 1;
    let query = req.query_string();
    let url = if query.is_empty() {
        format!("{}{rest}", target.upstream)
    } else {
        format!("{}{rest}?{query}", target.upstream)
    };
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
    let mut upstream = target.client.request(method, url).body(body.to_vec());
    for (name, value) in req.headers() {
        if !matches!(name.as_str(), "host" | "content-length" | "accept-encoding") {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    upstream = upstream
        .header("X-Ingress-Path", target.prefix.as_str())
        .header("X-Forwarded-Host", req.connection_info().host().to_owned());
    let response = match upstream.send().await {
        Ok(response) => response,
        Err(e) => return HttpResponse::BadGateway().body(e.to_string()),
    };
    let mut out = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(response.status().as_u16()).unwrap(),
    );
    for (name, value) in response.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.insert_header((name.as_str(), value.as_bytes()));
        }
    }
    out.body(response.bytes().await.unwrap_or_default())
}
