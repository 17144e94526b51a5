//! The webhook listener: actix-web's HTTP service behind one look at each connection's
//! first line. actix's HTTP parser refuses a request line with `<` or `>` in the path with
//! an empty 400 before any handler runs; a URL pasted from the documentation with its
//! placeholder (`/ping/<key>/<job>`, as curl sends it) is such a line, so it is answered
//! here with what to put there.

use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

use actix_http::HttpService;
use actix_server::Server;
use actix_service::{Service as _, ServiceFactory as _, fn_factory, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, web};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use super::AppState;

/// How long a connection may take to send its first bytes before actix's own request
/// timeout takes over.
const FIRST_BYTES: Duration = Duration::from_secs(5);

/// Serves the webhook routes on `listener` with `workers` threads.
pub fn serve_webhooks(
    state: web::Data<AppState>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let builder = Server::build();
    // As actix-web's HttpServer: a stop closes idle keep-alive connections at once.
    let shutting_down = builder.graceful_shutdown_signal();
    // Requests held open for a change (the integration's, the panel's) end at once: a stop
    // waits only for reports in flight.
    let stopping = shutting_down.clone();
    let service_state = state.clone();
    tokio::spawn(async move {
        stopping.notified().await;
        service_state.service.stop_waiting();
    });
    Ok(builder
        .workers(workers)
        .listen("webhooks", listener, move || {
            let state = state.clone();
            let shutting_down = shutting_down.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = shutting_down.clone();
                    async move { signal.notified().await }
                })
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(addr)
                // The app reads no host or address from its config (the Host header says
                // where the webhook URLs point).
                .finish(map_config(
                    App::new().app_data(state).configure(super::webhook_routes),
                    |_| AppConfig::default(),
                ))
                .tcp();
            fn_factory(move || {
                let ready = http.new_service(());
                async move {
                    let http = Rc::new(ready.await?);
                    Ok::<_, ()>(fn_service(move |io: TcpStream| {
                        let http = Rc::clone(&http);
                        async move {
                            match placeholder_answer(&io).await {
                                Some(answer) => refuse(io, &answer).await,
                                None => http.call(io).await.map_err(drop),
                            }
                        }
                    }))
                }
            })
        })?
        .run())
}

/// The answer for a request line whose path still holds a `<placeholder>`, if it does.
async fn placeholder_answer(io: &TcpStream) -> Option<String> {
    let mut head = [0u8; 1024];
    let read = tokio::time::timeout(FIRST_BYTES, io.peek(&mut head))
        .await
        .ok()?
        .ok()?;
    let line = head[..read].split(|b| *b == b'\n').next()?;
    let target = line.split(|b| *b == b' ').nth(1)?;
    let target = String::from_utf8_lossy(target);
    // Percent-encoded placeholders (what most tools send) reach the routes, which say the
    // same; only a raw `<` never gets there.
    let path = target.split('?').next()?;
    if !path.contains('<') {
        return None;
    }
    let placeholder = crate::domain::placeholder_in(path)?;
    Some(format!(
        "The URL still holds the placeholder {placeholder}: put the job's name (or the \
         monitor's webhook ID) there, e.g. /ping/<ping key>/nas-photos. The add-on's panel \
         in Home Assistant shows every URL ready to copy.\n"
    ))
}

async fn refuse(mut io: TcpStream, text: &str) -> Result<(), ()> {
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    tracing::info!("a webhook URL still held a documentation placeholder");
    let _ = io.write_all(response.as_bytes()).await;
    let _ = io.shutdown().await;
    Ok(())
}
