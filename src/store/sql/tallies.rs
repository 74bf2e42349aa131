//! The caches of a campaign's queue per sending number and of its errors by code
//! (migrations/*/0015_tallies.sql): what new recipients add to them, gathered while they are
//! inserted and written in the same transaction (later changes are the triggers' work).

use std::collections::HashMap;

use crate::domain::campaign::NewRecipient;
use crate::domain::status::Refusal;

/// What a batch of new recipients adds to the caches.
#[derive(Debug, Default)]
pub(in crate::store) struct NewTallies {
    /// Per sending number: pending recipients and their segments.
    pub queues: HashMap<String, (i64, i64)>,
    /// Per error code (failed at once): recipients and the code's message.
    pub errors: HashMap<&'static str, (i64, &'static str)>,
}

impl NewTallies {
    /// Adds new recipients (pending, or failed at once when refused).
    pub fn add(&mut self, rows: &[NewRecipient]) {
        for r in rows {
            self.add_one(
                r.from_number.as_str(),
                r.segments,
                Refusal::of_new(r.opted_out, r.no_consent),
            );
        }
    }

    /// Adds one new recipient sent from `from_number`, refused at once or pending.
    pub fn add_one(&mut self, from_number: &str, segments: u32, refusal: Option<Refusal>) {
        match refusal {
            Some(r) => {
                let e = self.errors.entry(r.code).or_insert((0, r.message));
                e.0 += 1;
            }
            None => {
                if let Some(q) = self.queues.get_mut(from_number) {
                    q.0 += 1;
                    q.1 += i64::from(segments);
                } else {
                    self.queues
                        .insert(from_number.to_owned(), (1, i64::from(segments)));
                }
            }
        }
    }
}

/// Writes `impl $store { write_tallies }`: adds [`NewTallies`] to campaign `seq`'s rows
/// (PostgreSQL: its own, `slot = 0`) with the backend's `ADD_QUEUE` and `ADD_ERRORS`.
macro_rules! tallies_writer {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::prelude::*;
            use $crate::store::sql::tallies::NewTallies;

            impl $store {
                /// Adds new recipients' tallies to campaign `seq`'s caches, in `conn`'s
                /// transaction.
                pub(in crate::store) async fn write_tallies(
                    conn: &mut Conn<Self>,
                    seq: i64,
                    tallies: &NewTallies,
                ) -> StoreResult<()> {
                    let mut queues: Vec<_> = tallies.queues.iter().collect();
                    queues.sort();
                    for (number, (pending, segments)) in queues {
                        sqlx::query(Self::ADD_QUEUE)
                            .bind(seq)
                            .bind(number.as_str())
                            .bind(*pending)
                            .bind(*segments)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                    let mut errors: Vec<_> = tallies.errors.iter().collect();
                    errors.sort();
                    for (code, (n, message)) in errors {
                        sqlx::query(Self::ADD_ERRORS)
                            .bind(seq)
                            .bind(*code)
                            .bind(*n)
                            .bind(*message)
                            .execute(&mut *conn)
                            .await
                            .map_err(backend)?;
                    }
                    Ok(())
                }
            }
        };
    };
}

pub(in crate::store) use tallies_writer;
