//! Products: each product's licenses, assigned seats and waitlist (in the order seats are
//! handed out), a form per product to change its number of licenses, and one to add a
//! product. A refusal (a bad number, fewer licenses than are assigned) is shown next to the
//! field it is about.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::input::{valid_product, validated};
use crate::engine::pools::{PoolChanged, PoolView, SetLicenses, WaitingUser};
use crate::engine::{EngineError, ErrorCode};

use super::users::{name_others, seat_sentence, segment, users_url, when};
use super::{html_response, layout, Console, ConsoleError, Nav};

/// Most waiting users listed per product; the rest are counted.
const WAITLIST_SHOWN: i64 = 100;

const SEATS_HINT: &str = "A whole number from 0 to 10000000.";

/// What the new-product form held and what was wrong with it.
#[derive(Default)]
struct NewProductForm<'a> {
    product: Option<&'a str>,
    seats: Option<&'a str>,
    product_error: Option<String>,
    seats_error: Option<String>,
}

/// `GET /console/products`.
pub async fn list(console: Console) -> Result<HttpResponse, ConsoleError> {
    page(&console, StatusCode::OK, None, &NewProductForm::default()).await
}

async fn page(
    console: &Console,
    status: StatusCode,
    notice: Option<&str>,
    new: &NewProductForm<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let ap = &console.session.principal;
    let products = console.engine.products(ap).await?.products;
    let mut waitlists: HashMap<&str, Vec<WaitingUser>> = HashMap::new();
    for p in products.iter().filter(|p| p.waitlisted > 0) {
        let list = console
            .engine
            .waitlist(ap, &p.product, WAITLIST_SHOWN)
            .await?;
        waitlists.insert(&p.product, list);
    }
    let write = console.can_write();
    let body = html! {
        h1 { "Products" }
        @if let Some(n) = notice { (layout::notice(n)) }
        @if products.is_empty() {
            p { "No products yet." }
        } @else {
            div class="table-wrap" role="region" aria-label="Products table" tabindex="0" {
                table id="products" {
                    caption { "Licenses and seats per product" }
                    thead {
                        tr {
                            th scope="col" { "Product" }
                            th scope="col" class="num" { "Licenses" }
                            th scope="col" class="num" { "Assigned" }
                            th scope="col" class="num" { "Free" }
                            th scope="col" class="num" { "Waitlisted" }
                        }
                    }
                    tbody {
                        @for p in &products {
                            tr {
                                th scope="row" { a href={ "#product-" (p.product) } { (p.product) } }
                                td class="num" { (p.capacity) }
                                td class="num" { (p.assigned) }
                                td class="num" { ((p.capacity - p.assigned).max(0)) }
                                td class="num" { (p.waitlisted) }
                            }
                        }
                    }
                }
            }
            @for p in &products {
                (product_section(console, p, waitlists.get(p.product.as_str()), write))
            }
        }
        @if write {
            section class="card new-product" aria-labelledby="new-product" {
                h2 id="new-product" { "Add a product" }
                form method="post" action="/console/products" {
                    (layout::csrf(console))
                    (layout::field("product", "Product", "text", new.product, new.product_error.as_deref(),
                        Some("Lower-case letters, digits, '-' and '_', e.g. meeting.")))
                    (layout::field("seats", "Licenses", "number", new.seats, new.seats_error.as_deref(), Some(SEATS_HINT)))
                    button type="submit" { "Add product" }
                }
            }
        } @else {
            p class="muted" { "This session is read only (auditor): licenses cannot be changed here." }
        }
    };
    Ok(html_response(
        status,
        layout::page(console, Nav::Products, "Products", body),
    ))
}

fn product_section(
    console: &Console,
    p: &PoolView,
    waiting: Option<&Vec<WaitingUser>>,
    write: bool,
) -> Markup {
    let id = format!("seats-{}", p.product);
    html! {
        section class="card product" id={ "product-" (p.product) } aria-labelledby={ "heading-" (p.product) } {
            h2 id={ "heading-" (p.product) } { (p.product) }
            @if write {
                form method="post" action={ "/console/products/" (segment(&p.product)) } class="licenses" {
                    (layout::csrf(console))
                    div class="field" {
                        label for={ "field-" (id) } {
                            "Licenses" span class="visually-hidden" { " of " (p.product) }
                        }
                        input id={ "field-" (id) } name="seats" type="number" min="0" max="10000000"
                            step="1" inputmode="numeric" required value=(p.capacity);
                    }
                    button type="submit" {
                        "Save" span class="visually-hidden" { " the licenses of " (p.product) }
                    }
                }
            }
            h3 { "Waitlist" }
            (waitlist(p, waiting))
        }
    }
}

fn waitlist(p: &PoolView, waiting: Option<&Vec<WaitingUser>>) -> Markup {
    let list = match waiting {
        Some(list) if !list.is_empty() => list,
        _ => return html! { p class="muted" { "Nobody is waiting." } },
    };
    let more = p.waitlisted - list.len() as i64;
    html! {
        ol class="waitlist" id={ "waitlist-" (p.product) } aria-label={ "Waitlist of " (p.product) ", first in line first" } {
            @for w in list {
                li {
                    a href=(users_url(&format!("userName eq {}", serde_json::Value::from(w.user_name.as_str())))) { (w.user_name) }
                    " "
                    span class="muted" { "waiting since " (when(&w.since)) }
                }
            }
        }
        @if more > 0 {
            p class="muted" { "And " (more) " more waiting." }
        }
    }
}

/// The `seats` field as a number, or what is wrong with it.
fn seats_of(text: Option<&str>) -> Result<i64, String> {
    let text = text.ok_or_else(|| "Enter the number of licenses.".to_string())?;
    text.parse::<i64>()
        .map_err(|_| format!("\"{text}\" is not a whole number: {SEATS_HINT}"))
}

/// Sets a product's licenses; the engine's refusal, if any, with the field it is about
/// (`product` or `seats`).
async fn set(
    req: &HttpRequest,
    console: &Console,
    product: &str,
    seats: i64,
) -> Result<PoolChanged, (String, EngineError)> {
    let ctx = console.ctx(req);
    let input = validated(SetLicenses { seats }).map_err(|e| ("seats".to_string(), e))?;
    console
        .engine
        .set_licenses(&console.session.principal, product, &input, &ctx)
        .await
        .map_err(|e| {
            let field = match &e {
                EngineError::Refused {
                    field: Some(f),
                    code,
                    ..
                } if *code != ErrorCode::Forbidden => f.clone(),
                EngineError::Refused {
                    code: ErrorCode::SeatsInUse,
                    ..
                } => "seats".to_string(),
                _ => String::new(),
            };
            (field, e)
        })
}

/// What happened, in words, for the notice.
async fn done_notice(console: &Console, before: Option<i64>, changed: &PoolChanged) -> String {
    let p = &changed.pool;
    let was = match before {
        Some(b) if b == p.capacity => " (unchanged)".to_string(),
        Some(b) => format!(" (was {b})"),
        None => " (a new product)".to_string(),
    };
    let mut known = HashMap::new();
    name_others(console, &changed.seat_changes, &mut known).await;
    format!(
        "{} now has {} licenses{was}: {} assigned, {} waitlisted. {}",
        p.product,
        p.capacity,
        p.assigned,
        p.waitlisted,
        seat_sentence(&changed.seat_changes, &known)
    )
}

async fn capacity_now(console: &Console, product: &str) -> Result<Option<i64>, ConsoleError> {
    Ok(console
        .engine
        .products(&console.session.principal)
        .await?
        .products
        .into_iter()
        .find(|p| p.product == product)
        .map(|p| p.capacity))
}

/// The status a refusal earns.
fn status_of(e: &EngineError) -> StatusCode {
    StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// `POST /console/products/{product}`: field `seats`.
pub async fn set_licenses(
    req: HttpRequest,
    console: Console,
    product: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let product = product.into_inner();
    let text = form.get("seats");
    let seats = match seats_of(text) {
        Ok(n) => n,
        Err(why) => {
            return one_product(&console, &product, StatusCode::BAD_REQUEST, text, &why).await
        }
    };
    let before = capacity_now(&console, &product).await?;
    match set(&req, &console, &product, seats).await {
        Ok(changed) => {
            let notice = done_notice(&console, before, &changed).await;
            page(
                &console,
                StatusCode::OK,
                Some(&notice),
                &NewProductForm::default(),
            )
            .await
        }
        Err((field, e)) if field == "seats" => {
            one_product(&console, &product, status_of(&e), text, &e.to_string()).await
        }
        Err((_, e)) => Err(e.into()),
    }
}

/// One product's licenses form with what was wrong with it.
async fn one_product(
    console: &Console,
    product: &str,
    status: StatusCode,
    value: Option<&str>,
    error: &str,
) -> Result<HttpResponse, ConsoleError> {
    let pool = console
        .engine
        .products(&console.session.principal)
        .await?
        .products
        .into_iter()
        .find(|p| p.product == product);
    let title = format!("Licenses of {product}");
    let body = html! {
        h1 { (title) }
        @if let Some(p) = &pool {
            dl class="counts" {
                dt { "Licenses" } dd { (p.capacity) }
                dt { "Assigned" } dd { (p.assigned) }
                dt { "Waitlisted" } dd { (p.waitlisted) }
            }
        }
        @if console.can_write() {
            form method="post" action={ "/console/products/" (segment(product)) } {
                (layout::csrf(console))
                (layout::field("seats", "Licenses", "number", value, Some(error), Some(SEATS_HINT)))
                button type="submit" { "Save licenses" }
                " "
                a class="button secondary" href="/console/products" { "Cancel" }
            }
        } @else {
            (layout::alert(error))
        }
        p { a href="/console/products" { "Back to products" } }
    };
    Ok(html_response(
        status,
        layout::page(console, Nav::Products, &title, body),
    ))
}

/// `POST /console/products`: fields `product` and `seats`.
pub async fn add(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let product = form.get("product");
    let text = form.get("seats");
    let mut new = NewProductForm {
        product,
        seats: text,
        ..Default::default()
    };
    let name = match product {
        Some(p) if valid_product(p) => Some(p),
        Some(_) => {
            new.product_error = Some(
                "A product name is lower-case letters, digits, '-' and '_' (at most 63).".into(),
            );
            None
        }
        None => {
            new.product_error = Some("Enter the product's name.".into());
            None
        }
    };
    let seats = seats_of(text)
        .map_err(|why| new.seats_error = Some(why))
        .ok();
    let (Some(name), Some(seats)) = (name, seats) else {
        return page(&console, StatusCode::BAD_REQUEST, None, &new).await;
    };
    let before = capacity_now(&console, name).await?;
    match set(&req, &console, name, seats).await {
        Ok(changed) => {
            let notice = done_notice(&console, before, &changed).await;
            page(
                &console,
                StatusCode::OK,
                Some(&notice),
                &NewProductForm::default(),
            )
            .await
        }
        Err((field, e)) if field == "seats" || field == "product" => {
            let message = e.to_string();
            if field == "seats" {
                new.seats_error = Some(message);
            } else {
                new.product_error = Some(message);
            }
            page(&console, status_of(&e), None, &new).await
        }
        Err((_, e)) => Err(e.into()),
    }
}
