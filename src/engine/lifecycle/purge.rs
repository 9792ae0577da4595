//! The purge: users suspended for longer than the account's `purge_suspended_after_days` are
//! deleted, each with a sync-log entry of actor `policy`. Every replica runs it hourly; on
//! PostgreSQL each takes the candidates no other holds (`FOR UPDATE SKIP LOCKED`), and each
//! deletion is conditional on the version it locked, so two replicas never purge one user
//! twice and never purge one reactivated meanwhile.

use crate::scim::resource;
use crate::scim::{ResourceKind, ScimError};
use crate::store::resources::Written;

use super::super::settings::GUARD_MAX_WINDOW_MINUTES;
use super::super::synclog::{diff, Ctx, Draft};
use super::super::Engine;

/// Users purged in one transaction.
const BATCH: i64 = 100;

impl Engine {
    /// Deletes, in every account with `purge_suspended_after_days`, the users suspended for
    /// longer; forgets deprovisionings older than the longest guard window. Returns how many
    /// users it deleted.
    pub async fn purge_suspended(&self) -> Result<u64, ScimError> {
        let now = self.clock.now();
        let accounts = {
            let mut conn = self.store.read().await?;
            conn.account_ids().await?
        };
        let forget = crate::scim::query::timestamp(
            now - chrono::Duration::minutes(GUARD_MAX_WINDOW_MINUTES as i64),
        );
        let mut total = 0;
        for account in accounts {
            let settings = {
                let mut conn = self.store.read().await?;
                self.settings_in(&mut conn, account).await?
            };
            {
                let mut tx = self.store.write().await?;
                tx.prune_deprovisions(account, &forget).await?;
                tx.commit().await?;
            }
            let Some(days) = settings.purge_suspended_after_days else {
                continue;
            };
            let cutoff =
                crate::scim::query::timestamp(now - chrono::Duration::days(i64::from(days)));
            loop {
                let (purged, full) = self.purge_batch(account, &cutoff, days).await?;
                total += purged;
                // A full batch may have more behind it; one that purged nothing would only
                // find the same users again.
                if !full || purged == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Purges up to [`BATCH`] users of one account suspended before `cutoff`, in one
    /// transaction. Returns how many it deleted, and whether the batch was full.
    async fn purge_batch(
        &self,
        account: i64,
        cutoff: &str,
        days: u32,
    ) -> Result<(u64, bool), ScimError> {
        let now = self.now();
        let ctx = Ctx::new("policy", "POLICY", "purge_suspended_after_days", None);
        let mut tx = self.store.write().await?;
        let candidates = tx.lock_purge_candidates(account, cutoff, BATCH).await?;
        if candidates.is_empty() {
            return Ok((0, false));
        }
        let set = self.rule_set(&mut tx, account).await?;
        let mut purged = 0;
        for (id, version) in &candidates {
            let Some(user) = tx.get_resource(account, ResourceKind::User, id).await? else {
                continue;
            };
            match tx
                .delete_resource(account, ResourceKind::User, id, Some(*version))
                .await?
            {
                Written::Done { .. } => {}
                // Changed or gone since it was picked: not this purge's to delete.
                Written::NotFound | Written::Stale { .. } => continue,
            }
            tx.release_identities(account, &resource::identity_keys(&user.doc))
                .await?;
            let mut changes = vec![];
            self.reconcile(&mut tx, account, &set, id, &now, &mut changes)
                .await
                .map_err(|f| f.error)?;
            let mut draft = Draft::new(Some(ResourceKind::User), "delete", Some(id));
            draft.user_name = super::super::resources::display_name(ResourceKind::User, &user.doc);
            draft.changes = diff(&user.doc, &serde_json::Map::new());
            draft.seat_changes = changes.clone();
            draft.step(format!(
                "purge: suspended since {}, longer than {days} day(s) (purge_suspended_after_days)",
                user.lifecycle.suspended_since.as_deref().unwrap_or("?")
            ));
            draft.step(format!(
                "rules and seats: {}",
                super::super::resources::seat_summary(&changes)
            ));
            draft.step("write: deleted; the sync log keeps its history");
            self.log_in(&mut tx, account, &ctx, &draft, 204).await?;
            purged += 1;
        }
        tx.commit().await?;
        Ok((purged, candidates.len() as i64 == BATCH))
    }
}
