//! The overview: each product's licenses, seats and waitlist with a 30-day chart (SVG drawn
//! here), open conflicts, and each connection's last request and error rate.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use chrono::NaiveDate;
use maud::{html, Markup};

use crate::engine::console::{ConnectionOverview, ProductOverview};

use super::{html_response, layout, Console, ConsoleError, Nav};

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const PAD_LEFT: f64 = 36.0;
const PAD_BOTTOM: f64 = 22.0;
const PAD_TOP: f64 = 8.0;

pub async fn page(console: Console) -> Result<HttpResponse, ConsoleError> {
    let o = console.engine.overview(&console.session.principal).await?;
    let webhooks = super::webhooks::failing_notice(&console).await?;
    let body = html! {
        h1 { "Overview" }
        (webhooks)
        h2 { "Products" }
        @if o.products.is_empty() {
            p { "No products yet. Buy licenses on the " a href="/console/products" { "Products" } " page." }
        }
        div class="cards" {
            @for p in &o.products {
                (product_card(p))
            }
        }
        h2 { "Conflicts" }
        p {
            @if o.open_conflicts == 0 {
                "No open conflicts."
            } @else {
                strong { (o.open_conflicts) } " open "
                @if o.open_conflicts == 1 { "conflict" } @else { "conflicts" }
                " need an admin: "
                a href="/console/conflicts" { "see the conflicts" } "."
            }
        }
        h2 { "Connections" }
        (connections(&o.connections))
    };
    Ok(html_response(
        StatusCode::OK,
        layout::page(&console, Nav::Overview, "Overview", body),
    ))
}

fn product_card(p: &ProductOverview) -> Markup {
    html! {
        section class="card" aria-labelledby={ "product-" (p.product) } {
            h3 id={ "product-" (p.product) } { (p.product) }
            dl class="counts" {
                dt { "Licenses" } dd { (p.capacity) }
                dt { "Assigned" } dd { (p.assigned) }
                dt { "Free" } dd { ((p.capacity - p.assigned).max(0)) }
                dt { "Waitlisted" } dd { (p.waitlisted) }
            }
            (chart(p))
            ul class="legend" {
                li { span class="swatch swatch-capacity" aria-hidden="true" {} "licenses (dashed)" }
                li { span class="swatch swatch-assigned" aria-hidden="true" {} "assigned (solid)" }
                li { span class="swatch swatch-waitlisted" aria-hidden="true" {} "waitlisted (dotted)" }
            }
        }
    }
}

/// The last 30 days of one product as three lines (licenses, assigned, waitlisted); days
/// without a record are left out of the lines rather than drawn as zero.
fn chart(p: &ProductOverview) -> Markup {
    let dates: Vec<Option<NaiveDate>> = p
        .days
        .iter()
        .map(|(d, ..)| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .collect();
    let last = dates.iter().flatten().max().copied();
    let max = p
        .days
        .iter()
        .map(|(_, c, a, w)| (*c).max(*a).max(*w))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_w = WIDTH - PAD_LEFT - 8.0;
    let plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM;
    let x_of = |date: NaiveDate| -> f64 {
        let back = last.map_or(0, |l| (l - date).num_days()).clamp(0, 29) as f64;
        PAD_LEFT + plot_w * (29.0 - back) / 29.0
    };
    let y_of = |v: i64| -> f64 { PAD_TOP + plot_h * (1.0 - v as f64 / max) };
    let line = |pick: fn(&(String, i64, i64, i64)) -> i64| -> String {
        p.days
            .iter()
            .zip(&dates)
            .filter_map(|(d, date)| {
                date.map(|date| format!("{:.1},{:.1}", x_of(date), y_of(pick(d))))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let label = format!(
        "{}: the last 30 days. Now {} licenses, {} assigned, {} waitlisted; {} days recorded.",
        p.product,
        p.capacity,
        p.assigned,
        p.waitlisted,
        p.days.len()
    );
    let y_top = format!("{}", max as i64);
    html! {
        svg role="img" aria-label=(label) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            // Axes and the scale.
            line x1=(PAD_LEFT) y1=(PAD_TOP) x2=(PAD_LEFT) y2=(HEIGHT - PAD_BOTTOM) stroke="#4a525c" stroke-width="1" {}
            line x1=(PAD_LEFT) y1=(HEIGHT - PAD_BOTTOM) x2=(WIDTH - 8.0) y2=(HEIGHT - PAD_BOTTOM) stroke="#4a525c" stroke-width="1" {}
            text x=(PAD_LEFT - 4.0) y=(PAD_TOP + 10.0) text-anchor="end" font-size="11" fill="#1b1f24" { (y_top) }
            text x=(PAD_LEFT - 4.0) y=(HEIGHT - PAD_BOTTOM) text-anchor="end" font-size="11" fill="#1b1f24" { "0" }
            text x=(PAD_LEFT) y=(HEIGHT - 6.0) font-size="11" fill="#1b1f24" { "30 days ago" }
            text x=(WIDTH - 8.0) y=(HEIGHT - 6.0) text-anchor="end" font-size="11" fill="#1b1f24" { "today" }
            (series(&line(|d| d.1), "#4a525c", Some("6 4")))
            (series(&line(|d| d.2), "#0b57a4", None))
            (series(&line(|d| d.3), "#a1141b", Some("2 3")))
        }
    }
}

/// One line of the chart; a single day is drawn as a dot so it still shows.
fn series(points: &str, colour: &str, dash: Option<&str>) -> Markup {
    if points.is_empty() {
        return html! {};
    }
    if !points.contains(' ') {
        let (x, y) = points.split_once(',').unwrap_or(("0", "0"));
        return html! { circle cx=(x) cy=(y) r="3.5" fill=(colour) {} };
    }
    html! {
        polyline points=(points) fill="none" stroke=(colour) stroke-width="2.5"
            stroke-dasharray=[dash] stroke-linejoin="round" {}
    }
}

fn connections(list: &[ConnectionOverview]) -> Markup {
    if list.is_empty() {
        return html! {
            p { "No connections yet: create one on the " a href="/console/connections" { "Connections" } " page." }
        };
    }
    html! {
        div class="table-wrap" {
            table {
                caption class="muted" { "Requests of the last 7 days" }
                thead {
                    tr {
                        th scope="col" { "Connection" }
                        th scope="col" { "Status" }
                        th scope="col" { "Last request" }
                        th scope="col" { "Outcome" }
                        th scope="col" class="num" { "Requests" }
                        th scope="col" class="num" { "Error rate" }
                    }
                }
                tbody {
                    @for c in list {
                        tr {
                            th scope="row" {
                                a href={ "/console/sync-log?connection=" (c.name) } { (c.name) }
                            }
                            td { (c.status) }
                            @match &c.last {
                                Some((at, status, http)) => {
                                    td { (at) }
                                    td { (layout::status(status)) " (" (http) ")" }
                                }
                                None => {
                                    td { "none yet" }
                                    td { "—" }
                                }
                            }
                            td class="num" { (c.requests) }
                            td class="num" {
                                @if c.requests == 0 {
                                    "—"
                                } @else {
                                    (format!("{:.1} %", 100.0 * c.failures as f64 / c.requests as f64))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
