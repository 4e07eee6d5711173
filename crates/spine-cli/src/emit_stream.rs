//! `spine emit` from stdin: NDJSON posted to `POST /v1/events/batch` in batches, in constant
//! memory (one batch of raw lines at a time). Each line is checked locally first, so a bad line is
//! reported with its line number instead of failing its whole batch; the server's answer is
//! tallied into created / repeated / conflicts / rejected.

use crate::emit::{client, endpoint, send};
use crate::error::{json_line_error, CliError, CliResult};
use crate::problem::Problem;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::json;
use spine_core::input::EventLimits;
use spine_core::EventInput;
use std::io::IsTerminal;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

/// Keeps a batch's body well under the server's default 16 MiB batch limit.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Problem lines printed before the rest are only counted.
const MAX_REPORTED: u64 = 20;

/// How to stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Server URL.
    pub base: String,
    /// Ingest key.
    pub key: String,
    /// Events per request, 1..=1000.
    pub batch_size: usize,
    /// The bounds lines are checked against before sending.
    pub limits: EventLimits,
    /// Print the summary as JSON.
    pub json: bool,
}

/// Counts of what happened to the lines read.
#[derive(Debug, Default)]
struct Tally {
    created: u64,
    repeated: u64,
    conflicts: u64,
    rejected: u64,
}

/// One batch under construction: the raw lines and where they came from.
#[derive(Default)]
struct Batch {
    lines: Vec<(u64, String)>,
    bytes: usize,
}

#[derive(Deserialize)]
struct BatchAnswer {
    items: Vec<BatchItem>,
}

#[derive(Deserialize)]
struct BatchItem {
    status: u16,
    #[serde(default)]
    problem: Option<Problem>,
}

struct Emitter {
    http: reqwest::Client,
    options: StreamOptions,
    tally: Tally,
    progress: ProgressBar,
}

/// Reads stdin to its end, posting batches as they fill, then prints the summary. Fails (after
/// the summary) when any event was not stored.
pub async fn run(options: StreamOptions) -> CliResult<()> {
    if std::io::stdin().is_terminal() {
        eprintln!("reading NDJSON events from stdin (one JSON object per line; Ctrl-D ends)");
    }
    let mut emitter =
        Emitter { http: client()?, tally: Tally::default(), progress: progress_bar(), options };
    let result = emitter.read_all().await;
    emitter.progress.finish_and_clear();
    let t = &emitter.tally;
    if emitter.options.json {
        let summary = json!({"created": t.created, "repeated": t.repeated,
            "conflicts": t.conflicts, "rejected": t.rejected});
        println!("{summary}");
    } else {
        println!(
            "{} created, {} repeated, {} conflicts, {} rejected",
            t.created, t.repeated, t.conflicts, t.rejected
        );
    }
    result?;
    match t.conflicts + t.rejected {
        0 => Ok(()),
        n => Err(CliError::new(format!("{n} events were not stored (see above)"))),
    }
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {human_pos} events sent ({per_sec}) {elapsed} {msg}",
    ) {
        bar.set_style(style);
    }
    bar
}

impl Emitter {
    async fn read_all(&mut self) -> CliResult<()> {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut batch = Batch::default();
        let mut line_no = 0u64;
        loop {
            let line = lines
                .next_line()
                .await
                .map_err(|e| CliError::new(format!("stdin line {}: {e}", line_no + 1)))?;
            let Some(line) = line else { break };
            line_no += 1;
            if line.trim().is_empty() {
                continue;
            }
            if let Err(message) = check_line(&line, &self.options.limits) {
                self.reject(line_no, &message);
                continue;
            }
            batch.bytes += line.len() + 1;
            batch.lines.push((line_no, line));
            if batch.lines.len() >= self.options.batch_size || batch.bytes >= MAX_BATCH_BYTES {
                self.post(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.lines.is_empty() {
            self.post(batch).await?;
        }
        Ok(())
    }

    fn reject(&mut self, line: u64, message: &str) {
        self.tally.rejected += 1;
        self.report(line, "rejected", message);
    }

    fn report(&self, line: u64, what: &str, message: &str) {
        let shown = self.tally.rejected + self.tally.conflicts;
        if shown <= MAX_REPORTED {
            self.progress.suspend(|| eprintln!("line {line}: {what}: {message}"));
        }
        if shown == MAX_REPORTED {
            self.progress.suspend(|| eprintln!("(further problems are only counted)"));
        }
    }

    /// Posts one batch. A 422 naming items (`events[i]...`, when the server's limits are stricter
    /// than ours) rejects those items and re-posts the rest; nothing was written in between.
    async fn post(&mut self, mut batch: Batch) -> CliResult<()> {
        let url = endpoint(&self.options.base, "/v1/events/batch");
        while !batch.lines.is_empty() {
            let mut body = String::with_capacity(batch.bytes + 16);
            body.push_str("{\"events\":[");
            for (i, (_, line)) in batch.lines.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(line);
            }
            body.push_str("]}");
            let request = self
                .http
                .post(&url)
                .bearer_auth(&self.options.key)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
            let response = send(request, &self.options.base).await?;
            if response.status().is_success() {
                let answer: BatchAnswer = response.json().await?;
                self.tally_answer(&batch, answer);
                return Ok(());
            }
            let problem = Problem::from_response(response).await;
            let bad = item_errors(&problem);
            if problem.status != Some(422) || bad.is_empty() {
                return Err(problem.into());
            }
            let mut kept = Batch::default();
            for (i, (line_no, line)) in batch.lines.into_iter().enumerate() {
                match bad.iter().find(|(index, _)| *index == i) {
                    Some((_, message)) => self.reject(line_no, message),
                    None => {
                        kept.bytes += line.len() + 1;
                        kept.lines.push((line_no, line));
                    }
                }
            }
            self.progress.inc((bad.len()) as u64);
            batch = kept;
        }
        Ok(())
    }

    fn tally_answer(&mut self, batch: &Batch, answer: BatchAnswer) {
        for (i, item) in answer.items.into_iter().enumerate() {
            let line = batch.lines.get(i).map_or(0, |(n, _)| *n);
            match item.status {
                201 => self.tally.created += 1,
                200 => self.tally.repeated += 1,
                409 => {
                    self.tally.conflicts += 1;
                    let detail = item.problem.map(|p| p.to_string()).unwrap_or_default();
                    self.report(line, "conflict", &detail);
                }
                other => {
                    let detail =
                        item.problem.map_or_else(|| format!("status {other}"), |p| p.to_string());
                    self.reject(line, &detail);
                }
            }
        }
        self.progress.inc(batch.lines.len() as u64);
    }
}

/// Checks one line as the server would (shape and field bounds), without its clock or keys.
fn check_line(line: &str, limits: &EventLimits) -> Result<(), String> {
    let input: EventInput = serde_json::from_str(line)
        .map_err(|e| format!("not a valid event: {}", json_line_error(&e)))?;
    input.validate(Uuid::nil(), None, limits).map(drop).map_err(|e| e.to_string())
}

/// The item errors of a batch problem, by item index: `events[3].title: is required`.
fn item_errors(problem: &Problem) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for e in &problem.errors {
        let Some(rest) = e.field.strip_prefix("events[") else { continue };
        let Some((index, field)) = rest.split_once(']') else { continue };
        let Ok(index) = index.parse::<usize>() else { continue };
        let message = format!("{}: {}", field.trim_start_matches('.'), e.message);
        match out.iter_mut().find(|(i, _)| *i == index) {
            Some((_, m)) => {
                m.push_str("; ");
                m.push_str(&message);
            }
            None => out.push((index, message)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::FieldError;

    #[test]
    fn lines_are_checked_like_the_server_would() {
        let limits = EventLimits::default();
        assert!(check_line(r#"{"type":"a.b","title":"t"}"#, &limits).is_ok());
        assert!(check_line(r#"{"type":"a.b"}"#, &limits).is_err_and(|e| e.contains("title")));
        assert!(check_line(r#"{"type":"a.b","title":"t","tenant":"x"}"#, &limits).is_err());
        assert!(check_line("not json", &limits).is_err());
    }

    #[test]
    fn item_errors_group_by_index() {
        let field = |f: &str, m: &str| FieldError { field: f.into(), message: m.into() };
        let p = Problem {
            errors: vec![
                field("events[2].title", "is required"),
                field("events[2].type", "is required"),
                field("events[0].tags[1]", "too long"),
                field("events", "must hold 1 to 1000 events"),
            ],
            ..Problem::default()
        };
        assert_eq!(
            item_errors(&p),
            vec![
                (2, "title: is required; type: is required".to_owned()),
                (0, "tags[1]: too long".to_owned())
            ]
        );
    }
}
