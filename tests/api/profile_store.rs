//! The phone on a dashboard user's profile at the store (migration 0014), on both backends:
//! none at first, saved, replaced, cleared, and an unknown user is `NotFound`.

use herald::store::StoreError;
use herald_test_support::TestDb;

on_every_backend!(a_users_phone_is_saved_replaced_and_cleared);

async fn a_users_phone_is_saved_replaced_and_cleared(db: &TestDb) {
    let store = db.store().await;
    let a = herald::service::accounts::create_account(store.as_ref(), "Clinic")
        .await
        .unwrap();
    let b = herald::service::accounts::create_account(store.as_ref(), "Other")
        .await
        .unwrap();
    let user = store.find_user(&a.user).await.unwrap().unwrap();
    let other = store.find_user(&b.user).await.unwrap().unwrap();
    assert_eq!(store.user_phone(user.id).await.unwrap(), None);

    store
        .set_user_phone(user.id, Some("+447723456789"))
        .await
        .unwrap();
    assert_eq!(
        store.user_phone(user.id).await.unwrap().as_deref(),
        Some("+447723456789")
    );
    // Only that user's.
    assert_eq!(store.user_phone(other.id).await.unwrap(), None);

    store
        .set_user_phone(user.id, Some("+14155550100"))
        .await
        .unwrap();
    assert_eq!(
        store.user_phone(user.id).await.unwrap().as_deref(),
        Some("+14155550100")
    );
    store.set_user_phone(user.id, None).await.unwrap();
    assert_eq!(store.user_phone(user.id).await.unwrap(), None);

    assert!(matches!(
        store.user_phone(-1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_user_phone(-1, Some("+447723456789")).await,
        Err(StoreError::NotFound)
    ));
}
