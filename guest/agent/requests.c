/* requests.c: the operations' request parsers (see requests.h): bounds
 * first, then copies; nothing here has an effect outside the structs. */
#define _GNU_SOURCE
#include "requests.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(agent_fail *f, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(agent_fail *f, uint32_t code, const char *fmt, ...)
{
    va_list ap;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
}

/* ---- EXEC and SESSION_START ---- */

void exec_req_free(exec_req *q)
{
    free(q->argv);
    free(q->envp);
    free(q->tty_env);
    free(q->user_envp);
    free(q->user_env_strings);
    free(q->strings);
    free(q->words);
}

/* Parses the OPEN fields.  Counts are bounded before anything is sized from
 * them, and all strings are copied into one buffer no larger than the
 * payload itself. */
int exec_req_parse(const uint8_t *p, size_t len, uint8_t op, exec_req *q, agent_fail *f)
{
    oc_proto_reader r;
    oc_proto_field fld;
    int rc;
    size_t nstr = 0;
    memset(q, 0, sizeof *q);
    q->what = op == OC_OP_SESSION_START ? "SESSION_START" : "EXEC";
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &fld)) == 1) {
        switch (fld.tag) {
        case OC_F_ARG: q->argc++; nstr++; break;
        case OC_F_ENV: q->envc++; nstr++; q->has_env = 1; break;
        case OC_F_COMMAND: case OC_F_CWD: case OC_F_USER: nstr++; break;
        case OC_F_OP: case OC_F_TIMEOUT_MS: case OC_F_STDIN: break;
        case OC_F_COLS: case OC_F_ROWS:
            if (op == OC_OP_SESSION_START)
                break;
            fail(f, OC_PERR_INVAL, "%s: COLS and ROWS (a terminal) are only for "
                 "SESSION_START", q->what);
            return -1;
        default:
            fail(f, OC_PERR_UNSUPPORTED, "%s: unknown field 0x%04x", q->what, fld.tag);
            return -1;
        }
    }
    if (rc < 0) {
        fail(f, OC_PERR_PROTOCOL, "%s: malformed field list", q->what);
        return -1;
    }
    if (q->argc > OC_PROTO_MAX_ARGS || q->envc > OC_PROTO_MAX_ARGS) {
        fail(f, OC_PERR_LIMIT, "%s: more than %u ARG or ENV fields", q->what,
             OC_PROTO_MAX_ARGS);
        return -1;
    }
    /* +4 covers "/bin/sh -c CMD"; a command split into words has at most
     * len/2+1 of them. */
    q->argv = calloc(q->argc + 4 + len / 2, sizeof *q->argv);
    q->envp = calloc(q->envc + 1, sizeof *q->envp);
    q->strings = malloc(len + nstr + 1);
    if (!q->argv || !q->envp || !q->strings) {
        fail(f, OC_PERR_LIMIT, "%s: out of memory", q->what);
        return -1;
    }
    char *sp = q->strings;
    size_t ai = 0, ei = 0;
    oc_proto_reader_init(&r, p, len);
    while (oc_proto_next(&r, &fld) == 1) {
        char *str = NULL;
        if (fld.tag == OC_F_ARG || fld.tag == OC_F_ENV || fld.tag == OC_F_COMMAND || fld.tag == OC_F_CWD ||
            fld.tag == OC_F_USER) {
            if (memchr(fld.data, 0, fld.len)) {
                fail(f, OC_PERR_INVAL, "%s: string field 0x%04x contains a NUL byte",
                     q->what, fld.tag);
                return -1;
            }
            memcpy(sp, fld.data, fld.len);
            sp[fld.len] = '\0';
            str = sp;
            sp += fld.len + 1;
        }
        uint32_t v;
        switch (fld.tag) {
        case OC_F_ARG: q->argv[ai++] = str; break;
        case OC_F_ENV:
            if (!strchr(str, '=')) {
                fail(f, OC_PERR_INVAL, "%s: ENV entry '%.200s' is not K=V", q->what, str);
                return -1;
            }
            q->envp[ei++] = str;
            break;
        case OC_F_COMMAND:
            if (q->command) {
                fail(f, OC_PERR_INVAL, "%s: more than one COMMAND", q->what);
                return -1;
            }
            q->command = str;
            break;
        case OC_F_CWD:
            if (fld.len >= OC_PROTO_MAX_PATH) {
                fail(f, OC_PERR_LIMIT, "%s: CWD longer than %u bytes", q->what,
                     OC_PROTO_MAX_PATH);
                return -1;
            }
            q->cwd = str;
            break;
        case OC_F_USER:
            if (fld.len == 0 || fld.len > 2 * 64 + 1 || q->user) {
                fail(f, OC_PERR_INVAL, "%s: USER must be one USER[:GROUP] of at most %u bytes",
                     q->what, 2 * 64 + 1);
                return -1;
            }
            q->user = str;
            break;
        case OC_F_TIMEOUT_MS:
        case OC_F_STDIN:
            if (oc_proto_field_u32(&fld, &v) < 0) {
                fail(f, OC_PERR_INVAL, "%s: integer field 0x%04x has size %u",
                     q->what, fld.tag, fld.len);
                return -1;
            }
            if (fld.tag == OC_F_TIMEOUT_MS)
                q->timeout_ms = v;
            else
                q->want_stdin = v != 0;
            break;
        case OC_F_COLS:
        case OC_F_ROWS:
            if (pty_size_field(&fld, &q->cols, &q->rows) < 0) {
                fail(f, OC_PERR_INVAL, "%s: %s must be a u32 from 1 to %u", q->what,
                     pty_field_name(fld.tag), PTY_SIZE_MAX);
                return -1;
            }
            break;
        }
    }
    if (!q->cols != !q->rows) {
        fail(f, OC_PERR_INVAL, "%s: COLS and ROWS go together (both make a PTY "
             "session)", q->what);
        return -1;
    }
    if ((q->argc > 0) == (q->command != NULL)) {
        fail(f, OC_PERR_INVAL, "%s: exactly one of ARG and COMMAND is required",
             q->what);
        return -1;
    }
    return 0;
}

/* Builtins whose effect a separate program cannot have, or does not have in
 * the same way; a command naming one always goes through the shell. */
static const char *const shell_only[] = {
    ".", "alias", "bg", "break", "cd", "command", "continue", "eval", "exec", "exit",
    "export", "fg", "getopts", "hash", "jobs", "local", "read", "readonly", "return",
    "set", "shift", "source", "times", "trap", "type", "ulimit", "umask", "unalias",
    "unset", "wait", NULL,
};

/* A command line made only of plain words (no quoting, expansion,
 * redirection, globbing, separators or assignments) means the same run as
 * argv as under `sh -c`, and saves the guest a second exec, the most costly
 * part of an exec under TCG.  Splits a copy into q->argv and returns 1, or
 * returns 0 to leave it to the shell. */
int exec_req_split_simple(exec_req *q)
{
    static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789_./:,+@%-= ";
    size_t n = 0;
    char *save = NULL;

    if (strspn(q->command, plain) != strlen(q->command) || !(q->words = strdup(q->command)))
        return 0;
    for (char *w = strtok_r(q->words, " ", &save); w; w = strtok_r(NULL, " ", &save))
        q->argv[n++] = w;
    q->argv[n] = NULL;
    if (n == 0 || strchr(q->argv[0], '='))
        return 0; /* an assignment, or nothing: the shell's business */
    for (const char *const *b = shell_only; *b; b++)
        if (strcmp(q->argv[0], *b) == 0)
            return 0;
    q->argc = n;
    return 1;
}

void exec_req_use_shell(exec_req *q)
{
    q->argv[0] = "/bin/sh";
    q->argv[1] = "-c";
    q->argv[2] = q->command;
    q->argv[3] = NULL;
    q->argc = 3;
}

/* ---- file operations ---- */

int file_args_parse(const uint8_t *p, size_t len, unsigned allowed, file_args *a,
                    agent_fail *f)
{
    oc_proto_reader r;
    oc_proto_field fld;
    int rc;
    memset(a, 0, sizeof *a);
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &fld)) == 1) {
        uint32_t v;
        unsigned bit = fld.tag == OC_F_PATH ? FA_PATH : fld.tag == OC_F_NEW_PATH ? FA_NEW_PATH
                     : fld.tag == OC_F_MODE ? FA_MODE : fld.tag == OC_F_PARENTS ? FA_PARENTS
                     : fld.tag == OC_F_RECURSIVE ? FA_RECURSIVE : 0;
        if (fld.tag == OC_F_OP)
            continue;
        if (!(bit & allowed)) {
            fail(f, OC_PERR_UNSUPPORTED, "unknown field 0x%04x for this operation", fld.tag);
            return -1;
        }
        if (bit == FA_PATH || bit == FA_NEW_PATH) {
            char *out = bit == FA_PATH ? a->path : a->new_path;
            if (fld.len >= OC_PROTO_MAX_PATH) {
                fail(f, OC_PERR_LIMIT, "path longer than %u bytes", OC_PROTO_MAX_PATH - 1);
                return -1;
            }
            if (fld.len == 0 || oc_proto_field_str(&fld, out, OC_PROTO_MAX_PATH) < 0) {
                fail(f, OC_PERR_INVAL, "path is empty or contains a NUL byte");
                return -1;
            }
            if (bit == FA_PATH)
                a->has_path = 1;
            else
                a->has_new_path = 1;
            continue;
        }
        if (oc_proto_field_u32(&fld, &v) < 0) {
            fail(f, OC_PERR_INVAL, "integer field 0x%04x has size %u", fld.tag, fld.len);
            return -1;
        }
        if (bit == FA_MODE) {
            a->mode = v;
            a->has_mode = 1;
        } else if (bit == FA_PARENTS) {
            a->parents = v != 0;
        } else {
            a->recursive = v != 0;
        }
    }
    if (rc < 0) {
        fail(f, OC_PERR_PROTOCOL, "malformed field list");
        return -1;
    }
    if ((allowed & FA_PATH) && !a->has_path) {
        fail(f, OC_PERR_INVAL, "PATH is required");
        return -1;
    }
    if ((allowed & FA_NEW_PATH) && !a->has_new_path) {
        fail(f, OC_PERR_INVAL, "NEW_PATH is required");
        return -1;
    }
    return 0;
}

/* ---- session references ---- */

/* One required u32 field, tag (named name), 1 to max, and optionally SIGNAL. */
static int ref_parse(const uint8_t *p, size_t len, const char *what, uint16_t tag,
                     const char *name, uint32_t max, uint32_t *id, uint32_t *sig, agent_fail *f)
{
    oc_proto_reader r;
    oc_proto_field fld;
    int rc;
    *id = 0;
    oc_proto_reader_init(&r, p, len);
    while ((rc = oc_proto_next(&r, &fld)) == 1) {
        int bad = 0;
        if (fld.tag == tag) {
            bad = oc_proto_field_u32(&fld, id) < 0 || *id > max;
        } else if (fld.tag == OC_F_SIGNAL && sig) {
            bad = oc_proto_field_u32(&fld, sig) < 0 || *sig == 0 || *sig >= 65;
        } else if (fld.tag != OC_F_OP) {
            fail(f, OC_PERR_UNSUPPORTED, "%s: unknown field 0x%04x", what, fld.tag);
            return -1;
        }
        if (bad) {
            fail(f, OC_PERR_INVAL, "%s: bad field 0x%04x", what, fld.tag);
            return -1;
        }
    }
    if (rc < 0) {
        fail(f, OC_PERR_PROTOCOL, "%s: malformed field list", what);
        return -1;
    }
    if (!*id) {
        fail(f, OC_PERR_INVAL, "%s: %s is required", what, name);
        return -1;
    }
    return 0;
}

int session_ref_parse(const uint8_t *p, size_t len, const char *what, uint32_t *id,
                      uint32_t *sig, agent_fail *f)
{
    return ref_parse(p, len, what, OC_F_SESSION, "SESSION", UINT32_MAX, id, sig, f);
}

int forward_req_parse(const uint8_t *p, size_t len, uint32_t *port, agent_fail *f)
{
    return ref_parse(p, len, "PORT_CONNECT", OC_F_PORT, "PORT (1 to 65535)", 65535, port,
                     NULL, f);
}

/* ---- terminal size ---- */

int pty_size_field(const oc_proto_field *f, uint32_t *cols, uint32_t *rows)
{
    uint32_t v;
    if (oc_proto_field_u32(f, &v) < 0 || v < 1 || v > PTY_SIZE_MAX)
        return -1;
    *(f->tag == OC_F_COLS ? cols : rows) = v;
    return 0;
}

const char *pty_field_name(uint16_t tag)
{
    return tag == OC_F_COLS ? "COLS" : "ROWS";
}

