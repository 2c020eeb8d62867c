/* requests.h: the operations' request parsers.  Each turns an OPEN's field
 * list into a struct, or says what is wrong in an agent_fail (the ERROR code
 * and message the caller sends).  They touch no stream, file or process, so
 * that a fuzzer can run them on any input (tests/fuzz/fuzz-agent-requests.c):
 * every byte of a request comes from the host, and through a compromised
 * host library from anyone. */
#ifndef OC_AGENT_REQUESTS_H
#define OC_AGENT_REQUESTS_H

#include <stddef.h>
#include <stdint.h>

#include "oc-proto.h"

/* A PTY session's terminal: the largest COLS and ROWS. */
#define PTY_SIZE_MAX 4096u

typedef struct {
    uint32_t code; /* OC_PERR_* */
    char msg[512];
} agent_fail;

/* ---- EXEC and SESSION_START ---- */

typedef struct {
    char **argv;
    size_t argc;
    char **envp;
    size_t envc;
    int has_env;
    char *command;
    char *cwd;
    char *user;       /* USER[:GROUP], or NULL: the agent's own (root) */
    char **user_envp; /* the environment with the user's HOME, USER, LOGNAME */
    char *user_env_strings; /* what those three point into */
    uint32_t timeout_ms;
    int want_stdin;
    uint32_t cols, rows; /* both or neither: a terminal rather than pipes */
    char **tty_env;   /* a PTY session's environment, if TERM had to be added */
    char *strings; /* backing store of every string above */
    char *words;   /* a copy of command split into argv, if it was simple */
    const char *what; /* the operation, for messages */
} exec_req;

/* op is OC_OP_EXEC or OC_OP_SESSION_START (which alone may ask for a
 * terminal).  On failure too, *q holds only what exec_req_free() frees. */
int exec_req_parse(const uint8_t *p, size_t len, uint8_t op, exec_req *q, agent_fail *f);
void exec_req_free(exec_req *q);
/* A COMMAND made only of plain words becomes q->argv (returns 1): the same
 * run as under `sh -c`, one exec fewer.  Returns 0 to leave it to the shell. */
int exec_req_split_simple(exec_req *q);
/* q->argv becomes /bin/sh -c COMMAND. */
void exec_req_use_shell(exec_req *q);

/* ---- file operations ---- */

typedef struct {
    char path[OC_PROTO_MAX_PATH];
    char new_path[OC_PROTO_MAX_PATH];
    int has_path, has_new_path, has_mode;
    uint32_t mode;
    uint8_t parents, recursive;
} file_args;
#define FA_PATH      1u
#define FA_NEW_PATH  2u
#define FA_MODE      4u
#define FA_PARENTS   8u
#define FA_RECURSIVE 16u

/* PATH (and NEW_PATH, MODE, flags) fields; the allowed ones are required
 * (PATH, NEW_PATH) or optional, any other is an error. */
int file_args_parse(const uint8_t *p, size_t len, unsigned allowed, file_args *a,
                    agent_fail *f);

/* ---- session references (SESSION_KILL, SESSION_ATTACH) ---- */

/* SESSION (required) and, where sig is not NULL, SIGNAL (1..64). */
int session_ref_parse(const uint8_t *p, size_t len, const char *what, uint32_t *id,
                      uint32_t *sig, agent_fail *f);

/* ---- PORT_CONNECT ---- */

/* PORT (required, 1..65535). */
int forward_req_parse(const uint8_t *p, size_t len, uint32_t *port, agent_fail *f);

/* ---- terminal size (SESSION_START, RESIZE) ---- */

/* Stores a COLS or ROWS field in *cols or *rows.  Returns 0, or -1 when it
 * is not a u32 from 1 to PTY_SIZE_MAX. */
int pty_size_field(const oc_proto_field *f, uint32_t *cols, uint32_t *rows);
const char *pty_field_name(uint16_t tag);

#endif
