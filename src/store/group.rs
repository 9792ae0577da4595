//! Group commit on SQLite. The one writer connection lives in a slot that write requests
//! take in turn (first come, first served). The first request of a batch opens a
//! transaction; each request runs under its own savepoint, so a failure rolls back only its
//! own work. A request that finishes while others wait hands the open transaction on and
//! waits for the batch's COMMIT; the last one (nobody waiting, the batch full, or old)
//! commits once for all and answers them. One commit, and with `--durable` one fsync,
//! covers the whole batch; nobody is answered before the commit that holds their change.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use super::direct::Direct;
use super::{Result, StoreError};

/// Most requests one commit covers.
const MAX_BATCH: usize = 128;
/// A batch older than this is committed rather than handed on, so nobody waits long for
/// the requests after theirs.
const MAX_AGE: Duration = Duration::from_millis(4);
/// How long a request waits for its turn at the writer before it gives up (busy).
const WAIT: Duration = Duration::from_secs(30);

/// A batch's outcome, sent to every request in it once it is committed (or not).
type Outcome = Option<std::result::Result<(), String>>;

struct Batch {
    started: Instant,
    /// Requests whose work is in the batch, waiting for its commit.
    members: usize,
    done: watch::Sender<Outcome>,
}

pub(super) struct Slot {
    conn: Direct,
    batch: Option<Batch>,
    /// The request holding the slot has its savepoint open (a request that ends without
    /// committing leaves it open: whoever takes the slot next rolls it back).
    open_savepoint: bool,
}

/// The writer: its slot and how many requests are queued for it.
pub(super) struct Writer {
    slot: Arc<Mutex<Slot>>,
    waiting: AtomicUsize,
}

/// A request's turn at the writer. Dropped without [`Turn::commit`], its work is rolled
/// back (by whoever takes the slot next, or by a task started for it).
pub(super) struct Turn {
    guard: Option<OwnedMutexGuard<Slot>>,
    writer: Arc<Writer>,
}

fn run(conn: &mut Direct, sql: &str) -> Result<()> {
    conn.exec(sql)
}

impl Writer {
    pub(super) fn new(conn: Direct) -> Arc<Writer> {
        Arc::new(Writer {
            slot: Arc::new(Mutex::new(Slot {
                conn,
                batch: None,
                open_savepoint: false,
            })),
            waiting: AtomicUsize::new(0),
        })
    }

    async fn take(self: &Arc<Self>) -> Result<OwnedMutexGuard<Slot>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let got = tokio::time::timeout(WAIT, self.slot.clone().lock_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        got.map_err(|_| StoreError::Busy)
    }

    /// Waits for the writer, tidies what the last holder left, and opens this request's
    /// savepoint (in the open batch, or in a new one).
    pub(super) async fn begin(self: &Arc<Self>) -> Result<Turn> {
        let guard = self.take().await?;
        let mut turn = Turn {
            guard: Some(guard),
            writer: self.clone(),
        };
        let slot = turn.slot()?;
        slot.conn.rested();
        tidy(slot)?;
        let stale = slot
            .batch
            .as_ref()
            .is_some_and(|b| b.members > 0 && b.started.elapsed() >= MAX_AGE);
        if stale {
            finish(slot);
        }
        if slot.batch.is_none() {
            run(&mut slot.conn, "BEGIN")?;
            slot.batch = Some(Batch {
                started: Instant::now(),
                members: 0,
                done: watch::Sender::new(None),
            });
        }
        run(&mut slot.conn, "SAVEPOINT req_sp")?;
        slot.open_savepoint = true;
        Ok(turn)
    }
}

/// Rolls back a savepoint the last holder left open.
fn tidy(slot: &mut Slot) -> Result<()> {
    if slot.open_savepoint {
        run(&mut slot.conn, "ROLLBACK TO SAVEPOINT req_sp")?;
        run(&mut slot.conn, "RELEASE SAVEPOINT req_sp")?;
        slot.open_savepoint = false;
    }
    Ok(())
}

/// Commits the open batch (or rolls it back if nobody's work is in it) and tells its
/// members how it went.
fn finish(slot: &mut Slot) {
    let Some(batch) = slot.batch.take() else {
        return;
    };
    let outcome = if batch.members == 0 {
        run(&mut slot.conn, "ROLLBACK").map_err(|e| e.to_string())
    } else {
        match run(&mut slot.conn, "COMMIT") {
            Ok(()) => Ok(()),
            Err(e) => {
                // The transaction may still be open: end it, so the next batch starts clean.
                let _ = run(&mut slot.conn, "ROLLBACK");
                Err(e.to_string())
            }
        }
    };
    batch.done.send_replace(Some(outcome));
}

impl Turn {
    fn slot(&mut self) -> Result<&mut Slot> {
        self.guard
            .as_deref_mut()
            .ok_or_else(|| StoreError::Corrupt("the writer's turn is over".into()))
    }

    pub(super) fn conn(&mut self) -> Option<&mut Direct> {
        self.guard.as_deref_mut().map(|s| &mut s.conn)
    }

    /// Keeps this request's work: into the batch, answered once the batch commits.
    pub(super) async fn commit(mut self) -> Result<()> {
        let mut waiting = self.writer.waiting.load(Ordering::SeqCst);
        if waiting == 0 {
            // Statements run on this thread without a pause, so the requests sharing it
            // have had no chance to queue: let them run once, and hand the batch on to any
            // that now waits for the writer (one commit for both) instead of committing
            // alone. Costs nothing measurable when nobody else is running.
            tokio::task::yield_now().await;
            waiting = self.writer.waiting.load(Ordering::SeqCst);
        }
        let slot = self.slot()?;
        run(&mut slot.conn, "RELEASE SAVEPOINT req_sp")?;
        slot.open_savepoint = false;
        let Some(batch) = slot.batch.as_mut() else {
            return Err(StoreError::Corrupt("no open batch".into()));
        };
        batch.members += 1;
        let mut done = batch.done.subscribe();
        let hand_on = waiting > 0 && batch.members < MAX_BATCH && batch.started.elapsed() < MAX_AGE;
        if !hand_on {
            finish(slot);
        }
        // Hands the open batch on (or the slot, after the commit).
        self.guard = None;
        let outcome = loop {
            tokio::select! {
                r = async { done.wait_for(Option::is_some).await.map(|o| o.clone()) } => {
                    break r.unwrap_or_else(|_| Some(Err("the batch was abandoned".into())));
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {
                    // The request it was handed to gave up waiting: nobody holds the slot,
                    // so the batch (this request's among them) is committed here.
                    if let Ok(mut slot) = self.writer.slot.clone().try_lock_owned() {
                        if tidy(&mut slot).is_ok() {
                            finish(&mut slot);
                        }
                    }
                }
            }
        };
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::Sqlx(sqlx::Error::Protocol(format!(
                "the group commit failed: {e}"
            )))),
            None => Err(StoreError::Busy),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let pending = guard.open_savepoint || guard.batch.is_some();
        drop(guard);
        // Someone queued takes the slot and tidies; if nobody is, a task ends the batch so
        // that its members are answered and no transaction stays open.
        if pending && self.writer.waiting.load(Ordering::SeqCst) == 0 {
            let writer = self.writer.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Ok(mut slot) = writer.take().await {
                        if tidy(&mut slot).is_ok() {
                            finish(&mut slot);
                        }
                    }
                });
            }
        }
    }
}
