#!/bin/bash
# One llmbatch job run as 3 shards by a Slurm job array, sharing one budget and
# one rate limit through a ledger in Redis, then merged by a dependent job.
#
#   export LLMBATCH_REDIS_URL='redis://:PASSWORD@redis-host:6379/0'
#   export OPENAI_API_KEY=...        # (or --keys-file on a private path)
#   jid=$(sbatch --parsable samples/slurm-array.sh)
#   sbatch --dependency=afterany:$jid --export=ALL,MERGE=1 samples/slurm-array.sh
#
# `--shard auto/3` takes the index from SLURM_ARRAY_TASK_ID (minus
# SLURM_ARRAY_TASK_MIN, so --array=1-3 works too).  Each task writes
# $DATA/out.shard-I-of-3.jsonl (+ .errors.jsonl, .report.json, .jsonl.ckpt)
# on a shared filesystem; a requeued or resubmitted task resumes from its
# checkpoint.  The merge refuses (exit 2, nothing written) unless every shard
# is complete and every job ended exactly once.
#SBATCH --job-name=llmbatch
#SBATCH --array=0-2
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=24:00:00
#SBATCH --requeue
set -euo pipefail
DATA=${DATA:-$HOME/llmbatch-data}
SHARDS=3

if [ "${MERGE:-0}" = 1 ]; then
    exec llmbatch merge -o "$DATA/results.jsonl" \
        $(for i in $(seq 0 $((SHARDS - 1))); do echo "$DATA/out.shard-$i-of-$SHARDS.jsonl"; done)
fi

# exit 1 (some jobs failed) or 3 (shared budget spent) still leaves complete
# or resumable outputs; let the merge decide.
llmbatch run "$DATA/jobs.jsonl" -o "$DATA/out.jsonl" \
    --shard "auto/$SHARDS" \
    --ledger nightly-eval \
    --budget 250 --rpm 5000 \
    --concurrency 64 --no-progress
