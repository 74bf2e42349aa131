//! [`ReplyStore`] on SQLite: conversations, messages, opt-outs and consent records.
//!
//! Writes go through the single-connection `writer` pool like every other write (see
//! `sqlite`), so a keyword's opt-out, its consent record and the stored message commit
//! together or not at all.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, SqliteConnection};
use time::OffsetDateTime;

use super::replies::*;
use super::sqlite::{backend, corrupt, from_ms, to_ms};
use super::{SqliteStore, StoreError, StoreResult};
use crate::domain::consent::ConsentStatus;
use crate::domain::ids::{AccountId, AgentId, CampaignId, ConsentId, ConversationId, MessageId};
use crate::domain::keywords::Keyword;
use crate::domain::reply::Direction;
use crate::domain::status::RecipientStatus;

/// A message with its delivery status (from the reply's recipient row, for outbound ones).
const MESSAGE_SELECT: &str = "SELECT m.seq, m.id, m.conversation_seq, m.direction, m.kind, m.body, \
     m.reply_status, m.reply_error, m.created_at, COALESCE(m.twilio_sid, r.twilio_sid) AS sid, \
     r.status AS delivery, r.error_code, r.error_message \
     FROM messages m LEFT JOIN recipients r ON r.id = m.recipient_id";

/// A conversation with whether its person is opted out now.
const CONVERSATION_SELECT: &str = "SELECT c.seq, c.id, c.our_number, c.their_number, c.agent_id, \
     c.campaign_id, c.created_at, c.last_message_at, \
     EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = c.account_id AND o.phone = c.their_number) AS opted_out \
     FROM conversations c";

fn message_from_row(row: &SqliteRow) -> StoreResult<Message> {
    let direction: String = row.get("direction");
    let reply_status: Option<String> = row.get("reply_status");
    let delivery: Option<String> = row.get("delivery");
    Ok(Message {
        seq: row.get("seq"),
        id: MessageId::from_trusted(row.get("id")),
        direction: Direction::parse(&direction)
            .ok_or_else(|| corrupt(format!("message direction {direction:?}")))?,
        kind: row.get("kind"),
        body: row.get("body"),
        twilio_sid: row.get("sid"),
        status: delivery
            .map(|s| {
                RecipientStatus::parse(&s).ok_or_else(|| corrupt(format!("recipient status {s:?}")))
            })
            .transpose()?,
        error_code: row.get("error_code"),
        error_message: row.get("error_message"),
        reply_status: reply_status
            .map(|s| ReplyStatus::parse(&s).ok_or_else(|| corrupt(format!("reply status {s:?}"))))
            .transpose()?,
        reply_error: row.get("reply_error"),
        created_at: from_ms(row.get("created_at")),
    })
}

fn conversation_from_row(row: &SqliteRow) -> Conversation {
    Conversation {
        seq: row.get("seq"),
        id: ConversationId::from_trusted(row.get("id")),
        our_number: row.get("our_number"),
        their_number: row.get("their_number"),
        agent_id: row.get("agent_id"),
        campaign_id: row.get("campaign_id"),
        opted_out: row.get("opted_out"),
        created_at: from_ms(row.get("created_at")),
        last_message_at: from_ms(row.get("last_message_at")),
        last_message: None,
    }
}

fn consent_from_row(row: &SqliteRow) -> StoreResult<ConsentRecord> {
    let status: String = row.get("status");
    Ok(ConsentRecord {
        seq: row.get("seq"),
        id: ConsentId::from_trusted(row.get("id")),
        phone: row.get("phone"),
        status: ConsentStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("consent status {status:?}")))?,
        source: row.get("source"),
        evidence: row.get("evidence"),
        occurred_at: from_ms(row.get("occurred_at")),
        recorded_at: from_ms(row.get("recorded_at")),
    })
}

fn opt_out_from_row(r: &SqliteRow) -> OptOut {
    OptOut {
        phone: r.get("phone"),
        source: r.get("source"),
        reason: r.get("reason"),
        created_at: from_ms(r.get("created_at")),
    }
}

fn settings_from_row(row: &SqliteRow) -> AccountSettings {
    AccountSettings {
        id: AccountId::from_trusted(row.get("id")),
        name: row.get("name"),
        help_text: row.get("help_text"),
        keyword_replies: row.get("keyword_replies"),
        created_at: from_ms(row.get("created_at")),
    }
}

/// Appends one consent record and moves the number's current consent to it when it is the
/// latest (by time given, then by order of recording).
async fn insert_consent(
    conn: &mut SqliteConnection,
    account: &AccountId,
    record: &NewConsent,
    now: OffsetDateTime,
) -> StoreResult<ConsentRecord> {
    let occurred = to_ms(record.occurred_at);
    let recorded = to_ms(now);
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO consents (id, account_id, phone, status, source, evidence, occurred_at, recorded_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(record.id.as_str())
    .bind(account.as_str())
    .bind(&record.phone)
    .bind(record.status.as_str())
    .bind(&record.source)
    .bind(&record.evidence)
    .bind(occurred)
    .bind(recorded)
    .fetch_one(&mut *conn)
    .await
    .map_err(backend)?;
    sqlx::query(
        "INSERT INTO consent_state (account_id, phone, status, occurred_at, consent_seq) \
         VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account_id, phone) DO UPDATE SET status = excluded.status, \
             occurred_at = excluded.occurred_at, consent_seq = excluded.consent_seq \
         WHERE excluded.occurred_at >= consent_state.occurred_at",
    )
    .bind(account.as_str())
    .bind(&record.phone)
    .bind(record.status.as_str())
    .bind(occurred)
    .bind(seq)
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    Ok(ConsentRecord {
        seq,
        id: record.id.clone(),
        phone: record.phone.clone(),
        status: record.status,
        source: record.source.clone(),
        evidence: record.evidence.clone(),
        occurred_at: from_ms(occurred),
        recorded_at: from_ms(recorded),
    })
}

async fn current_consent(
    conn: &mut SqliteConnection,
    account: &AccountId,
    phone: &str,
) -> StoreResult<Option<ConsentStatus>> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM consent_state WHERE account_id = ? AND phone = ?")
            .bind(account.as_str())
            .bind(phone)
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    Ok(status.as_deref().and_then(ConsentStatus::parse))
}

/// Puts the number on the opt-out list; writes a `revoked` record when that changes the list or
/// the number's consent. True when the number was not opted out before.
async fn opt_out_in(
    conn: &mut SqliteConnection,
    account: &AccountId,
    event: &ConsentEvent,
    reason: Option<&str>,
) -> StoreResult<bool> {
    let inserted = sqlx::query(
        "INSERT INTO opt_outs (account_id, phone, source, reason, created_at) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (account_id, phone) DO NOTHING",
    )
    .bind(account.as_str())
    .bind(&event.phone)
    .bind(&event.source)
    .bind(reason)
    .bind(to_ms(event.at))
    .execute(&mut *conn)
    .await
    .map_err(backend)?
    .rows_affected()
        == 1;
    let consent = current_consent(conn, account, &event.phone).await?;
    if inserted || consent != Some(ConsentStatus::Revoked) {
        insert_consent(
            conn,
            account,
            &consent_for(event, ConsentStatus::Revoked),
            event.at,
        )
        .await?;
    }
    Ok(inserted)
}

/// Takes the number off the opt-out list; writes a `granted` record when that changes the list
/// or the number's consent. Returns whether it was opted out, and the record written.
async fn opt_in_in(
    conn: &mut SqliteConnection,
    account: &AccountId,
    event: &ConsentEvent,
) -> StoreResult<(bool, Option<ConsentRecord>)> {
    let deleted = sqlx::query("DELETE FROM opt_outs WHERE account_id = ? AND phone = ?")
        .bind(account.as_str())
        .bind(&event.phone)
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected()
        == 1;
    let consent = current_consent(conn, account, &event.phone).await?;
    let record = if deleted || consent != Some(ConsentStatus::Granted) {
        Some(
            insert_consent(
                conn,
                account,
                &consent_for(event, ConsentStatus::Granted),
                event.at,
            )
            .await?,
        )
    } else {
        None
    };
    Ok((deleted, record))
}

fn consent_for(event: &ConsentEvent, status: ConsentStatus) -> NewConsent {
    NewConsent {
        id: ConsentId::generate(),
        phone: event.phone.clone(),
        status,
        source: event.source.clone(),
        evidence: event.evidence.clone(),
        occurred_at: event.at,
    }
}

impl SqliteStore {
    /// The latest message of each conversation, with its conversation's seq.
    async fn latest_messages(&self, conversation_seqs: &[i64]) -> StoreResult<Vec<(i64, Message)>> {
        if conversation_seqs.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; conversation_seqs.len()].join(",");
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.seq IN (SELECT MAX(seq) FROM messages \
             WHERE conversation_seq IN ({placeholders}) GROUP BY conversation_seq)"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for s in conversation_seqs {
            q = q.bind(s);
        }
        let rows = q.fetch_all(&self.reader).await.map_err(backend)?;
        rows.iter()
            .map(|row| Ok((row.get("conversation_seq"), message_from_row(row)?)))
            .collect()
    }

    async fn with_last_messages(
        &self,
        mut list: Vec<Conversation>,
    ) -> StoreResult<Vec<Conversation>> {
        let seqs: Vec<i64> = list.iter().map(|c| c.seq).collect();
        let mut latest = self.latest_messages(&seqs).await?;
        for c in &mut list {
            if let Some(i) = latest.iter().position(|(seq, _)| *seq == c.seq) {
                c.last_message = Some(latest.swap_remove(i).1);
            }
        }
        Ok(list)
    }

    async fn conversation_seq(&self, account: &AccountId, id: &ConversationId) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT seq FROM conversations WHERE id = ? AND account_id = ?")
            .bind(id.as_str())
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)
    }
}

#[async_trait]
impl ReplyStore for SqliteStore {
    async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings> {
        let row = sqlx::query(
            "SELECT id, name, help_text, keyword_replies, created_at FROM accounts WHERE id = ?",
        )
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(settings_from_row(&row))
    }

    async fn update_account_settings(
        &self,
        account: &AccountId,
        update: &AccountSettingsUpdate,
    ) -> StoreResult<AccountSettings> {
        let row = sqlx::query(
            "UPDATE accounts SET name = COALESCE(?1, name), \
             help_text = CASE WHEN ?2 THEN ?3 ELSE help_text END, \
             keyword_replies = COALESCE(?4, keyword_replies) \
             WHERE id = ?5 RETURNING id, name, help_text, keyword_replies, created_at",
        )
        .bind(&update.name)
        .bind(update.help_text.is_some())
        .bind(update.help_text.clone().flatten())
        .bind(update.keyword_replies)
        .bind(account.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        Ok(settings_from_row(&row))
    }

    async fn number_owner(&self, phone: &str) -> StoreResult<Option<NumberOwner>> {
        let row = sqlx::query("SELECT account_id, agent_id FROM numbers WHERE phone = ?")
            .bind(phone)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| NumberOwner {
            account_id: AccountId::from_trusted(r.get("account_id")),
            agent_id: r
                .get::<Option<String>, _>("agent_id")
                .map(AgentId::from_trusted),
        }))
    }

    async fn is_opted_out(&self, account: &AccountId, phone: &str) -> StoreResult<bool> {
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM opt_outs WHERE account_id = ? AND phone = ?)",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_one(&self.reader)
        .await
        .map_err(backend)
    }

    async fn latest_campaign_sent(
        &self,
        account: &AccountId,
        our_number: &str,
        their_number: &str,
    ) -> StoreResult<Option<CampaignSent>> {
        let row = sqlx::query(
            "SELECT c.id, c.name, c.agent_id, r.submitted_at, r.body, r.variables \
             FROM recipients r JOIN campaigns c ON c.seq = r.campaign_seq \
             WHERE r.phone = ?1 AND r.from_number = ?2 AND c.account_id = ?3 \
               AND c.kind = 'campaign' AND r.submitted_at IS NOT NULL \
             ORDER BY r.submitted_at DESC, r.id DESC LIMIT 1",
        )
        .bind(their_number)
        .bind(our_number)
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        row.map(|r| {
            let variables: String = r.get("variables");
            Ok(CampaignSent {
                campaign_id: CampaignId::from_trusted(r.get("id")),
                name: r.get("name"),
                agent_id: r
                    .get::<Option<String>, _>("agent_id")
                    .map(AgentId::from_trusted),
                sent_at: from_ms(r.get("submitted_at")),
                body: r.get("body"),
                variables: serde_json::from_str(&variables)
                    .map_err(|e| StoreError::Backend(Box::new(e)))?,
            })
        })
        .transpose()
    }

    async fn receive_inbound(&self, new: &NewInbound) -> StoreResult<Option<ReceivedInbound>> {
        let now = to_ms(new.received_at);
        let mut tx = self.writer.begin().await.map_err(backend)?;
        if let Some(sid) = &new.twilio_sid {
            let seen: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE twilio_sid = ?)")
                    .bind(sid)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
            if seen {
                return Ok(None);
            }
        }
        let row = sqlx::query(
            "INSERT INTO conversations (id, account_id, our_number, their_number, agent_id, \
             campaign_id, created_at, last_message_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
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
        let conversation_seq: i64 = row.get("seq");
        let conversation_id = ConversationId::from_trusted(row.get("id"));

        let opt_out_changed = match (new.keyword, &new.consent) {
            (Some(Keyword::OptOut), Some(event)) => {
                opt_out_in(&mut tx, &new.account_id, event, Some(new.body.trim())).await?
            }
            (Some(Keyword::OptIn), Some(event)) => {
                opt_in_in(&mut tx, &new.account_id, event).await?.0
            }
            _ => false,
        };

        let message_id = MessageId::generate();
        let inserted = sqlx::query(
            "INSERT INTO messages (id, conversation_seq, direction, kind, body, twilio_sid, \
             reply_status, created_at) VALUES (?, ?, 'inbound', ?, ?, ?, ?, ?)",
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
            // The same sid stored concurrently: a duplicate delivery.
            Err(StoreError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e),
        }

        let confirmation = new
            .confirmation
            .clone()
            .filter(|_| new.keyword != Some(Keyword::OptOut) || opt_out_changed);
        if let Some(text) = &confirmation {
            sqlx::query(
                "INSERT INTO messages (id, conversation_seq, direction, kind, body, created_at) \
                 VALUES (?, ?, 'outbound', 'confirmation', ?, ?)",
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
        let row = sqlx::query(
            "SELECT m.seq, m.reply_status, c.seq AS conversation_seq, c.id AS conversation_id, \
                 c.our_number, c.their_number, c.agent_id, \
                 EXISTS (SELECT 1 FROM messages n WHERE n.conversation_seq = c.seq \
                     AND n.direction = 'inbound' AND n.seq > m.seq AND n.reply_status = 'pending') AS superseded, \
                 EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = c.account_id \
                     AND o.phone = c.their_number) AS opted_out \
             FROM messages m JOIN conversations c ON c.seq = m.conversation_seq \
             WHERE m.id = ? AND c.account_id = ?",
        )
        .bind(message.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let our_number: String = row.get("our_number");
        let their_number: String = row.get("their_number");
        let agent_id: Option<String> = row.get("agent_id");
        let agent = match agent_id {
            None => None,
            Some(id) => sqlx::query_scalar::<_, String>(
                "SELECT system_prompt FROM agents WHERE id = ? AND account_id = ?",
            )
            .bind(&id)
            .bind(account.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .map(|prompt| (AgentId::from_trusted(id), prompt)),
        };
        let campaign = self
            .latest_campaign_sent(account, &our_number, &their_number)
            .await?;
        // Each answer right after the message it answers, newest first, then reversed; outbound
        // messages that never left are not history.
        let turns = sqlx::query(
            "SELECT m.direction, m.body FROM messages m LEFT JOIN recipients r ON r.id = m.recipient_id \
             WHERE m.conversation_seq = ?1 AND COALESCE(m.reply_to_seq, m.seq) <= ?2 \
               AND NOT (r.id IS NOT NULL AND r.twilio_sid IS NULL AND r.status IN ('failed', 'cancelled')) \
             ORDER BY COALESCE(m.reply_to_seq, m.seq) DESC, m.seq DESC LIMIT ?3",
        )
        .bind(row.get::<i64, _>("conversation_seq"))
        .bind(row.get::<i64, _>("seq"))
        .bind(history_limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        let mut history = Vec::with_capacity(turns.len());
        for t in turns.iter().rev() {
            let direction: String = t.get("direction");
            let direction = Direction::parse(&direction)
                .ok_or_else(|| corrupt(format!("message direction {direction:?}")))?;
            history.push((direction, t.get("body")));
        }
        let reply_status: Option<String> = row.get("reply_status");
        Ok(AgentWork {
            account_id: account.clone(),
            conversation_id: ConversationId::from_trusted(row.get("conversation_id")),
            our_number,
            their_number,
            reply_status: reply_status.as_deref().and_then(ReplyStatus::parse),
            superseded: row.get("superseded"),
            opted_out: row.get("opted_out"),
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
        sqlx::query("UPDATE messages SET reply_status = ?, reply_error = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(error)
            .bind(message.as_str())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn create_reply(&self, reply: &NewReply) -> StoreResult<bool> {
        let now = to_ms(reply.now);
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let row = sqlx::query(
            "SELECT m.seq AS inbound_seq, c.seq, c.our_number, c.their_number, \
                 EXISTS (SELECT 1 FROM opt_outs o WHERE o.account_id = c.account_id \
                     AND o.phone = c.their_number) AS opted_out \
             FROM messages m JOIN conversations c ON c.seq = m.conversation_seq \
             WHERE m.id = ? AND c.account_id = ?",
        )
        .bind(reply.inbound_id.as_str())
        .bind(reply.account_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        if row.get::<bool, _>("opted_out") {
            sqlx::query("UPDATE messages SET reply_status = 'opted_out' WHERE id = ?")
                .bind(reply.inbound_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            return Ok(false);
        }
        let conversation_seq: i64 = row.get("seq");
        let our_number: String = row.get("our_number");
        let their_number: String = row.get("their_number");
        let from_numbers =
            serde_json::to_string(&[&our_number]).map_err(|e| StoreError::Backend(Box::new(e)))?;
        // No agent_id: a reply campaign must never keep its agent from being deleted.
        let campaign_seq: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (id, account_id, name, message_template, from_numbers, status, \
             source, kind, created_at, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, 'running', 'api', 'reply', ?6, ?6) RETURNING seq",
        )
        .bind(reply.campaign_id.as_str())
        .bind(reply.account_id.as_str())
        .bind(format!("Reply to {their_number}"))
        .bind(&reply.body)
        .bind(from_numbers)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let recipient_id: i64 = sqlx::query_scalar(
            "INSERT INTO recipients (campaign_seq, position, phone, variables, body, segments, \
             from_number, status, updated_at) VALUES (?, 0, ?, '{}', ?, ?, ?, 'pending', ?) RETURNING id",
        )
        .bind(campaign_seq)
        .bind(&their_number)
        .bind(&reply.body)
        .bind(reply.segments as i64)
        .bind(&our_number)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        // The counts cache follows status changes by trigger; its first row comes with the
        // recipient, as for every campaign (the queue-depth gauge reads it).
        sqlx::query(
            "INSERT INTO campaign_counts (campaign_seq, status, n) VALUES (?, 'pending', 1)",
        )
        .bind(campaign_seq)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO messages (id, conversation_seq, direction, kind, body, recipient_id, \
             reply_to_seq, created_at) VALUES (?, ?, 'outbound', 'agent', ?, ?, ?, ?)",
        )
        .bind(reply.message_id.as_str())
        .bind(conversation_seq)
        .bind(&reply.body)
        .bind(recipient_id)
        .bind(row.get::<i64, _>("inbound_seq"))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE messages SET reply_status = 'answered', reply_error = NULL WHERE id = ?",
        )
        .bind(reply.inbound_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("UPDATE conversations SET last_message_at = ? WHERE seq = ?")
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
        let (at, seq) = before.map_or((i64::MAX, i64::MAX), |(t, s)| (to_ms(t), s));
        let sql = format!(
            "{CONVERSATION_SELECT} WHERE c.account_id = ?1 \
             AND (c.last_message_at < ?2 OR (c.last_message_at = ?2 AND c.seq < ?3)) \
             ORDER BY c.last_message_at DESC, c.seq DESC LIMIT ?4"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(at)
            .bind(seq)
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        self.with_last_messages(rows.iter().map(conversation_from_row).collect())
            .await
    }

    async fn get_conversation(
        &self,
        account: &AccountId,
        id: &ConversationId,
    ) -> StoreResult<Conversation> {
        let sql = format!("{CONVERSATION_SELECT} WHERE c.account_id = ? AND c.id = ?");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        let mut list = self
            .with_last_messages(vec![conversation_from_row(&row)])
            .await?;
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
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.conversation_seq = ? AND m.seq > ? ORDER BY m.seq LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(seq)
            .bind(after.unwrap_or(-1))
            .bind(limit as i64)
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn list_opt_outs(
        &self,
        account: &AccountId,
        before: Option<(OffsetDateTime, String)>,
        limit: u32,
    ) -> StoreResult<Vec<OptOut>> {
        let (at, phone) = before.map_or((i64::MAX, String::new()), |(t, p)| (to_ms(t), p));
        let rows = sqlx::query(
            "SELECT phone, source, reason, created_at FROM opt_outs WHERE account_id = ?1 \
             AND (created_at < ?2 OR (created_at = ?2 AND phone < ?3)) \
             ORDER BY created_at DESC, phone DESC LIMIT ?4",
        )
        .bind(account.as_str())
        .bind(at)
        .bind(phone)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(rows.iter().map(opt_out_from_row).collect())
    }

    async fn get_opt_out(&self, account: &AccountId, phone: &str) -> StoreResult<Option<OptOut>> {
        let row = sqlx::query(
            "SELECT phone, source, reason, created_at FROM opt_outs WHERE account_id = ? AND phone = ?",
        )
        .bind(account.as_str())
        .bind(phone)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?;
        Ok(row.as_ref().map(opt_out_from_row))
    }

    async fn opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
        reason: Option<&str>,
    ) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let changed = opt_out_in(&mut tx, account, event, reason).await?;
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }

    async fn remove_opt_out(
        &self,
        account: &AccountId,
        event: &ConsentEvent,
    ) -> StoreResult<ConsentRecord> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let (deleted, record) = opt_in_in(&mut tx, account, event).await?;
        let (true, Some(record)) = (deleted, record) else {
            return Err(StoreError::NotFound);
        };
        tx.commit().await.map_err(backend)?;
        Ok(record)
    }

    async fn add_consents(
        &self,
        account: &AccountId,
        records: &[NewConsent],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ConsentRecord>> {
        let mut tx = self.writer.begin().await.map_err(backend)?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            out.push(insert_consent(&mut tx, account, record, now).await?);
        }
        tx.commit().await.map_err(backend)?;
        Ok(out)
    }

    async fn list_consents(
        &self,
        account: &AccountId,
        phone: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ConsentRecord>> {
        let rows = sqlx::query(
            "SELECT seq, id, phone, status, source, evidence, occurred_at, recorded_at FROM consents \
             WHERE account_id = ?1 AND (?2 IS NULL OR phone = ?2) AND seq < ?3 \
             ORDER BY seq DESC LIMIT ?4",
        )
        .bind(account.as_str())
        .bind(phone)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn consent_status(
        &self,
        account: &AccountId,
        phone: &str,
    ) -> StoreResult<Option<ConsentStatus>> {
        let mut conn = self.reader.acquire().await.map_err(backend)?;
        current_consent(&mut conn, account, phone).await
    }

    async fn consented_phones(&self, account: &AccountId) -> StoreResult<HashSet<String>> {
        let phones: Vec<String> = sqlx::query_scalar(
            "SELECT phone FROM consent_state WHERE account_id = ? AND status = 'granted'",
        )
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?;
        Ok(phones.into_iter().collect())
    }
}
