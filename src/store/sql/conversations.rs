//! [`ConversationStore`](crate::store::ConversationStore) written once for both backends (see
//! `sql/mod.rs` for the mechanism).
//!
//! Locks (PostgreSQL; SQLite's single writer serialises these transactions anyway) are taken
//! in one order everywhere: conversation row, the number's opt-out lock
//! ([`super::consents::ConsentSql::lock_phone`]), opt-out row, `consent_state` rows, so these
//! transactions cannot deadlock. `create_reply` holds the conversation row and then that lock
//! while it checks the opt-out, so an opt-out committing meanwhile is either seen (nothing is
//! queued) or waits for the reply.

/// Writes `impl ConversationStore for $store`.
macro_rules! conversation_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::sql::consents::ConsentSql;
            use $crate::store::sql::prelude::*;

            impl $store {
                /// Conversations with their latest message.
                async fn with_last_messages(
                    &self,
                    rows: Vec<ConversationRow>,
                ) -> StoreResult<Vec<Conversation>> {
                    let mut list: Vec<Conversation> = rows.into_iter().map(Conversation::from).collect();
                    if list.is_empty() {
                        return Ok(list);
                    }
                    let seqs: Vec<i64> = list.iter().map(|c| c.seq).collect();
                    let rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(format!(
                        "{MESSAGE_SELECT} WHERE m.seq IN (SELECT MAX(seq) FROM messages \
                         WHERE conversation_seq {} GROUP BY conversation_seq)",
                        Self::IN_LIST_1
                    )))
                    .bind(Self::id_list(&seqs))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let mut latest: HashMap<i64, Message> = HashMap::new();
                    for row in rows {
                        latest.insert(row.conversation_seq, Message::try_from(row)?);
                    }
                    for c in &mut list {
                        c.last_message = latest.remove(&c.seq);
                    }
                    Ok(list)
                }

                /// A conversation's internal key.
                async fn conversation_seq(&self, account: &AccountId, id: &ConversationId) -> StoreResult<i64> {
                    sqlx::query_scalar("SELECT seq FROM conversations WHERE id = $1 AND account_id = $2")
                        .bind(id.as_str())
                        .bind(account.as_str())
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(backend)?
                        .ok_or(StoreError::NotFound)
                }
            }

            #[async_trait]
            impl ConversationStore for $store {
                async fn latest_campaign_sent(
                    &self,
                    account: &AccountId,
                    our_number: &str,
                    their_number: &str,
                ) -> StoreResult<Option<CampaignSent>> {
                    // Sent messages only, so the phone's entries in `recipients_recent` (whose
                    // predicate the COALESCE term repeats; migrations/*/0013) find them.
                    let row = sqlx::query_as::<_, CampaignSentRow>(
                        "SELECT c.id, c.name, c.agent_id, r.submitted_at, r.body, r.variables \
                         FROM recipients r JOIN campaigns c ON c.seq = r.campaign_seq \
                         WHERE r.phone = $1 AND r.from_number = $2 AND c.account_id = $3 \
                           AND c.kind = 'campaign' AND r.submitted_at IS NOT NULL \
                           AND COALESCE(r.submitted_at, r.inflight_since) IS NOT NULL \
                         ORDER BY r.submitted_at DESC, r.id DESC LIMIT 1",
                    )
                    .bind(their_number)
                    .bind(our_number)
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?;
                    Ok(row.map(CampaignSent::from))
                }

                async fn receive_inbound(&self, new: &NewInbound) -> StoreResult<Option<ReceivedInbound>> {
                    let now = stored(new.received_at);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    if let Some(sid) = &new.twilio_sid {
                        let seen: bool = sqlx::query_scalar(
                            "SELECT EXISTS (SELECT 1 FROM messages WHERE twilio_sid = $1)",
                        )
                        .bind(sid)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(backend)?;
                        if seen {
                            return Ok(None);
                        }
                    }
                    // The conversation row first (see the module comment on lock order).
                    let (conversation_seq, conversation_id): (i64, String) = sqlx::query_as(
                        "INSERT INTO conversations (id, account_id, our_number, their_number, \
                         agent_id, campaign_id, created_at, last_message_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                         ON CONFLICT (account_id, our_number, their_number) DO UPDATE SET \
                             agent_id = excluded.agent_id, campaign_id = excluded.campaign_id, \
                             last_message_at = excluded.last_message_at \
                         RETURNING seq, id",
                    )
                    .bind(ConversationId::generate().as_str())
                    .bind(new.account_id.as_str())
                    .bind(&new.our_number)
                    .bind(&new.their_number)
                    .bind(new.agent_id.as_ref().map(|a| a.as_str()))
                    .bind(new.campaign_id.as_ref().map(|c| c.as_str()))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let conversation_id = ConversationId::from_trusted(conversation_id);

                    let opt_out_changed = match (new.keyword, &new.consent) {
                        (Some(Keyword::OptOut), Some(event)) => {
                            Self::opt_out_in(&mut tx, &new.account_id, event, Some(new.body.trim()))
                                .await?
                        }
                        (Some(Keyword::OptIn), Some(event)) => {
                            Self::opt_in_in(&mut tx, &new.account_id, event).await?.0
                        }
                        _ => false,
                    };

                    let message_id = MessageId::generate();
                    let inserted = sqlx::query(
                        "INSERT INTO messages (id, conversation_seq, direction, kind, body, \
                         twilio_sid, reply_status, created_at) \
                         VALUES ($1, $2, 'inbound', $3, $4, $5, $6, $7)",
                    )
                    .bind(message_id.as_str())
                    .bind(conversation_seq)
                    .bind(new.keyword.map_or("message", Keyword::as_str))
                    .bind(&new.body)
                    .bind(&new.twilio_sid)
                    .bind(new.reply_status.map(ReplyStatus::as_str))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend);
                    match inserted {
                        Ok(_) => {}
                        // The same sid stored concurrently (on any node): a duplicate delivery.
                        // Dropping the transaction rolls back what it did.
                        Err(StoreError::Conflict(_)) => return Ok(None),
                        Err(e) => return Err(e),
                    }

                    let confirmation = new
                        .confirmation
                        .clone()
                        .filter(|_| consent::confirms(new.keyword, opt_out_changed));
                    if let Some(text) = &confirmation {
                        sqlx::query(
                            "INSERT INTO messages (id, conversation_seq, direction, kind, body, \
                             created_at) VALUES ($1, $2, 'outbound', 'confirmation', $3, $4)",
                        )
                        .bind(MessageId::generate().as_str())
                        .bind(conversation_seq)
                        .bind(text)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    }
                    tx.commit().await.map_err(backend)?;
                    Ok(Some(ReceivedInbound {
                        conversation_id,
                        message_id,
                        opt_out_changed,
                        confirmation,
                    }))
                }

                async fn agent_work(
                    &self,
                    account: &AccountId,
                    message: &MessageId,
                    history_limit: u32,
                ) -> StoreResult<AgentWork> {
                    #[derive(sqlx::FromRow)]
                    struct WorkRow {
                        seq: i64,
                        reply_status: Option<String>,
                        conversation_seq: i64,
                        conversation_id: String,
                        our_number: String,
                        their_number: String,
                        agent_id: Option<String>,
                        superseded: bool,
                        opted_out: bool,
                    }
                    let row = sqlx::query_as::<_, WorkRow>(
                        "SELECT m.seq, m.reply_status, c.seq AS conversation_seq, \
                             c.id AS conversation_id, c.our_number, c.their_number, c.agent_id, \
                             EXISTS (SELECT 1 FROM messages n WHERE n.conversation_seq = c.seq \
                                 AND n.direction = 'inbound' AND n.seq > m.seq \
                                 AND n.reply_status = 'pending') AS superseded, \
                             EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = c.account_id \
                                 AND o.phone = c.their_number) AS opted_out \
                         FROM messages m JOIN conversations c ON c.seq = m.conversation_seq \
                         WHERE m.id = $1 AND c.account_id = $2",
                    )
                    .bind(message.as_str())
                    .bind(account.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?;
                    let agent = match row.agent_id {
                        None => None,
                        Some(id) => sqlx::query_scalar::<_, String>(
                            "SELECT system_prompt FROM agents WHERE id = $1 AND account_id = $2",
                        )
                        .bind(&id)
                        .bind(account.as_str())
                        .fetch_optional(self.read_pool())
                        .await
                        .map_err(backend)?
                        .map(|prompt| (AgentId::from_trusted(id), prompt)),
                    };
                    let campaign = self
                        .latest_campaign_sent(account, &row.our_number, &row.their_number)
                        .await?;
                    // Each answer right after the message it answers, newest first, then
                    // reversed; outbound messages that never left are not history.
                    let turns: Vec<(String, String)> = sqlx::query_as(
                        "SELECT m.direction, m.body FROM messages m \
                         LEFT JOIN recipients r ON r.id = m.recipient_id \
                         WHERE m.conversation_seq = $1 AND COALESCE(m.reply_to_seq, m.seq) <= $2 \
                           AND NOT (r.id IS NOT NULL AND r.twilio_sid IS NULL \
                                    AND r.status IN ('failed', 'cancelled')) \
                         ORDER BY COALESCE(m.reply_to_seq, m.seq) DESC, m.seq DESC LIMIT $3",
                    )
                    .bind(row.conversation_seq)
                    .bind(row.seq)
                    .bind(history_limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    let mut history = Vec::with_capacity(turns.len());
                    for (direction, body) in turns.into_iter().rev() {
                        let direction = Direction::parse(&direction)
                            .ok_or_else(|| corrupt(format!("message direction {direction:?}")))?;
                        history.push((direction, body));
                    }
                    Ok(AgentWork {
                        account_id: account.clone(),
                        conversation_id: ConversationId::from_trusted(row.conversation_id),
                        our_number: row.our_number,
                        their_number: row.their_number,
                        reply_status: row.reply_status.as_deref().and_then(ReplyStatus::parse),
                        superseded: row.superseded,
                        opted_out: row.opted_out,
                        agent,
                        campaign,
                        history,
                    })
                }

                async fn set_reply_status(
                    &self,
                    message: &MessageId,
                    status: ReplyStatus,
                    error: Option<&str>,
                ) -> StoreResult<()> {
                    sqlx::query("UPDATE messages SET reply_status = $1, reply_error = $2 WHERE id = $3")
                        .bind(status.as_str())
                        .bind(error)
                        .bind(message.as_str())
                        .execute(self.write_pool())
                        .await
                        .map_err(backend)?;
                    Ok(())
                }

                async fn create_reply(&self, reply: &NewReply) -> StoreResult<bool> {
                    let now = stored(reply.now);
                    let mut tx = self.write_pool().begin().await.map_err(backend)?;
                    // The conversation row, then the person's opt-out lock, then the check (a
                    // statement of its own, so it sees whatever committed while this waited).
                    let (inbound_seq, conversation_seq, our_number, their_number): (
                        i64,
                        i64,
                        String,
                        String,
                    ) = sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT m.seq, c.seq, c.our_number, c.their_number \
                         FROM messages m JOIN conversations c ON c.seq = m.conversation_seq \
                         WHERE m.id = $1 AND c.account_id = $2{}",
                        Self::FOR_NO_KEY_UPDATE_OF_C
                    )))
                    .bind(reply.inbound_id.as_str())
                    .bind(reply.account_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?;
                    Self::lock_phone(&mut tx, &reply.account_id, &their_number).await?;
                    let opted_out: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE account_id = $1 AND phone = $2)",
                    )
                    .bind(reply.account_id.as_str())
                    .bind(&their_number)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let outcome = ReplyStatus::of_answer(opted_out);
                    sqlx::query(
                        "UPDATE messages SET reply_status = $1, \
                         reply_error = CASE WHEN $1 = 'answered' THEN NULL ELSE reply_error END \
                         WHERE id = $2",
                    )
                        .bind(outcome.as_str())
                        .bind(reply.inbound_id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    if opted_out {
                        tx.commit().await.map_err(backend)?;
                        return Ok(false);
                    }
                    // No agent_id: a reply campaign must never keep its agent from being deleted.
                    let campaign_seq: i64 = sqlx::query_scalar(
                        "INSERT INTO campaigns (id, account_id, name, message_template, \
                         from_numbers, status, source, kind, created_at, started_at) \
                         VALUES ($1, $2, $3, $4, $5, 'running', 'api', 'reply', $6, $6) \
                         RETURNING seq",
                    )
                    .bind(reply.campaign_id.as_str())
                    .bind(reply.account_id.as_str())
                    .bind(reply_campaign_name(&their_number))
                    .bind(&reply.body)
                    .bind(Json([&our_number]))
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    let recipient_id: i64 = sqlx::query_scalar(
                        "INSERT INTO recipients (campaign_seq, position, phone, variables, body, \
                         segments, from_number, status, updated_at) \
                         VALUES ($1, 0, $2, $3, $4, $5, $6, 'pending', $7) RETURNING id",
                    )
                    .bind(campaign_seq)
                    .bind(&their_number)
                    .bind(Json(serde_json::Map::new()))
                    .bind(&reply.body)
                    .bind(reply.segments as i32)
                    .bind(&our_number)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
                    // The counts cache follows status changes by trigger; its first row comes
                    // with the recipient, as for every campaign (the queue-depth gauge reads it).
                    sqlx::query(Self::INSERT_COUNTS)
                        .bind(campaign_seq)
                        .bind(RecipientStatus::Pending.as_str())
                        .bind(1i64)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    let mut tallies = $crate::store::sql::tallies::NewTallies::default();
                    tallies.add_one(&our_number, reply.segments, None);
                    Self::write_tallies(&mut tx, campaign_seq, &tallies).await?;
                    sqlx::query(
                        "INSERT INTO messages (id, conversation_seq, direction, kind, body, \
                         recipient_id, reply_to_seq, created_at) \
                         VALUES ($1, $2, 'outbound', 'agent', $3, $4, $5, $6)",
                    )
                    .bind(reply.message_id.as_str())
                    .bind(conversation_seq)
                    .bind(&reply.body)
                    .bind(recipient_id)
                    .bind(inbound_seq)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                    sqlx::query("UPDATE conversations SET last_message_at = $1 WHERE seq = $2")
                        .bind(now)
                        .bind(conversation_seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(backend)?;
                    tx.commit().await.map_err(backend)?;
                    Ok(true)
                }

                async fn list_conversations(
                    &self,
                    account: &AccountId,
                    before: Option<(OffsetDateTime, i64)>,
                    limit: u32,
                ) -> StoreResult<Vec<Conversation>> {
                    let (at, seq) = before.map_or((END_OF_TIME, i64::MAX), |(t, s)| (stored(t), s));
                    // A row comparison: (a, b) < (x, y) is a < x OR (a = x AND b < y), and walks
                    // the (account_id, last_message_at, seq) index.
                    let rows = sqlx::query_as::<_, ConversationRow>(AssertSqlSafe(format!(
                        "{CONVERSATION_SELECT} WHERE c.account_id = $1 \
                         AND (c.last_message_at, c.seq) < ($2, $3) \
                         ORDER BY c.last_message_at DESC, c.seq DESC LIMIT $4"
                    )))
                    .bind(account.as_str())
                    .bind(at)
                    .bind(seq)
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    self.with_last_messages(rows).await
                }

                async fn get_conversation(
                    &self,
                    account: &AccountId,
                    id: &ConversationId,
                ) -> StoreResult<Conversation> {
                    let row = sqlx::query_as::<_, ConversationRow>(AssertSqlSafe(format!(
                        "{CONVERSATION_SELECT} WHERE c.account_id = $1 AND c.id = $2"
                    )))
                    .bind(account.as_str())
                    .bind(id.as_str())
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound)?;
                    let mut list = self.with_last_messages(vec![row]).await?;
                    Ok(list.remove(0))
                }

                async fn list_messages(
                    &self,
                    account: &AccountId,
                    id: &ConversationId,
                    after: Option<i64>,
                    limit: u32,
                ) -> StoreResult<Vec<Message>> {
                    let seq = self.conversation_seq(account, id).await?;
                    let rows = sqlx::query_as::<_, MessageRow>(AssertSqlSafe(format!(
                        "{MESSAGE_SELECT} WHERE m.conversation_seq = $1 AND m.seq > $2 \
                         ORDER BY m.seq LIMIT $3"
                    )))
                    .bind(seq)
                    .bind(after.unwrap_or(-1))
                    .bind(limit as i64)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(backend)?;
                    rows.into_iter().map(Message::try_from).collect()
                }
            }
        };
    };
}

pub(in crate::store) use conversation_store;
