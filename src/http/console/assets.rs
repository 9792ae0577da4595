//! The console's stylesheet and script, compiled into the binary and served with a long
//! cache lifetime: their URLs carry a hash of their content, so a new build gets new URLs.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../../assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../../assets/console.js"),
    },
];

/// Each asset's URL, with the first 16 hex digits of its SHA-256 as a version.
static URLS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let hash = hex::encode(Sha256::digest(a.body.as_bytes()));
            let short = hash.get(..16).unwrap_or(&hash).to_string();
            (a.name, format!("/console/assets/{}?v={short}", a.name))
        })
        .collect()
});

/// The URL of an asset (`console.css`, `console.js`).
pub fn url(name: &str) -> &'static str {
    URLS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| u.as_str())
        .unwrap_or("/console/assets/missing")
}

pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(a) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, a.content_type))
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(a.body),
        None => HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such asset"),
    }
}
