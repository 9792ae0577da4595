//! Products as licenses an identity provider can see (`/Licenses`, read-only): the account's
//! pools, filtered and paged in memory (an account has few products), each read logged like
//! any other. Assigning one is an entitlement on the user (`seats.rs`).

use crate::auth::Principal;
use crate::scim::license::{License, LicenseQuery};
use crate::scim::ScimError;

use super::synclog::{Ctx, Draft};
use super::Engine;

impl Engine {
    /// The licenses a list request selects: how many in all, and the page.
    pub async fn licenses(
        &self,
        p: &Principal,
        q: &LicenseQuery,
        ctx: &Ctx,
    ) -> Result<(u64, Vec<License>), ScimError> {
        let r = async {
            let all = self.all_licenses(p).await?;
            q.select(self.registry(), all)
        }
        .await;
        let mut draft = license_draft("list", None);
        if let Ok((total, _)) = &r {
            draft.step(format!("match: {total} License(s)"));
        }
        let status = r.as_ref().map_or_else(ScimError::status, |_| 200);
        self.log_read(p.account_id, ctx, &draft, status, r.as_ref().err());
        r
    }

    /// One license by id (the product's name).
    pub async fn license(&self, p: &Principal, id: &str, ctx: &Ctx) -> Result<License, ScimError> {
        let r = async {
            self.all_licenses(p)
                .await?
                .into_iter()
                .find(|l| l.name == id)
                .ok_or_else(|| ScimError::not_found(format!("License {id} not found")))
        }
        .await;
        let draft = license_draft("read", Some(id));
        let status = r.as_ref().map_or_else(ScimError::status, |_| 200);
        self.log_read(p.account_id, ctx, &draft, status, r.as_ref().err());
        r
    }

    /// Every product with a license pool, by name: the products an entitlement may name.
    async fn all_licenses(&self, p: &Principal) -> Result<Vec<License>, ScimError> {
        let mut conn = self.store.read().await?;
        Ok(conn
            .list_pools(p.account_id)
            .await?
            .into_iter()
            .map(|pool| License {
                name: pool.product,
                capacity: pool.capacity,
                assigned: pool.assigned,
                waitlisted: pool.waitlisted,
            })
            .collect())
    }
}

fn license_draft(action: &'static str, id: Option<&str>) -> Draft {
    let mut draft = Draft::new(None, action, id);
    draft.resource_type = Some("License");
    draft
}
