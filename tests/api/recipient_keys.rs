//! PostgreSQL's recipient keys (migrations/postgres/0017_recipient_rows.sql): upgrading a
//! database that already holds recipients, and a reply that points at one, rewrites each id to
//! campaign × 2³² + position without losing either; afterwards the key keeps positions unique
//! in a campaign and in range. (SQLite keeps its own keys; the listing and append tests run on
//! both backends.)

use std::borrow::Cow;

use herald_test_support::TestDb;
use sqlx::Row;

/// `migrations/postgres` as released before 0017.
async fn migrations_before_0017() -> sqlx::migrate::Migrator {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < 17)
        .cloned()
        .collect();
    assert_eq!(before.last().map(|m| m.version), Some(16));
    migrator.migrations = Cow::Owned(before);
    migrator
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_rewrites_recipient_ids_and_the_replies_that_name_them() {
    let Some(db) = TestDb::postgres().await else {
        eprintln!("skipped: set TEST_DATABASE_URL (scripts/pg-up.sh prints one)");
        return;
    };
    let pool = sqlx::PgPool::connect(&db.url).await.expect("PostgreSQL");
    migrations_before_0017()
        .await
        .run(&pool)
        .await
        .expect("0001–0016");
    for sql in [
        "INSERT INTO accounts (id, name, created_at) VALUES ('acct_k', 'K', now())",
        "INSERT INTO campaigns (id, account_id, name, message_template, from_numbers, status, \
         source, created_at) VALUES ('smsc_a', 'acct_k', 'A', 'Hi', '[]', 'done', 'api', now()), \
         ('smsc_b', 'acct_k', 'B', 'Hi', '[]', 'draft', 'api', now())",
        // Ids in an order of their own: campaign B's row first.
        "INSERT INTO recipients (campaign_seq, position, phone, variables, body, segments, \
         from_number, status, updated_at) VALUES \
         (2, 0, '+447700900001', '{\"b\": 1, \"a\": \"Zoë\"}', 'Hi', 1, '+447700900100', 'pending', now()), \
         (1, 0, '+447700900002', '{}', 'Hi', 1, '+447700900100', 'delivered', now()), \
         (1, 1, '+447700900003', '{\"n\": [1, 2]}', 'Hi', 1, '+447700900100', 'sent', now())",
        "INSERT INTO conversations (id, account_id, our_number, their_number, created_at, \
         last_message_at) VALUES ('conv_k', 'acct_k', '+447700900100', '+447700900003', now(), now())",
        "INSERT INTO messages (id, conversation_seq, direction, kind, body, recipient_id, created_at) \
         SELECT 'msg_k', 1, 'outbound', 'campaign', 'Hi', id, now() FROM recipients \
         WHERE phone = '+447700900003'",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    let old_ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM recipients ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(old_ids, [1, 2, 3]);

    db.store().await; // applies 0017 and what follows

    let rows = sqlx::query(
        "SELECT r.id, r.campaign_seq, r.position, r.phone, r.variables::text AS variables, \
         m.id AS message FROM recipients r LEFT JOIN messages m ON m.recipient_id = r.id \
         ORDER BY r.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let got: Vec<(i64, i64, i64, String, serde_json::Value, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.get("id"),
                r.get("campaign_seq"),
                r.get("position"),
                r.get("phone"),
                serde_json::from_str(r.get::<&str, _>("variables")).unwrap(),
                r.get("message"),
            )
        })
        .collect();
    let key = |seq: i64, position: i64| seq * (1 << 32) + position;
    assert_eq!(
        got,
        [
            (
                key(1, 0),
                1,
                0,
                "+447700900002".into(),
                serde_json::json!({}),
                None
            ),
            (
                key(1, 1),
                1,
                1,
                "+447700900003".into(),
                serde_json::json!({"n": [1, 2]}),
                Some("msg_k".into())
            ),
            (
                key(2, 0),
                2,
                0,
                "+447700900001".into(),
                serde_json::json!({"a": "Zoë", "b": 1}),
                None
            ),
        ]
    );

    // The key still refuses a second recipient at a taken position, and positions out of
    // its range; the reply's reference is still checked.
    let insert = |campaign: i64, position: i64| {
        format!(
            "INSERT INTO recipients (campaign_seq, position, phone, variables, body, segments, \
             from_number, status, updated_at) VALUES ({campaign}, {position}, '+447700900009', \
             '{{}}', 'Hi', 1, '+447700900100', 'pending', now())"
        )
    };
    for (campaign, position, refused_by) in [
        (2, 0, "recipients_pkey"),
        (2, -1, "recipients_position_range"),
        (2, 1 << 32, "recipients_position_range"),
    ] {
        let err = sqlx::query(sqlx::AssertSqlSafe(insert(campaign, position)))
            .execute(&pool)
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains(refused_by),
            "({campaign}, {position}): {err}"
        );
    }
    sqlx::query(sqlx::AssertSqlSafe(insert(2, 1)))
        .execute(&pool)
        .await
        .expect("the next position is free");
    let err = sqlx::query("UPDATE messages SET recipient_id = 3")
        .execute(&pool)
        .await
        .expect_err("an old id names no recipient now");
    assert!(
        err.to_string().contains("messages_recipient_id_fkey"),
        "{err}"
    );
    pool.close().await;
}
