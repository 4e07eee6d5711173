#!/bin/sh
# An "AI agent" worker for `spine work`: it summarises an inbound call.
#
#   spine work --queue calls --note --note-author "Call summariser" -- ./examples/summarise-call.sh
#
# The job arrives as JSON on stdin (with its event: data.from, data.transcript). What this script
# prints is the job's result and, with --note, a Markdown note on the call's entity. A non-zero exit
# fails the job with what it wrote to stderr, and Spine retries it later.
#
# Set SUMMARISE_CMD to a command that reads text on stdin and prints a summary (a language model's
# CLI, for example `llm -s "Summarise this phone call in one sentence"`); without one, the script
# writes an extractive summary: the first sentence, the length and the topics it recognises.
set -eu

job=$(cat)
# The first string value of a field, wherever it sits in the job (POSIX tools only, no jq).
field() {
  printf '%s' "$job" | sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" | head -n 1
}
from=$(field from)
transcript=$(field transcript)
if [ -z "$transcript" ]; then
  echo "job $SPINE_JOB_ID: the call's event has no data.transcript" >&2
  exit 1
fi

if [ -n "${SUMMARISE_CMD:-}" ]; then
  summary=$(printf '%s\n' "$transcript" | $SUMMARISE_CMD)
else
  summary=$(printf '%s\n' "$transcript" | sed 's/\([.!?]\) .*/\1/')
fi
words=$(printf '%s\n' "$transcript" | wc -w | tr -d ' ')
topics=""
for topic in refund cancel invoice quote outage upgrade; do
  if printf '%s' "$transcript" | grep -qi "$topic"; then topics="$topics $topic"; fi
done

echo "**Call from ${from:-an unknown number}** ($words words, attempt $SPINE_JOB_ATTEMPT)"
echo
echo "$summary"
if [ -n "$topics" ]; then
  echo
  echo "Topics:$topics"
fi
