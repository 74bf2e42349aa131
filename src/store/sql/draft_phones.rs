//! A draft's phones as stored runs (migrations/*/0018_draft_phones.sql; the runs themselves
//! are `domain::phone_runs`): read for an append under the campaign's row lock, rebuilt from
//! the recipients when they do not cover them, written back in the append's transaction, and
//! dropped when the draft is launched or cancelled.

use crate::domain::campaign::NewRecipient;
use crate::domain::phone_runs::{DraftPhones, PhoneRun};
use crate::store::{AppendedRows, RecipientSource, StoreResult};

/// An append's recipients as a [`RecipientSource`] for the bulk insert, without those whose
/// phone the draft has already; it notes what it leaves out and what goes in.
pub(in crate::store) struct NewToDraft<'a> {
    source: &'a mut dyn RecipientSource,
    draft: &'a DraftPhones,
    /// Counts of what went in (but `added`, which the insert knows), and the phones left out.
    rows: AppendedRows,
    /// The keys of the phones that went in: the append's run.
    keys: Vec<u64>,
    chunk: Vec<NewRecipient>,
}

impl<'a> NewToDraft<'a> {
    pub(in crate::store) fn new(
        source: &'a mut dyn RecipientSource,
        draft: &'a DraftPhones,
    ) -> Self {
        Self {
            source,
            draft,
            rows: AppendedRows::default(),
            keys: Vec::new(),
            chunk: Vec::new(),
        }
    }

    /// What went in and what was left out (`added` is not counted here), and the run of the
    /// phones that went in.
    pub(in crate::store) fn into_rows(self) -> (AppendedRows, PhoneRun) {
        (self.rows, PhoneRun::from_keys(self.keys))
    }
}

impl RecipientSource for NewToDraft<'_> {
    fn next_chunk(&mut self, max: usize) -> StoreResult<&[NewRecipient]> {
        self.chunk = self.take_chunk(max)?;
        Ok(&self.chunk)
    }

    /// The source's next chunk without the draft's phones; a chunk that had only those is
    /// skipped, so that an empty chunk still means the end.
    fn take_chunk(&mut self, max: usize) -> StoreResult<Vec<NewRecipient>> {
        loop {
            let mut chunk = self.source.take_chunk(max)?;
            if chunk.is_empty() {
                return Ok(chunk);
            }
            if !self.draft.is_empty() {
                let (draft, dropped) = (self.draft, &mut self.rows.already_in_campaign);
                chunk.retain(|r| {
                    let had = r.phone.key().is_some_and(|k| draft.contains(k));
                    if had {
                        dropped.push(r.phone.as_str().to_owned());
                    }
                    !had
                });
            }
            if chunk.is_empty() {
                continue;
            }
            for r in &chunk {
                self.keys.extend(r.phone.key());
                if r.opted_out {
                    self.rows.opted_out += 1;
                } else if r.no_consent {
                    self.rows.no_consent += 1;
                }
            }
            return Ok(chunk);
        }
    }

    fn duplicates_removed(&self) -> u64 {
        self.source.duplicates_removed()
    }
}

/// Writes `impl $store { draft_phones_in, write_draft_phones, drop_draft_phones }`.
macro_rules! draft_phones_store {
    ($store:ty) => {
        const _: () = {
            use futures_util::TryStreamExt;
            use $crate::domain::phone::key_of;
            use $crate::domain::phone_runs::{DraftPhones, MAX_RUNS, PhoneRun};
            use $crate::store::sql::campaigns::CampaignSql;
            use $crate::store::sql::prelude::*;

            impl $store {
                /// Draft `seq`'s phones, for an append that holds its row: its runs, or, when
                /// they do not hold its `count` recipients (a draft made by a create, or
                /// before migrations/*/0018), one run read from the recipients, and `true`
                /// (the stored runs are then to be replaced).
                pub(in crate::store) async fn draft_phones_in(
                    conn: &mut Conn<Self>,
                    seq: i64,
                    count: i64,
                ) -> StoreResult<(DraftPhones, bool)> {
                    let stored: Vec<(i32, i32, Vec<u8>)> = sqlx::query_as(
                        "SELECT run, piece, phones FROM draft_phones WHERE campaign_seq = $1 \
                         ORDER BY run, piece",
                    )
                    .bind(seq)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?;
                    let pieces = stored
                        .into_iter()
                        .map(|(run, piece, bytes)| {
                            PhoneRun::from_bytes(bytes).map(|p| (run, p)).map_err(|e| {
                                corrupt(format!("draft {seq}'s run {run} piece {piece}: {e}"))
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    let phones = DraftPhones::from_pieces(pieces)
                        .map_err(|e| corrupt(format!("draft {seq}: {e}")))?;
                    if phones.len() as i64 == count {
                        return Ok((phones, false));
                    }
                    // Read as a stream: eight bytes a phone held, not a string each.
                    let mut keys = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
                    let mut all = sqlx::query_scalar::<_, String>(AssertSqlSafe(format!(
                        "SELECT phone FROM recipients WHERE {}",
                        Self::AFTER_POSITION
                    )))
                    .bind(seq)
                    .bind(-1i64)
                    .fetch(&mut *conn);
                    while let Some(phone) = all.try_next().await.map_err(backend)? {
                        keys.push(
                            key_of(&phone)
                                .ok_or_else(|| corrupt(format!("recipient phone {phone:?}")))?,
                        );
                    }
                    drop(all);
                    Ok((DraftPhones::from_run(PhoneRun::from_keys(keys)), true))
                }

                /// Stores draft `seq`'s phones after an append added `added`: one more run, or
                /// (after a rebuild, or past [`MAX_RUNS`]) every run merged into one.
                pub(in crate::store) async fn write_draft_phones(
                    conn: &mut Conn<Self>,
                    seq: i64,
                    phones: DraftPhones,
                    rebuilt: bool,
                    added: PhoneRun,
                ) -> StoreResult<()> {
                    if added.is_empty() && !rebuilt {
                        return Ok(());
                    }
                    let (run, replace) = if rebuilt || phones.runs() + 1 > MAX_RUNS {
                        (0, true)
                    } else {
                        (phones.runs() as i32, false)
                    };
                    let run_bytes = if replace {
                        phones.merged_with(added)
                    } else {
                        added
                    };
                    if replace {
                        sqlx::query("DELETE FROM draft_phones WHERE campaign_seq = $1")
                            .bind(seq)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                    for (piece, bytes) in run_bytes.pieces().enumerate() {
                        sqlx::query(
                            "INSERT INTO draft_phones (campaign_seq, run, piece, phones) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(seq)
                        .bind(run)
                        .bind(i32::try_from(piece).unwrap_or(i32::MAX))
                        .bind(bytes)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    }
                    Ok(())
                }

                /// Forgets draft `seq`'s phones (it is launched or cancelled: nothing appends
                /// to it any more).
                pub(in crate::store) async fn drop_draft_phones(
                    conn: &mut Conn<Self>,
                    seq: i64,
                ) -> StoreResult<()> {
                    sqlx::query("DELETE FROM draft_phones WHERE campaign_seq = $1")
                        .bind(seq)
                        .execute(&mut *conn)
                        .await
                        .map_err(backend)?;
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use draft_phones_store;
