//! Reports for admins: seat utilization per product (with the overage to true up), users
//! by status, conflicts, and sync activity per day (with requests throttled). Tables of
//! rows, so the same data serves JSON and CSV.

use serde_json::{json, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::store::resources::SharedGroupName;

use super::error::EngineError;
use super::Engine;

/// What a report's query string may say (each report reads what it needs): `days`, the
/// drift report's limit.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReportParams {
    pub days: Option<String>,
}

/// A report: column names and rows of values.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: &'static str,
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Value>>,
}

/// As JSON: `{"report": NAME, "rows": [{COLUMN: VALUE, ...}, ...]}`.
impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Row<'a>(&'a [&'static str], &'a [Value]);
        impl serde::Serialize for Row<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_map(self.0.iter().zip(self.1))
            }
        }
        let rows: Vec<Row<'_>> = self.rows.iter().map(|r| Row(&self.columns, r)).collect();
        let mut table = serializer.serialize_struct("Table", 2)?;
        table.serialize_field("report", self.name)?;
        table.serialize_field("rows", &rows)?;
        table.end()
    }
}

impl Engine {
    /// The groups of every account that share a displayName with another group of their
    /// account (named before names were unique), for `roster migrate` and `roster serve` to
    /// list: rename all but one of each set.
    pub async fn shared_group_names(&self) -> Result<Vec<SharedGroupName>, EngineError> {
        let mut conn = self.store.read().await?;
        Ok(conn.shared_group_names(None).await?)
    }

    pub async fn report(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        params: &ReportParams,
    ) -> Result<Table, EngineError> {
        if name == "drift" {
            return self.drift(ap, params.days.as_deref()).await;
        }
        let now = self.clock.now();
        let since30 = crate::scim::query::timestamp(now - chrono::Duration::days(30));
        let mut tx = self.store.read().await?;
        let account = ap.account_id;
        Ok(match name {
            "seats" => {
                let freed = tx.freed_since(account, &since30).await?;
                let mut rows = vec![];
                for p in tx.list_pools(account).await? {
                    let f = freed
                        .iter()
                        .find(|(prod, _)| *prod == p.product)
                        .map_or(0, |(_, n)| *n);
                    // The true-up: seats held over the licenses, and since when.
                    rows.push(vec![
                        json!(p.product),
                        json!(p.capacity),
                        json!(p.assigned),
                        json!((p.capacity - p.assigned).max(0)),
                        json!(p.waitlisted),
                        json!(f),
                        json!(p.allowance),
                        json!((p.assigned - p.capacity).max(0)),
                        json!(p.over_since.filter(|_| p.assigned > p.capacity)),
                    ]);
                }
                Table {
                    name: "seats",
                    columns: vec![
                        "product",
                        "capacity",
                        "assigned",
                        "free",
                        "waitlisted",
                        "freed_last_30_days",
                        "overage_allowed",
                        "overage",
                        "over_since",
                    ],
                    rows,
                }
            }
            "users" => {
                let (active, suspended, waitlisted) = tx.user_counts(account).await?;
                // Of the active, those whose deprovisioning the guard holds; of the
                // suspended, those the identity provider deleted (delete_action suspend).
                let (held, deleted_by_idp) = tx.lifecycle_counts(account).await?;
                Table {
                    name: "users",
                    columns: vec!["status", "users"],
                    rows: vec![
                        vec![json!("active"), json!(active)],
                        vec![json!("suspended"), json!(suspended)],
                        vec![json!("waitlisted_for_a_seat"), json!(waitlisted)],
                        vec![json!("total"), json!(active + suspended)],
                        vec![json!("held"), json!(held)],
                        vec![json!("deleted_by_idp"), json!(deleted_by_idp)],
                    ],
                }
            }
            "conflicts" => Table {
                name: "conflicts",
                columns: vec!["kind", "status", "conflicts"],
                rows: tx
                    .conflict_counts(account)
                    .await?
                    .into_iter()
                    .map(|(k, s, n)| vec![json!(k), json!(s), json!(n)])
                    .collect(),
            },
            // Attributes identity providers sent that no schema defines (ignored, each
            // with a note in its request's sync-log entry): register an extension to keep
            // one, or remove its mapping in the identity provider.
            "unmapped" => Table {
                name: "unmapped",
                columns: vec![
                    "connection",
                    "resource_type",
                    "attribute",
                    "count",
                    "first_seen",
                    "last_seen",
                ],
                rows: tx
                    .unmapped_report(account)
                    .await?
                    .into_iter()
                    .map(|r| {
                        vec![
                            json!(r.connection),
                            json!(r.resource_type),
                            json!(r.attribute),
                            json!(r.count),
                            json!(r.first_seen),
                            json!(r.last_seen),
                        ]
                    })
                    .collect(),
            },
            "sync" => {
                // Per day: entries by status, and requests refused with 429 (the sync log
                // holds one `throttled` entry per connection per minute, with a count).
                let mut days: std::collections::BTreeMap<String, [i64; 5]> = Default::default();
                for (day, status, n) in tx.sync_per_day(account, &since30).await? {
                    let col = match status.as_str() {
                        "success" => 0,
                        "warning" => 1,
                        "skipped" => 2,
                        "throttled" => continue,
                        _ => 3,
                    };
                    if let Some(cell) = days.entry(day).or_default().get_mut(col) {
                        *cell = n;
                    }
                }
                let since_day = since30.get(..10).unwrap_or(&since30);
                for (day, n) in tx.throttled_per_day(account, since_day).await? {
                    if let Some(cell) = days.entry(day).or_default().get_mut(4) {
                        *cell = n;
                    }
                }
                let rows = days
                    .into_iter()
                    .map(|(day, counts)| {
                        std::iter::once(json!(day))
                            .chain(counts.iter().map(|n| json!(n)))
                            .collect()
                    })
                    .collect();
                Table {
                    name: "sync",
                    columns: vec![
                        "day",
                        "success",
                        "warning",
                        "skipped",
                        "failure",
                        "throttled",
                    ],
                    rows,
                }
            }
            // Groups that share a displayName since before names were unique: each set
            // to rename until one name is left per group.
            "group_names" => Table {
                name: "group_names",
                columns: vec!["name", "id", "display_name", "created"],
                rows: tx
                    .shared_group_names(Some(account))
                    .await?
                    .into_iter()
                    .map(|g| {
                        vec![
                            json!(g.name_lc),
                            json!(g.id),
                            json!(g.display_name),
                            json!(g.created),
                        ]
                    })
                    .collect(),
            },
            other => {
                return Err(EngineError::not_found(format!(
                    "no report '{other}': the reports are seats, users, conflicts, sync, unmapped, group_names and drift"
                )))
            }
        })
    }
}
