//! The panel's CSS and JavaScript, compiled into the binary.

use std::sync::LazyLock;

use actix_web::{HttpResponse, http::header, web};
use sha2::{Digest, Sha256};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../static/icon.svg"),
    ),
];

/// A short hash of every asset: pages link `static/app.css?v=<tag>`, so browsers keep
/// assets for a day yet never use a stale one after an update.
pub static ASSET_TAG: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for (_, _, body) in FILES {
        hash.update(body.as_bytes());
    }
    hex::encode(&hash.finalize()[..6])
});

pub async fn serve(file: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .content_type(*content_type)
            // Pages link assets with `?v=<hash of the assets>`, so a cached copy is never stale.
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(*body),
        None => HttpResponse::NotFound().body("no such file"),
    }
}
