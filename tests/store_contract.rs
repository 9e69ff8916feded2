//! One contract for every store backend: memory, local folder and S3 (moto in CI).
//! Each case is a plain async fn over `Arc<dyn Store>`; `contract_suite!` runs all of
//! them against one backend, each on a fresh store (a fresh bucket for S3).

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tfpilot::store::testing::{Backend, test_store};
use tfpilot::store::{ETag, MAX_LIST_PAGE, Store, StoreError, list_all};

fn body(text: &str) -> Bytes {
    Bytes::from(text.to_owned())
}

mod cases {
    use super::*;

    pub async fn get_missing_is_not_found(store: Arc<dyn Store>) {
        let err = store.get("requests/nope.json").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::NotFound { key } if key == "requests/nope.json"),
            "{err:?}"
        );
    }

    pub async fn create_then_get_round_trips(store: Arc<dyn Store>) {
        let bytes = Bytes::from_static(b"{\"id\":\"req_a\"}\n\x00\xff binary too");
        let etag = store
            .create("requests/req_a.json", bytes.clone())
            .await
            .unwrap();
        let object = store.get("requests/req_a.json").await.unwrap();
        assert_eq!(object.body, bytes);
        assert_eq!(object.etag, etag);
    }

    pub async fn create_twice_is_precondition_failed(store: Arc<dyn Store>) {
        store.create("markers/once", body("first")).await.unwrap();
        let err = store
            .create("markers/once", body("second"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::PreconditionFailed { key } if key == "markers/once"),
            "{err:?}"
        );
        assert_eq!(store.get("markers/once").await.unwrap().body, body("first"));
    }

    pub async fn replace_with_current_etag_succeeds(store: Arc<dyn Store>) {
        let first = store.create("k.json", body("v1")).await.unwrap();
        let second = store.replace("k.json", body("v2"), &first).await.unwrap();
        assert_ne!(first, second);
        let object = store.get("k.json").await.unwrap();
        assert_eq!(object.body, body("v2"));
        assert_eq!(object.etag, second);
    }

    pub async fn replace_with_stale_etag_is_precondition_failed(store: Arc<dyn Store>) {
        let stale = store.create("k.json", body("v1")).await.unwrap();
        store.replace("k.json", body("v2"), &stale).await.unwrap();
        let err = store
            .replace("k.json", body("v3"), &stale)
            .await
            .unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        let bogus = ETag::new("\"0123456789abcdef0123456789abcdef\"");
        let err = store
            .replace("k.json", body("v3"), &bogus)
            .await
            .unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        assert_eq!(store.get("k.json").await.unwrap().body, body("v2"));
    }

    pub async fn replace_missing_is_not_found(store: Arc<dyn Store>) {
        let etag = store.create("a.json", body("x")).await.unwrap();
        let err = store.replace("b.json", body("y"), &etag).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert!(store.get("b.json").await.unwrap_err().is_not_found());
    }

    pub async fn delete_unconditional_and_conditional(store: Arc<dyn Store>) {
        // Deleting what is not there is fine, as on S3.
        store.delete("gone.json", None).await.unwrap();
        let etag = store.create("d/x.json", body("1")).await.unwrap();
        let newer = store.replace("d/x.json", body("2"), &etag).await.unwrap();
        let err = store.delete("d/x.json", Some(&etag)).await.unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        assert_eq!(store.get("d/x.json").await.unwrap().body, body("2"));
        store.delete("d/x.json", Some(&newer)).await.unwrap();
        assert!(store.get("d/x.json").await.unwrap_err().is_not_found());
        let err = store.delete("d/x.json", Some(&newer)).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        // A deleted key can be created again.
        store.create("d/x.json", body("3")).await.unwrap();
        store.delete("d/x.json", None).await.unwrap();
        assert!(list_all(&*store, "d/").await.unwrap().is_empty());
    }

    pub async fn list_filters_by_prefix_in_byte_order(store: Arc<dyn Store>) {
        for key in [
            "index/pr/o/r/2.json",
            "index/pr/o/r/10.json",
            "index/pr/o/r2/1.json",
            "index/issue/o/r/1.json",
            "index/pr/o/r/1.json",
            "requests/req_b.json",
        ] {
            store.create(key, body(key)).await.unwrap();
        }
        let page = store.list("index/pr/o/r/", None, 100).await.unwrap();
        assert_eq!(
            page.keys,
            [
                "index/pr/o/r/1.json",
                "index/pr/o/r/10.json",
                "index/pr/o/r/2.json"
            ]
        );
        assert_eq!(page.next_start_after, None);
        // A prefix need not end at a `/`.
        let partial = store.list("index/pr/o/r", None, 100).await.unwrap();
        assert_eq!(partial.keys.len(), 4);
        assert!(
            store
                .list("nothing/", None, 100)
                .await
                .unwrap()
                .keys
                .is_empty()
        );
        let all = list_all(&*store, "").await.unwrap();
        assert_eq!(all.len(), 6);
        assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    }

    pub async fn list_paginates_past_1000_keys(store: Arc<dyn Store>) {
        let total = MAX_LIST_PAGE + 7;
        let keys: Vec<String> = (0..total)
            .map(|i| format!("webhooks/github/deliveries/d-{i:05}"))
            .collect();
        futures::stream::iter(keys.iter().cloned())
            .map(|key| {
                let store = Arc::clone(&store);
                async move { store.create(&key, body("1")).await.map(|_| ()) }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<(), _>>()
            .unwrap();
        store
            .create("webhooks/github/other", body("x"))
            .await
            .unwrap();

        let prefix = "webhooks/github/deliveries/";
        let first = store.list(prefix, None, usize::MAX).await.unwrap();
        assert_eq!(first.keys.len(), MAX_LIST_PAGE, "a page is capped at 1,000");
        let after = first.next_start_after.clone().expect("a second page");
        let second = store.list(prefix, Some(&after), usize::MAX).await.unwrap();
        assert_eq!(second.keys.len(), 7);
        assert_eq!(second.next_start_after, None);
        let mut seen: Vec<String> = first.keys;
        seen.extend(second.keys);
        assert_eq!(seen, keys);
        assert_eq!(list_all(&*store, prefix).await.unwrap(), keys);

        // Small pages walk the same keys.
        let mut walked = Vec::new();
        let mut after: Option<String> = Some("webhooks/github/deliveries/d-00990".into());
        loop {
            let page = store.list(prefix, after.as_deref(), 4).await.unwrap();
            assert!(page.keys.len() <= 4);
            walked.extend(page.keys);
            match page.next_start_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(walked, keys[991..]);
    }

    pub async fn concurrent_creates_have_one_winner(store: Arc<dyn Store>) {
        for round in 0..3 {
            let key = format!("locks/o/r/env{round}.json");
            let results = futures::future::join_all((0..16).map(|i| {
                let store = Arc::clone(&store);
                let key = key.clone();
                async move { store.create(&key, body(&format!("racer {i}"))).await }
            }))
            .await;
            let winners = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(winners, 1, "round {round}: {results:?}");
            assert!(
                results
                    .iter()
                    .filter_map(|r| r.as_ref().err())
                    .all(StoreError::is_precondition_failed),
                "{results:?}"
            );
        }
    }

    pub async fn concurrent_replaces_have_one_winner(store: Arc<dyn Store>) {
        let base = store.create("requests/r.json", body("v0")).await.unwrap();
        let results = futures::future::join_all((0..16).map(|i| {
            let store = Arc::clone(&store);
            let base = base.clone();
            async move {
                let text = format!("racer {i}");
                store
                    .replace("requests/r.json", body(&text), &base)
                    .await
                    .map(|_| text)
            }
        }))
        .await;
        let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let stored = store.get("requests/r.json").await.unwrap().body;
        assert_eq!(stored, body(winners[0]));
    }

    pub async fn keys_are_independent(store: Arc<dyn Store>) {
        let a = store.create("requests/a.json", body("same")).await.unwrap();
        let b = store.create("history/a.json", body("same")).await.unwrap();
        // Equal bytes give equal tags, and a tag is only checked against its own key.
        assert_eq!(a, b);
        store
            .replace("requests/a.json", body("changed"), &a)
            .await
            .unwrap();
        assert_eq!(
            store.get("history/a.json").await.unwrap().body,
            body("same")
        );
        let set: BTreeSet<String> = list_all(&*store, "").await.unwrap().into_iter().collect();
        assert_eq!(set.len(), 2);
    }
}

macro_rules! contract_suite {
    ($backend:ident, $kind:expr; $($case:ident),* $(,)?) => {
        mod $backend {
            use super::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let label = concat!(stringify!($backend), "-", stringify!($case));
                    let Some(fixture) = super::test_store($kind, label).await.unwrap() else {
                        return;
                    };
                    super::cases::$case(fixture.store.clone()).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        contract_suite!(memory, Backend::Memory; $($case),*);
        contract_suite!(folder, Backend::Folder; $($case),*);
        contract_suite!(s3, Backend::S3; $($case),*);
    };
}

all_backends!(
    get_missing_is_not_found,
    create_then_get_round_trips,
    create_twice_is_precondition_failed,
    replace_with_current_etag_succeeds,
    replace_with_stale_etag_is_precondition_failed,
    replace_missing_is_not_found,
    delete_unconditional_and_conditional,
    list_filters_by_prefix_in_byte_order,
    list_paginates_past_1000_keys,
    concurrent_creates_have_one_winner,
    concurrent_replaces_have_one_winner,
    keys_are_independent,
);
