//! User import jobs across workers, on both backends with a clock the test moves: a job is
//! held by one worker at a time, a worker that dies holding one is replaced once its lease
//! runs out and the job resumes where the last committed batch left it (every line imported
//! once), and a worker that lost its lease cannot commit. The wire surface (boto3, the
//! upload URL, curl) is the interop suite's `test_user_import.py`.

use std::sync::Arc;

use cognate_core::attributes::build_schema;
use cognate_core::page::PageRequest;
use cognate_core::pool::PoolSettings;
use cognate_core::repo::ImportBatch;
use cognate_core::user_import::{ImportStatus, csv_header};
use cognate_core::webhook::PLATFORM_OWNER;
use cognate_core::{Clock as _, ManualClock};
use cognate_server::services::{pools, user_imports, webhooks};
use tokio::sync::watch;

use super::support::{TestApp, on_both};

/// 2026-12-01T00:00:00Z.
const START: i64 = 1_796_083_200_000;

/// A started job of `rows` users in a fresh pool; returns the pool and job ids.
async fn started_job(t: &TestApp, rows: usize) -> (cognate_core::ids::PoolId, String) {
    let settings = PoolSettings { schema: build_schema(&[]).unwrap(), ..PoolSettings::default() };
    let pool = pools::create(&t.state, "imports".into(), settings).await.unwrap();
    let header = csv_header(&pool.settings.schema);
    let mut file = header.join(",") + "\n";
    for i in 0..rows {
        let line: Vec<String> = header
            .iter()
            .map(|c| match c.as_str() {
                "cognito:username" => format!("user{i}"),
                "cognito:mfa_enabled" => "false".into(),
                "email" => format!("user{i}@example.com"),
                _ => String::new(),
            })
            .collect();
        file += &(line.join(",") + "\n");
    }
    let created = user_imports::create(&t.state, &pool.id, "job", "arn:aws:iam::123456789012:role/x").await.unwrap();
    let (job_id, capability) = {
        let mut parts = created.upload_url.rsplit('/');
        let capability = parts.next().unwrap().to_owned();
        (parts.next().unwrap().to_owned(), capability)
    };
    let mut upload = user_imports::begin_upload(&t.state, &job_id, &capability, None).await.unwrap();
    // In pieces that cut lines, as a network delivers them.
    for piece in file.as_bytes().chunks(7_777) {
        upload.push(piece).await.unwrap();
    }
    assert_eq!(upload.finish().await.unwrap(), rows as i64);
    user_imports::start(&t.state, &pool.id, &job_id).await.unwrap();
    (pool.id, job_id)
}

#[tokio::test]
async fn a_dead_workers_job_resumes_after_its_lease_and_every_line_is_imported_once() {
    on_both(START, |t: TestApp, clock: Arc<ManualClock>| async move {
        let rows = 2_500;
        let (pool, job_id) = started_job(&t, rows).await;
        let (_stop, running) = watch::channel(false);

        // A worker takes the job and dies before committing anything.
        let now = clock.now_millis();
        let dead = t.state.store.claim_import_job(now, "dead", now + user_imports::LEASE_MS).await.unwrap().unwrap();
        assert_eq!(dead.status, ImportStatus::InProgress);
        // While its lease runs, nobody else takes the job.
        assert!(!user_imports::run_once(&t.state, "live", &running).await.unwrap());

        // Once it ran out, another worker (here: another node on the same database) does.
        clock.advance(user_imports::LEASE_MS + 1);
        let other = t.restart().await;
        assert!(user_imports::run_once(&other.state, "live", &running).await.unwrap());
        let job = user_imports::get(&t.state, &pool, &job_id).await.unwrap();
        assert_eq!(job.status, ImportStatus::Succeeded);
        assert_eq!((job.imported, job.failed, job.skipped), (rows as i64, 0, 0));
        assert_eq!(t.state.store.count_users(&pool).await.unwrap(), rows as i64);

        // The dead worker coming back cannot commit a batch it read before: nothing is
        // imported twice, and no event is written for it.
        let events_before = t.state.store.webhook_backlog().await.unwrap().events_pending;
        let event = webhooks::event(&t.state, PLATFORM_OWNER, "user.created", serde_json::json!({}));
        let late = ImportBatch {
            job_id: &job_id,
            owner: "dead",
            from_line: 2,
            to_line: 3,
            users: &[],
            errors: &[],
            skipped: 1,
            lease_until: clock.now_millis() + 1,
            events: std::slice::from_ref(&event),
        };
        assert!(!t.state.store.commit_import_batch(&late).await.unwrap());
        assert_eq!(t.state.store.webhook_backlog().await.unwrap().events_pending, events_before);
    })
    .await;
}

#[tokio::test]
async fn of_two_workers_racing_for_a_job_one_runs_it() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let rows = 1_500;
        let (pool, job_id) = started_job(&t, rows).await;
        let (_stop, running) = watch::channel(false);
        let other = t.restart().await;
        let (a, b) = tokio::join!(
            user_imports::run_once(&t.state, "a", &running),
            user_imports::run_once(&other.state, "b", &running)
        );
        assert!(a.unwrap() ^ b.unwrap(), "exactly one worker took the job");
        let job = user_imports::get(&t.state, &pool, &job_id).await.unwrap();
        assert_eq!((job.status, job.imported), (ImportStatus::Succeeded, rows as i64));
        assert_eq!(t.state.store.count_users(&pool).await.unwrap(), rows as i64);
    })
    .await;
}

#[tokio::test]
async fn a_stop_is_seen_at_the_next_batch_and_the_rest_is_skipped() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let rows = 100;
        let (pool, job_id) = started_job(&t, rows).await;
        user_imports::stop(&t.state, &pool, &job_id).await.unwrap();
        let (_stop, running) = watch::channel(false);
        assert!(user_imports::run_once(&t.state, "w", &running).await.unwrap());
        let job = user_imports::get(&t.state, &pool, &job_id).await.unwrap();
        assert_eq!((job.status, job.imported, job.skipped), (ImportStatus::Stopped, 0, rows as i64));
        assert!(matches!(
            user_imports::stop(&t.state, &pool, &job_id).await,
            Err(user_imports::ImportError::NotRunning(ImportStatus::Stopped))
        ));
    })
    .await;
}

/// Every imported user has its `user.created` webhook event, written in the batch's
/// transaction: as many events as users, each naming one of them (a batch that cannot
/// commit leaves no event: see the dead worker's test above).
#[tokio::test]
async fn each_imported_user_has_its_user_created_event() {
    on_both(START, |t: TestApp, _clock: Arc<ManualClock>| async move {
        let rows = 1_200;
        let pending = |t: &TestApp| {
            let store = t.state.store.clone();
            async move { store.webhook_backlog().await.unwrap().events_pending }
        };
        let endpoint = webhooks::NewEndpoint {
            url: "http://127.0.0.1:9/hook".into(),
            description: String::new(),
            event_types: vec!["user.created".into()],
            enabled: true,
        };
        let (endpoint, _) = webhooks::create(&t.state, PLATFORM_OWNER, endpoint).await.unwrap();
        let before = pending(&t).await;
        let (pool, job_id) = started_job(&t, rows).await;
        let (_stop, running) = watch::channel(false);
        assert!(user_imports::run_once(&t.state, "w", &running).await.unwrap());
        let job = user_imports::get(&t.state, &pool, &job_id).await.unwrap();
        assert_eq!((job.status, job.imported), (ImportStatus::Succeeded, rows as i64));
        assert_eq!(pending(&t).await, before + rows as i64, "one event per imported user, over several batches");

        // Fanned out to the platform endpoint: each a user.created about one imported user.
        let id_state = t.state.clone();
        let new_id = move || webhooks::delivery_id(&id_state);
        let made = t.state.store.fan_out_webhook_events(t.state.clock.now_millis(), 5_000, &new_id).await.unwrap();
        assert_eq!(made, rows as u64);
        let mut subs = std::collections::HashSet::new();
        let mut page = PageRequest { after: None, limit: 100 };
        loop {
            let got = t.state.store.list_webhook_deliveries(PLATFORM_OWNER, &endpoint.id, None, &page).await.unwrap();
            for d in got.iter().take(100) {
                let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
                assert_eq!(body["type"], "user.created");
                assert_eq!(body["data"]["userPoolId"], pool.as_str());
                assert_eq!(body["data"]["status"], "RESET_REQUIRED");
                let user = t.state.store.get_user_by_sub(&pool, body["data"]["sub"].as_str().unwrap()).await.unwrap();
                assert_eq!(user.unwrap().username, body["data"]["username"].as_str().unwrap());
                subs.insert(body["data"]["sub"].as_str().unwrap().to_owned());
            }
            if got.len() <= 100 {
                break;
            }
            page.after = Some(got[99].id.clone());
        }
        assert_eq!(subs.len(), rows, "every user once");
    })
    .await;
}
