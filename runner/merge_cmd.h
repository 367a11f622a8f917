/* merge_cmd: `llmbatch merge -o RESULTS [--errors FILE] [--report FILE]
 * SHARD_RESULTS...` (see merge_cmd.c). */
#ifndef LLMB_MERGE_CMD_H
#define LLMB_MERGE_CMD_H

/* argv as main's (argv[1] is "merge").  Returns the exit code: 0 merged,
 * 2 refused (bad arguments, incomplete or mismatched shards: nothing is
 * written), 5 an I/O error (nothing is left half-written). */
int merge_cmd(int argc, char **argv);

#endif
