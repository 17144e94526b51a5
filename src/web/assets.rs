//! The panel's CSS and JavaScript, compiled into the binary.

use actix_web::{HttpResponse, http::header, web};

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
];

pub async fn serve(file: web::Path<String>) -> HttpResponse {
    match FILES.iter().find(|(name, _, _)| *name == file.as_str()) {
        Some((_, content_type, body)) => HttpResponse::Ok()
            .content_type(*content_type)
            // Pages link assets with `?v=<version>`, so a cached copy is never stale.
            .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
            .body(*body),
        None => HttpResponse::NotFound().body("no such file"),
    }
}
