//! The work pipeline over real HTTP (SPEC section 7): rules and processing channels create jobs
//! with their events, workers claim (long-polling), heartbeat and settle with lease tokens,
//! stale holders get 409, transitions are events on the entity's timeline and stream live,
//! ordered queues keep an entity's jobs in order under concurrent workers, and notes.

mod common;

use common::sse::{next_activity, open};
use common::{assert_problem, spawn_app, spawn_postgres_nodes, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spine_server::ServerConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn put_rule(app: &TestApp, name: &str, rule: Value) {
    let r = app
        .req(Method::PUT, &format!("/v1/work/rules/{name}"), &app.a.admin)
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
}

fn call(title: &str, contact: &str) -> Value {
    json!({"type": "call.received", "title": title,
           "entity": {"type": "contact", "id": contact, "name": "Ann"}})
}

async fn post(app: &TestApp, path: &str, key: &str, body: Value) -> reqwest::Response {
    app.req(Method::POST, path, key).json(&body).send().await.unwrap()
}

async fn claim(app: &TestApp, key: &str, body: Value) -> Vec<Value> {
    let r = post(app, "/v1/work/claim", key, body).await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    let answer: Value = r.json().await.unwrap();
    answer["jobs"].as_array().unwrap().clone()
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

fn types(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_worker_claims_heartbeats_and_completes_with_a_note_and_the_timeline_tells_it() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}, "queue": "calls"})).await;
    let source = app.create_event(&app.a.ingest, &call("Call from Ann", "c1")).await;

    let jobs = claim(&app, &app.a.worker, json!({"queue": "calls", "worker": "summariser"})).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("processing"), Some(1)));
    assert_eq!(job["event"]["id"], source["id"]);
    assert_eq!(job["entity"], json!({"type": "contact", "id": "c1"}));
    let id = job["id"].as_str().unwrap();
    let token = job["lease_token"].as_str().unwrap();

    let beat = post(
        &app,
        &format!("/v1/work/{id}/heartbeat"),
        &app.a.worker,
        json!({"lease_token": token, "lease_seconds": 120}),
    )
    .await;
    let beat = ok_json(beat).await;
    assert!(beat["lease_expires_at"].as_str().unwrap() > job["lease_expires_at"].as_str().unwrap());

    let done = post(
        &app,
        &format!("/v1/work/{id}/complete"),
        &app.a.worker,
        json!({
            "lease_token": token,
            "result": {"summary": "Wants a quote"},
            "note": {"body": "## Summary\nAnn wants a quote for **ten** seats."}
        }),
    )
    .await;
    let done = ok_json(done).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"], json!({"summary": "Wants a quote"}));

    let (_, timeline) =
        app.get_json("/v1/entities/contact/c1/timeline?order=seq", &app.a.read).await;
    assert_eq!(
        types(&timeline),
        ["call.received", "job.processing", "job.completed", "note.created"]
    );
    let completed = &timeline["items"][2];
    assert_eq!(completed["causation_id"], source["id"]);
    assert_eq!(completed["actor"]["id"], "summariser");

    let (status, notes) = app.get_json("/v1/entities/contact/c1/notes", &app.a.read).await;
    assert_eq!(status, StatusCode::OK);
    let note = &notes["items"][0];
    assert_eq!(note["author"], json!({"id": "summariser", "name": null, "kind": "agent"}));
    assert_eq!(
        (note["job_id"].as_str(), note["event_id"].clone()),
        (Some(id), source["id"].clone())
    );

    let (_, feed) = app.get_json("/v1/events?type=call.received", &app.a.read).await;
    assert_eq!(feed["items"][0]["jobs"][0]["status"], "completed");
    let (_, listed) = app.get_json("/v1/work?status=completed&queue=calls", &app.a.read).await;
    assert_eq!(listed["items"][0]["id"], id);
    let (_, queues) = app.get_json("/v1/work/queues", &app.a.worker).await;
    assert_eq!(
        queues["items"],
        json!([{"queue": "calls", "pending": 0, "processing": 0,
        "completed": 1, "failed": 0, "dead": 0}])
    );
}

#[tokio::test]
async fn a_worker_that_paused_past_its_lease_gets_409_and_the_result_is_the_other_workers() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}})).await;
    app.create_event(&app.a.ingest, &call("Call", "c1")).await;
    let slow = claim(&app, &app.a.worker, json!({"lease_seconds": 1, "worker": "slow"})).await;
    let (id, slow_token) =
        (slow[0]["id"].as_str().unwrap(), slow[0]["lease_token"].as_str().unwrap());
    // The slow worker pauses past its lease; a second worker steals the job.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let fast = claim(&app, &app.a.worker, json!({"worker": "fast"})).await;
    assert_eq!(fast.len(), 1, "an expired lease is claimable");
    assert_eq!((fast[0]["id"].as_str(), fast[0]["attempt"].as_u64()), (Some(id), Some(2)));
    let fast_token = fast[0]["lease_token"].as_str().unwrap();

    for (path, body) in [
        ("complete", json!({"lease_token": slow_token, "result": "slow"})),
        ("heartbeat", json!({"lease_token": slow_token})),
        ("fail", json!({"lease_token": slow_token, "error": "slow"})),
    ] {
        let r = post(&app, &format!("/v1/work/{id}/{path}"), &app.a.worker, body).await;
        let problem = assert_problem(r, StatusCode::CONFLICT).await;
        assert!(problem["detail"].as_str().unwrap().contains("stale"), "{problem}");
    }
    let forged = format!("{id}.2.{}", "0".repeat(32));
    let r = post(
        &app,
        &format!("/v1/work/{id}/complete"),
        &app.a.worker,
        json!({"lease_token": forged}),
    )
    .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let r = post(
        &app,
        &format!("/v1/work/{id}/complete"),
        &app.b.admin,
        json!({"lease_token": fast_token}),
    )
    .await;
    assert_problem(r, StatusCode::CONFLICT).await;

    let done = post(
        &app,
        &format!("/v1/work/{id}/complete"),
        &app.a.worker,
        json!({"lease_token": fast_token, "result": "fast"}),
    )
    .await;
    ok_json(done).await;
    let (_, job) = app.get_json(&format!("/v1/work/{id}"), &app.a.read).await;
    assert_eq!((job["status"].as_str(), job["result"].as_str()), (Some("completed"), Some("fast")));
    assert_eq!(job["worker"], "fast");
    let (status, _) = app.get_json(&format!("/v1/work/{id}"), &app.b.read).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant cannot see the job");
    // The steal and the settlement are counted (the recorder is process-wide: at least these).
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "spine_work_lease_expired_total{queue=\"default\"}",
        "spine_work_claimed_total{queue=\"default\"}",
        "spine_work_settled_total{",
        "spine_work_claim_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics:\n{metrics}");
    }
}

/// A job whose lease expires on its last attempt (its worker crashed or stalled) is `dead`, not
/// handed out again past `max_attempts`: a job that kills every worker cannot loop forever.
#[tokio::test]
async fn a_lease_that_expires_on_the_last_attempt_leaves_the_job_dead() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}, "max_attempts": 1})).await;
    app.create_event(&app.a.ingest, &call("Call", "c9")).await;
    let held = claim(&app, &app.a.worker, json!({"lease_seconds": 1, "worker": "crashy"})).await;
    let id = held[0]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(claim(&app, &app.a.worker, json!({})).await.is_empty(), "not handed out again");
    let (_, job) = app.get_json(&format!("/v1/work/{id}"), &app.a.read).await;
    assert_eq!((job["status"].as_str(), job["attempt"].as_u64()), (Some("dead"), Some(1)));
    let error = job["last_error"].as_str().unwrap();
    assert_eq!(
        error,
        "the lease of attempt 1 expired: its worker (crashy) stopped without settling it"
    );
    let (_, timeline) = app.get_json("/v1/entities/contact/c9/timeline", &app.a.read).await;
    let newest = &timeline["items"][0];
    assert_eq!(
        (newest["type"].as_str(), newest["actor"]["id"].as_str()),
        (Some("job.dead"), Some("spine"))
    );
    assert_eq!(newest["data"]["error"], error);
    let revived = post(&app, &format!("/v1/work/{id}/retry"), &app.a.admin, json!({})).await;
    assert_eq!(ok_json(revived).await["status"], "pending", "an admin may still retry it");
}

#[tokio::test]
async fn failures_back_off_die_and_an_admin_retries() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}, "max_attempts": 2})).await;
    app.create_event(&app.a.ingest, &call("Call", "c1")).await;
    let job = claim(&app, &app.a.worker, json!({})).await.remove(0);
    let id = job["id"].as_str().unwrap().to_owned();
    let failed = post(&app, &format!("/v1/work/{id}/fail"), &app.a.worker,
        json!({"lease_token": job["lease_token"], "error": "model timed out", "retry_in_seconds": 0})).await;
    let failed = ok_json(failed).await;
    assert_eq!(
        (failed["status"].as_str(), failed["last_error"].as_str()),
        (Some("failed"), Some("model timed out"))
    );
    let job = claim(&app, &app.a.worker, json!({})).await.remove(0);
    let dead = post(
        &app,
        &format!("/v1/work/{id}/fail"),
        &app.a.worker,
        json!({"lease_token": job["lease_token"], "error": "still failing"}),
    )
    .await;
    assert_eq!(ok_json(dead).await["status"], "dead");
    let r = post(&app, &format!("/v1/work/{id}/retry"), &app.a.worker, json!({})).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let revived =
        ok_json(post(&app, &format!("/v1/work/{id}/retry"), &app.a.admin, json!({})).await).await;
    assert_eq!(
        (revived["status"].as_str(), revived["attempt"].as_u64()),
        (Some("pending"), Some(0))
    );
    let r = post(&app, &format!("/v1/work/{id}/retry"), &app.a.admin, json!({})).await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let (_, timeline) =
        app.get_json("/v1/entities/contact/c1/timeline?order=seq", &app.a.read).await;
    assert_eq!(
        types(&timeline),
        [
            "call.received",
            "job.processing",
            "job.failed",
            "job.processing",
            "job.dead",
            "job.retried"
        ]
    );
}

#[tokio::test]
async fn a_waiting_claim_wakes_when_a_job_arrives_and_an_idle_one_returns_empty() {
    let app = Arc::new(spawn_app().await);
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}})).await;
    assert!(claim(&app, &app.a.worker, json!({"wait_seconds": 1})).await.is_empty());
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { claim(&app, &app.a.worker, json!({"wait_seconds": 20})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let source = app.create_event(&app.a.ingest, &call("Call", "c1")).await;
    let jobs =
        tokio::time::timeout(Duration::from_secs(15), waiting).await.expect("woken").unwrap();
    assert_eq!(jobs.len(), 1, "the waiting claim got the new job");
    assert_eq!(jobs[0]["event"]["id"], source["id"]);
}

#[tokio::test]
async fn transition_events_stream_live_on_the_entity() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}})).await;
    let mut stream = open(&app, "/v1/stream?entity_id=c1", Some(&app.a.read), &[]).await;
    app.create_event(&app.a.ingest, &call("Call", "c1")).await;
    let job = claim(&app, &app.a.worker, json!({})).await.remove(0);
    let path = format!("/v1/work/{}/complete", job["id"].as_str().unwrap());
    ok_json(post(&app, &path, &app.a.worker, json!({"lease_token": job["lease_token"]})).await)
        .await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (_, event) = next_activity(&mut stream).await;
        seen.push(event["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["call.received", "job.processing", "job.completed"]);
}

#[tokio::test]
async fn bad_work_requests_are_clear_problems_and_change_nothing() {
    let app = spawn_app().await;
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}})).await;
    app.create_event(&app.a.ingest, &call("Call", "c1")).await;
    for (key, body, status) in [
        (&app.a.read, json!({}), StatusCode::FORBIDDEN),
        (&app.a.ingest, json!({}), StatusCode::FORBIDDEN),
        (&app.a.worker, json!({"limit": 0}), StatusCode::UNPROCESSABLE_ENTITY),
        (&app.a.worker, json!({"queue": "Not A Queue"}), StatusCode::UNPROCESSABLE_ENTITY),
        (&app.a.worker, json!({"wait_seconds": 31}), StatusCode::UNPROCESSABLE_ENTITY),
        (&app.a.worker, json!({"lease_seconds": 99999}), StatusCode::UNPROCESSABLE_ENTITY),
        (&app.a.worker, json!({"surprise": 1}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let r = post(&app, "/v1/work/claim", key, body.clone()).await;
        assert_problem(r, status).await;
    }
    let r = app
        .req(Method::POST, "/v1/work/claim", &app.a.worker)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::BAD_REQUEST).await;
    let job = claim(&app, &app.a.worker, json!({})).await.remove(0);
    let id = job["id"].as_str().unwrap();
    let token = job["lease_token"].as_str().unwrap();
    for (path, body, status) in [
        (
            format!("/v1/work/{id}/complete"),
            json!({"lease_token": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/work/{id}/complete"),
            json!({"lease_token": token, "result": "x".repeat(70_000)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/work/{id}/complete"),
            json!({"lease_token": token, "note": {"body": " "}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/work/{id}/fail"),
            json!({"lease_token": token, "error": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/v1/work/{id}/fail"),
            json!({"lease_token": token, "error": "x", "retry_in_seconds": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/work/00000000-0000-0000-0000-000000000000/complete".to_owned(),
            json!({"lease_token": token}),
            StatusCode::CONFLICT,
        ),
        (
            "/v1/work/not-a-uuid/complete".to_owned(),
            json!({"lease_token": token}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = post(&app, &path, &app.a.worker, body).await;
        assert_problem(r, status).await;
    }
    let (_, still) = app.get_json(&format!("/v1/work/{id}"), &app.a.read).await;
    assert_eq!(
        (still["status"].as_str(), still["attempt"].as_u64()),
        (Some("processing"), Some(1))
    );

    for (rule, field) in [
        (json!({"filter": {"q": "x"}}), "filter.q"),
        (json!({"filter": {"type": "Bad Type"}}), "filter.type"),
        (json!({"filter": {}, "max_attempts": 0}), "max_attempts"),
    ] {
        let r = app
            .req(Method::PUT, "/v1/work/rules/r", &app.a.admin)
            .json(&rule)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let r = app
        .req(Method::PUT, "/v1/work/rules/r", &app.a.worker)
        .json(&json!({"filter": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(r, StatusCode::FORBIDDEN).await;
    for (body, field) in [
        (json!({"body": ""}), "body"),
        (json!({"body": "x", "supersedes": "00000000-0000-0000-0000-000000000000"}), "supersedes"),
        (json!({"body": "x", "event_id": "00000000-0000-0000-0000-000000000000"}), "event_id"),
        (json!({"body": "x", "author": {"id": "a", "kind": "robot"}}), "author.kind"),
    ] {
        let r = post(&app, "/v1/entities/contact/c1/notes", &app.a.worker, body).await;
        let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let r = post(&app, "/v1/entities/contact/c1/notes", &app.a.read, json!({"body": "x"})).await;
    assert_problem(r, StatusCode::FORBIDDEN).await;
    let (_, notes) = app.get_json("/v1/entities/contact/c1/notes", &app.a.read).await;
    assert_eq!(notes["items"], json!([]));
}

#[tokio::test]
async fn notes_supersede_and_page_newest_first() {
    let app = spawn_app().await;
    let path = "/v1/entities/contact/c1/notes";
    let first = ok_json(
        post(
            &app,
            path,
            &app.a.admin,
            json!({"body": "Wants a quote",
        "author": {"id": "ann", "name": "Ann", "kind": "user"}}),
        )
        .await,
    )
    .await;
    ok_json(post(&app, path, &app.a.worker, json!({"body": "Second"})).await).await;
    let fix = ok_json(
        post(
            &app,
            path,
            &app.a.admin,
            json!({"body": "Wants a quote by Friday", "supersedes": first["id"]}),
        )
        .await,
    )
    .await;
    let (_, page) = app.get_json(&format!("{path}?limit=2"), &app.a.read).await;
    let bodies: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|n| n["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["Wants a quote by Friday", "Second"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, rest) = app.get_json(&format!("{path}?limit=2&cursor={cursor}"), &app.a.read).await;
    assert_eq!(rest["items"][0]["superseded_by"], fix["id"]);
    assert_eq!(rest["items"][0]["author"]["name"], "Ann");
    let r = post(
        &app,
        "/v1/entities/contact/c2/notes",
        &app.a.admin,
        json!({"body": "x", "supersedes": first["id"]}),
    )
    .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Eight workers on an ordered queue: each entity's jobs run one at a time, in `seq` order.
/// Without ordering, workers would take an entity's next job while its previous one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_jobs_of_an_entity_run_one_at_a_time_in_order_under_8_workers() {
    ordered_runs(vec![Arc::new(spawn_app().await)]).await;
}

/// The same across two nodes on PostgreSQL: the workers alternate between the nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_jobs_of_an_entity_run_one_at_a_time_across_two_postgresql_nodes() {
    ordered_runs(spawn_postgres_nodes(2, ServerConfig::default()).await).await;
}

/// 30 ordered jobs of three entities run by 8 workers spread over `nodes`: each entity's jobs
/// ran in seq order, and none started before the previous one of its entity was completed.
async fn ordered_runs(nodes: Vec<Arc<TestApp>>) {
    let app = nodes[0].clone();
    put_rule(&app, "calls", json!({"filter": {"type": "call.*"}, "ordered": true})).await;
    let mut batch = Vec::new();
    for i in 0..10 {
        for entity in ["a", "b", "c"] {
            batch.push(call(&format!("{entity}{i:02}"), entity));
        }
    }
    let r = post(&app, "/v1/events/batch", &app.a.ingest, json!({"events": batch})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // (entity, seq, started, finished) per job run, in a shared log.
    type Run = (String, i64, u64, u64);
    let log: Arc<Mutex<Vec<Run>>> = Arc::default();
    let clock = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let tick =
        |c: &std::sync::atomic::AtomicU64| c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut workers = Vec::new();
    for w in 0..8 {
        let (app, log, clock) = (nodes[w % nodes.len()].clone(), log.clone(), clock.clone());
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 3 {
                let jobs = claim(
                    &app,
                    &app.a.worker,
                    json!({"worker": format!("w{w}"), "wait_seconds": 1}),
                )
                .await;
                let Some(job) = jobs.into_iter().next() else {
                    idle += 1;
                    continue;
                };
                idle = 0;
                let started = tick(&clock);
                tokio::time::sleep(Duration::from_millis(15)).await;
                let path = format!("/v1/work/{}/complete", job["id"].as_str().unwrap());
                let finished = tick(&clock);
                ok_json(
                    post(&app, &path, &app.a.worker, json!({"lease_token": job["lease_token"]}))
                        .await,
                )
                .await;
                let entity = job["entity"]["id"].as_str().unwrap().to_owned();
                let seq = job["event"]["seq"].as_i64().unwrap();
                log.lock().unwrap().push((entity, seq, started, finished));
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 30, "every job ran once");
    let mut by_entity: HashMap<String, Vec<Run>> = HashMap::new();
    for run in log {
        by_entity.entry(run.0.clone()).or_default().push(run);
    }
    for (entity, mut runs) in by_entity {
        runs.sort_by_key(|r| r.2);
        let seqs: Vec<i64> = runs.iter().map(|r| r.1).collect();
        let mut sorted = seqs.clone();
        sorted.sort_unstable();
        assert_eq!(seqs, sorted, "{entity}: jobs ran in seq order");
        for pair in runs.windows(2) {
            assert!(pair[0].3 < pair[1].2, "{entity}: a job started before the previous finished");
        }
    }
}

/// Two nodes on one PostgreSQL: a claim waiting on one node is woken by a job created on the
/// other, and concurrent claims on both nodes never hand out a job twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_queue_and_wake_each_others_claims() {
    let nodes = spawn_postgres_nodes(2, ServerConfig::default()).await;
    let (one, two) = (nodes[0].clone(), nodes[1].clone());
    put_rule(&one, "calls", json!({"filter": {"type": "call.*"}})).await;
    let waiting = {
        let one = one.clone();
        tokio::spawn(async move { claim(&one, &one.a.worker, json!({"wait_seconds": 20})).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    two.create_event(&two.a.ingest, &call("Call", "c1")).await;
    let jobs =
        tokio::time::timeout(Duration::from_secs(15), waiting).await.expect("woken").unwrap();
    assert_eq!(jobs.len(), 1, "a job created on node two wakes a claim on node one");

    let batch: Vec<Value> = (0..40).map(|i| call(&format!("Call {i}"), &format!("c{i}"))).collect();
    let r = post(&two, "/v1/events/batch", &two.a.ingest, json!({"events": batch})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let node = nodes[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = claim(&node, &node.a.worker, json!({"limit": 3})).await;
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j["id"].as_str().unwrap().to_owned()));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: std::collections::HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (40, 40));
}

/// A channel with `"process": true` makes each delivered event a job of the channel's queue, in
/// the commit that stores the event; a channel without it makes none.
#[tokio::test]
async fn a_processing_channel_makes_each_delivered_event_a_job() {
    let app = spawn_app().await;
    let mut channels = Vec::new();
    for (name, process) in [("Calls", true), ("Mail", false)] {
        let body = json!({"name": name, "provider": "generic", "event_type": "call.received",
                          "process": process, "queue": "calls",
                          "mapping": {"title": "/subject", "entity.type": "contact", "entity.id": "/from"}});
        let r =
            app.req(Method::POST, "/v1/channels", &app.a.admin).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        channels.push(r.json::<Value>().await.unwrap());
    }
    let mut delivered = Vec::new();
    for channel in &channels {
        let r = app
            .client
            .post(channel["ingest_url"].as_str().unwrap())
            .header("X-Ingestion-Key", channel["secret"].as_str().unwrap())
            .header("Content-Type", "application/json")
            .body(r#"{"subject": "Missed call", "from": "c7"}"#)
            .send()
            .await
            .unwrap();
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(receipt["verdict"], "accepted", "{receipt}");
        delivered.push(receipt["event_ids"][0].as_str().unwrap().to_owned());
    }
    let (_, page) = app.get_json("/v1/work?queue=calls", &app.a.read).await;
    let jobs = page["items"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "only the processing channel's event became a job: {page}");
    assert_eq!(jobs[0]["event_id"], delivered[0].as_str());
    assert_eq!(
        (jobs[0]["status"].as_str(), jobs[0]["entity"]["id"].as_str()),
        (Some("pending"), Some("c7"))
    );
    // The jobs of given events (as the Activity Center asks for events that arrived live).
    let both = format!("/v1/work?event_id={},{}", delivered[0], delivered[1]);
    let (_, page) = app.get_json(&both, &app.a.read).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["event_id"], delivered[0].as_str());
    let (_, page) = app.get_json(&both, &app.b.read).await;
    assert_eq!(page["items"], json!([]), "another tenant sees none");
    let many = vec![delivered[1].clone(); 101].join(",");
    for bad in ["nope".to_owned(), format!("{},", delivered[0]), many] {
        let r = app
            .req(Method::GET, &format!("/v1/work?event_id={bad}"), &app.a.read)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "event_id", "{problem}");
    }

    let claimed = claim(&app, &app.a.worker, json!({"queue": "calls"})).await;
    assert_eq!(claimed[0]["event"]["id"], delivered[0].as_str());
}
