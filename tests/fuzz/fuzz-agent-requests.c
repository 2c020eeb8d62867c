/* fuzz-agent-requests.c: the agent's request parsers (guest/agent/requests.c)
 * on any OPEN payload: EXEC and SESSION_START (field list, ARG/ENV counts,
 * strings, terminal size, then the argv a command becomes), the file
 * operations' arguments under every set of allowed fields, and session
 * references.  The first input byte picks the parser; the rest is the
 * field list.  Beyond not crashing, what a parser accepts must hold what it
 * promises (checked below), and what it refuses must say why. */
#include <assert.h>
#include <string.h>

#include "fuzz.h"
#include "requests.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void check_refusal(const agent_fail *f)
{
    assert(f->code != 0);
    assert(memchr(f->msg, 0, sizeof f->msg) && f->msg[0]);
}

static void exec_request(const uint8_t *p, size_t len, uint8_t op)
{
    exec_req q;
    agent_fail f = { 0 };

    if (exec_req_parse(p, len, op, &q, &f) < 0) {
        check_refusal(&f);
        exec_req_free(&q);
        return;
    }
    /* exactly one of argv and a command; a terminal has both sizes */
    assert((q.argc > 0) != (q.command != NULL));
    assert(!q.cols == !q.rows);
    assert(op == OC_OP_SESSION_START || !q.cols);
    assert(q.argc <= OC_PROTO_MAX_ARGS && q.envc <= OC_PROTO_MAX_ARGS);
    for (size_t i = 0; i < q.envc; i++)
        assert(strchr(q.envp[i], '='));
    assert(!q.envp[q.envc]);
    if (q.command) {
        /* what exec_spawn does next: plain words become argv, else the shell */
        if (exec_req_split_simple(&q)) {
            assert(q.argc > 0 && !strchr(q.argv[0], '='));
            for (size_t i = 0; i < q.argc; i++)
                assert(q.argv[i][0] && !strchr(q.argv[i], ' '));
        } else {
            exec_req_use_shell(&q);
            assert(q.argc == 3 && q.argv[2] == q.command);
        }
    }
    assert(!q.argv[q.argc]);
    exec_req_free(&q);
}

static void file_request(const uint8_t *p, size_t len, unsigned allowed)
{
    file_args a;
    agent_fail f = { 0 };

    if (file_args_parse(p, len, allowed, &a, &f) < 0) {
        check_refusal(&f);
        return;
    }
    assert(!(allowed & FA_PATH) || (a.has_path && a.path[0]));
    assert(!(allowed & FA_NEW_PATH) || (a.has_new_path && a.new_path[0]));
    assert(memchr(a.path, 0, sizeof a.path) && memchr(a.new_path, 0, sizeof a.new_path));
    assert(!a.has_mode || (allowed & FA_MODE));
}

static void session_request(const uint8_t *p, size_t len, int with_signal)
{
    uint32_t id = 0, sig = 0;
    agent_fail f = { 0 };

    if (session_ref_parse(p, len, "SESSION_KILL", &id, with_signal ? &sig : NULL, &f) < 0) {
        check_refusal(&f);
        return;
    }
    assert(id != 0);
    assert(sig < 65);
}

static void forward_request(const uint8_t *p, size_t len)
{
    uint32_t port = 0;
    agent_fail f = { 0 };

    if (forward_req_parse(p, len, &port, &f) < 0) {
        check_refusal(&f);
        return;
    }
    assert(port >= 1 && port <= 65535);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the sets of fields each file operation allows (fileops.c, files.c) */
    static const unsigned file_sets[] = {
        FA_PATH, FA_PATH | FA_MODE, FA_PATH | FA_MODE | FA_PARENTS, FA_PATH | FA_RECURSIVE,
        FA_PATH | FA_NEW_PATH,
    };
    if (size < 1)
        return 0;
    uint8_t pick = data[0];
    data++, size--;
    switch (pick % 4) {
    case 0: exec_request(data, size, pick & 4 ? OC_OP_SESSION_START : OC_OP_EXEC); break;
    case 1: file_request(data, size, file_sets[(pick >> 2) % 5]); break;
    case 2:
        if (pick & 8)
            forward_request(data, size);
        else
            session_request(data, size, pick & 4);
        break;
    default: {
        /* a RESIZE's fields */
        oc_proto_reader r;
        oc_proto_field fld;
        uint32_t cols = 0, rows = 0;
        oc_proto_reader_init(&r, data, size);
        while (oc_proto_next(&r, &fld) == 1)
            if ((fld.tag == OC_F_COLS || fld.tag == OC_F_ROWS) &&
                pty_size_field(&fld, &cols, &rows) == 0)
                assert(cols <= PTY_SIZE_MAX && rows <= PTY_SIZE_MAX);
        break;
    }
    }
    return 0;
}
