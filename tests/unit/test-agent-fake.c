/* test-agent-fake.c: the host side of the agent protocol (lib/agent/)
 * against a scripted fake agent in a thread of this process, for what the
 * real one never does: stale bytes before the handshake, malformed frames,
 * credit overruns, a guest that never answers; and against no agent at
 * all.  The real agent is test-agent-client.c's. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "agent/agent-private.h"
#include "oc-proto.h"
#include "util/error.h"
#include "agent-test-loop.h"

/* ---- connecting to nothing ---- */

START_TEST(test_connect_nobody)
{
    GError *err = NULL;
    gint64 t0;

    start_event_thread();
    /* No socket at all. */
    t0 = g_get_monotonic_time();
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 700, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    gint64 dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 650 * 1000);
    ck_assert_int_lt(dt, 1500 * 1000);
    g_clear_error(&err);

    /* A socket that accepts (in the backlog) but never answers, like QEMU
     * while the guest boots. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    g_strlcpy(addr.sun_path, sock_path, sizeof addr.sun_path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    t0 = g_get_monotonic_time();
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 1200, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 1150 * 1000);
    ck_assert_int_lt(dt, 2000 * 1000);
    g_clear_error(&err);
    close(fd);
    stop_event_thread();
}
END_TEST

/* ---- a scripted fake agent ---- */

typedef enum {
    FAKE_STALE_THEN_OK,  /* junk and a foreign HELLO_ACK first, then a good stat */
    FAKE_BAD_MAGIC,
    FAKE_OVERSIZE,
    FAKE_UNKNOWN_TYPE,
    FAKE_OVER_CREDIT,
    FAKE_HANGUP,
    FAKE_SILENT,         /* never answers OPEN; expects CANCEL */
    FAKE_HALF,           /* half a RESULT, then nothing; expects CANCEL */
    FAKE_STRAY,          /* frames for a stream it was not asked for; expects CANCEL */
    FAKE_DEAF,           /* reads nothing after the first OPEN for 3 s */
    FAKE_UNSUPPORTED,    /* answers HELLO with ERROR UNSUPPORTED */
    FAKE_BAD_VERSION,
} FakeScript;

typedef struct {
    FakeScript script;
    int listen_fd;
    gboolean got_cancel;
    GThread *thread;
} Fake;

static gboolean read_full(int fd, void *buf, gsize len)
{
    gsize got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0)
            return FALSE;
        got += (gsize)n;
    }
    return TRUE;
}

static void write_full(int fd, const void *buf, gsize len)
{
    gsize done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0)
            return;
        done += (gsize)n;
    }
}

static gboolean fake_read(int fd, oc_proto_header *h, guint8 *payload)
{
    guint8 hdr[OC_PROTO_HEADER_SIZE];
    return read_full(fd, hdr, sizeof hdr) && oc_proto_header_decode(h, hdr) == 0 &&
           read_full(fd, payload, h->length);
}

static void fake_send(int fd, guint8 type, guint8 chan, guint32 stream, const void *p, guint32 len)
{
    guint8 *buf = g_malloc(OC_PROTO_HEADER_SIZE + len);
    oc_proto_frame(buf, type, chan, stream, p, len);
    write_full(fd, buf, OC_PROTO_HEADER_SIZE + len);
    g_free(buf);
}

static void fake_ack(int fd, guint64 nonce, guint32 version)
{
    guint8 p[128];
    oc_proto_writer w;
    oc_proto_writer_init(&w, p, sizeof p);
    oc_proto_put_u32(&w, OC_F_VERSION, version);
    oc_proto_put_u64(&w, OC_F_NONCE, nonce);
    oc_proto_put_str(&w, OC_F_AGENT, "fake 1");
    fake_send(fd, OC_T_HELLO_ACK, 0, 0, p, (guint32)w.len);
}

static gpointer fake_main(gpointer data)
{
    Fake *fk = data;
    guint8 *payload = g_malloc(OC_PROTO_MAX_PAYLOAD);
    oc_proto_header h;
    oc_proto_reader r;
    oc_proto_field f;
    guint64 nonce = 0;
    guint8 p[256];
    oc_proto_writer w;

    int fd = accept(fk->listen_fd, NULL, NULL);
    if (fd < 0 || !fake_read(fd, &h, payload) || h.type != OC_T_HELLO)
        goto out;
    oc_proto_reader_init(&r, payload, h.length);
    while (oc_proto_next(&r, &f) == 1)
        if (f.tag == OC_F_NONCE)
            oc_proto_field_u64(&f, &nonce);

    if (fk->script == FAKE_UNSUPPORTED) {
        oc_proto_writer_init(&w, p, sizeof p);
        oc_proto_put_u32(&w, OC_F_ERRCODE, OC_PERR_UNSUPPORTED);
        oc_proto_put_str(&w, OC_F_MESSAGE, "no shared version");
        fake_send(fd, OC_T_ERROR, 0, 0, p, (guint32)w.len);
        goto drain;
    }
    if (fk->script == FAKE_BAD_VERSION) {
        fake_ack(fd, nonce, 7);
        goto drain;
    }
    if (fk->script == FAKE_STALE_THEN_OK) {
        /* The tail of an old frame, a header-like prefix, an ack for another host. */
        static const guint8 junk[] = { 0x00, 0x4f, 0x43, 0x4f, 0x43, OC_T_HELLO_ACK, 0, 0, 0 };
        write_full(fd, junk, sizeof junk);
        fake_ack(fd, nonce ^ 1, 1);
    }
    fake_ack(fd, nonce, 1);
    fake_ack(fd, nonce, 1); /* as if answering a resent HELLO */

    do {
        if (!fake_read(fd, &h, payload))
            goto out;
    } while (h.type != OC_T_OPEN);
    guint32 id = h.stream;

    switch (fk->script) {
    case FAKE_STALE_THEN_OK:
        oc_proto_writer_init(&w, p, sizeof p);
        oc_proto_put_str(&w, OC_F_NAME, "x");
        oc_proto_put_u8(&w, OC_F_FTYPE, OC_FTYPE_FILE);
        oc_proto_put_u64(&w, OC_F_SIZE, 77);
        fake_send(fd, OC_T_RESULT, 0, id, p, (guint32)w.len);
        break;
    case FAKE_BAD_MAGIC: {
        guint8 bad[OC_PROTO_HEADER_SIZE] = { 0x12, 0x34, OC_T_DATA, 1 };
        write_full(fd, bad, sizeof bad);
        break;
    }
    case FAKE_OVERSIZE: {
        guint8 hdr[OC_PROTO_HEADER_SIZE];
        oc_proto_header big = { .type = OC_T_DATA, .chan = 1, .stream = id,
                                .length = OC_PROTO_MAX_PAYLOAD + 1 };
        oc_proto_header_encode(hdr, &big);
        write_full(fd, hdr, sizeof hdr);
        break;
    }
    case FAKE_UNKNOWN_TYPE:
        fake_send(fd, 0x3e, 0, id, "??", 2);
        break;
    case FAKE_OVER_CREDIT:
        memset(payload, 'c', OC_PROTO_MAX_PAYLOAD);
        for (guint i = 0; i < OC_PROTO_INITIAL_WINDOW / OC_PROTO_MAX_PAYLOAD; i++)
            fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, payload, OC_PROTO_MAX_PAYLOAD);
        fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, payload, 1);
        break;
    case FAKE_HANGUP:
        fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id, "par", 3);
        close(fd);
        fd = -1;
        goto out;
    case FAKE_HALF: {
        guint8 frame[OC_PROTO_HEADER_SIZE + 28];
        oc_proto_frame(frame, OC_T_RESULT, 0, id, payload, 28);
        write_full(fd, frame, OC_PROTO_HEADER_SIZE + 14);
        goto silent;
    }
    case FAKE_STRAY:
        for (int i = 0; i < 3; i++)
            fake_send(fd, OC_T_DATA, OC_CHAN_OUT, id + 100, "stray", 5);
        goto silent;
    case FAKE_DEAF:
        g_usleep(3 * G_USEC_PER_SEC);
        break;
    case FAKE_SILENT:
    silent:
        while (fake_read(fd, &h, payload))
            if (h.type == OC_T_CANCEL && h.stream == id)
                fk->got_cancel = TRUE;
        goto out;
    default:
        break;
    }
drain:
    while (fake_read(fd, &h, payload))
        ;
out:
    if (fd >= 0)
        close(fd);
    g_free(payload);
    return NULL;
}

static Fake *fake_start(FakeScript script)
{
    Fake *fk = g_new0(Fake, 1);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    start_event_thread();
    fk->script = script;
    fk->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(addr.sun_path, sock_path, sizeof addr.sun_path);
    ck_assert_int_eq(bind(fk->listen_fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fk->listen_fd, 4), 0);
    fk->thread = g_thread_new("fake", fake_main, fk);
    return fk;
}

/* Returns whether the fake saw a CANCEL for the stream it served. */
static gboolean fake_stop(Fake *fk)
{
    g_thread_join(fk->thread);
    gboolean got_cancel = fk->got_cancel;
    close(fk->listen_fd);
    g_free(fk);
    stop_event_thread();
    return got_cancel;
}

static AgentConn *fake_connect(void)
{
    GError *err = NULL;
    AgentConn *c = agent_conn_open(sock_path, ctx, 3000, &err);
    ck_assert_msg(c != NULL, "%s", err ? err->message : "");
    return c;
}

START_TEST(test_fake_resync)
{
    Fake *fk = fake_start(FAKE_STALE_THEN_OK);
    AgentConn *c = fake_connect();
    AgentFileInfo *fi = NULL;
    GError *err = NULL;

    ck_assert_str_eq(agent_conn_agent_version(c), "fake 1");
    ck_assert_msg(agent_file_stat(c, "/x", &fi, &err), "%s", err ? err->message : "");
    ck_assert_str_eq(fi->name, "x");
    ck_assert_uint_eq(fi->size, 77);
    agent_file_info_free(fi);
    ck_assert(agent_conn_is_alive(c));
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

static void expect_violation(FakeScript script, const char *needle)
{
    Fake *fk = fake_start(script);
    AgentConn *c = fake_connect();
    GByteArray *b = g_byte_array_new();
    GError *err = NULL;

    ck_assert(!agent_file_read(c, "/f", append_sink, b, NULL, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, needle) != NULL, "%s", err->message);
    ck_assert(!agent_conn_is_alive(c));
    g_clear_error(&err);
    g_byte_array_unref(b);
    agent_conn_close(c);
    fake_stop(fk);
}

START_TEST(test_fake_bad_magic)
{
    expect_violation(FAKE_BAD_MAGIC, "bad magic");
}
END_TEST

START_TEST(test_fake_oversize)
{
    expect_violation(FAKE_OVERSIZE, "over the 262144-byte bound");
}
END_TEST

START_TEST(test_fake_unknown_type)
{
    expect_violation(FAKE_UNKNOWN_TYPE, "unexpected frame type 0x3e");
}
END_TEST

START_TEST(test_fake_hangup)
{
    expect_violation(FAKE_HANGUP, "lost the connection to the sandbox agent");
}
END_TEST

static gboolean stuck_sink(const void *data, gsize len, gpointer user_data, GError **error)
{
    AgentConn *c = user_data;
    /* Hold the first chunk until the connection dies, so no credit returns. */
    for (int i = 0; i < 500 && agent_conn_is_alive(c); i++)
        g_usleep(10 * 1000);
    return TRUE;
}

START_TEST(test_fake_over_credit)
{
    Fake *fk = fake_start(FAKE_OVER_CREDIT);
    AgentConn *c = fake_connect();
    GError *err = NULL;

    ck_assert(!agent_file_read(c, "/f", stuck_sink, c, NULL, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "beyond the 0 bytes of credit"), "%s", err->message);
    g_clear_error(&err);
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

/* Closes c once a CANCEL sent just before had time to get through, and
 * asserts that the fake saw it. */
static void close_after_cancel(Fake *fk, AgentConn *c)
{
    g_usleep(200 * 1000);
    agent_conn_close(c);
    ck_assert(fake_stop(fk));
}

START_TEST(test_fake_backstop)
{
    Fake *fk = fake_start(FAKE_SILENT);
    AgentConn *c = fake_connect();
    GError *err = NULL;
    AgentExecResult res;
    AgentExecRequest req = { .command = "true", .timeout_ms = 100 };
    gint64 t0 = g_get_monotonic_time();

    ck_assert(!agent_exec_run(c, &req, &res, &err));
    ck_assert_int_eq(err->code, OC_ETIMEOUT);
    gint64 dt = g_get_monotonic_time() - t0;
    ck_assert_int_ge(dt, 10100 * 1000);
    ck_assert_int_lt(dt, 12000 * 1000);
    g_clear_error(&err);
    close_after_cancel(fk, c);
}
END_TEST

/* A request the agent answers by itself gives up when nothing comes on it
 * for the stall bound, and cancels it: through agent_stream_wait (stat) and
 * agent_stream_peek (a streamed read).  The message says what the guest
 * sent instead, if anything. */
START_TEST(test_fake_stall)
{
    static const struct {
        FakeScript script;
        guint stall_ms;
        const char *said;
    } cases[] = {
        { FAKE_SILENT, 300, "sent nothing on this request for 300 ms (it is stuck or hostile); "
                            "the request was cancelled" },
        { FAKE_SILENT, 300, "sent nothing on this request for 300 ms" },
        { FAKE_HALF, 1500, "s ago (26 of 40 bytes came)" },
        { FAKE_STRAY, 300, "sent 3 frames for requests that are not open" },
    };
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        Fake *fk = fake_start(cases[i].script);
        AgentConn *c = fake_connect();
        AgentFileInfo *fi = NULL;
        GError *err = NULL;
        gint64 t0 = g_get_monotonic_time();

        agent_conn_set_stall_timeout(c, cases[i].stall_ms);
        if (i == 1)
            ck_assert(!agent_file_read(c, "/x", stuck_sink, c, NULL, &err));
        else
            ck_assert(!agent_file_stat(c, "/x", &fi, &err));
        gint64 dt = g_get_monotonic_time() - t0;
        ck_assert_int_eq(err->code, OC_ETIMEOUT);
        ck_assert_msg(strstr(err->message, cases[i].said), "%s", err->message);
        ck_assert_int_ge(dt, cases[i].stall_ms * 1000);
        ck_assert_int_lt(dt, (cases[i].stall_ms + 1700) * 1000);
        g_clear_error(&err);
        close_after_cancel(fk, c);
    }
}
END_TEST

static gpointer deaf_writer(gpointer data)
{
    GError *err = NULL;
    if (agent_file_write(data, "/f", 0644, endless_source, NULL, NULL, &err))
        return g_strdup("written");
    char *msg = g_strdup_printf("%d %s", err->code, err->message);
    g_error_free(err);
    return msg;
}

/* An agent that stops reading its port: writers that find the socket full
 * give up after the stall bound too (one cut short mid-frame closes the
 * connection). */
START_TEST(test_fake_deaf)
{
    Fake *fk = fake_start(FAKE_DEAF);
    AgentConn *c = fake_connect();
    GThread *t[3];
    gboolean stopped_reading = FALSE;
    gint64 t0 = g_get_monotonic_time();

    agent_conn_set_stall_timeout(c, 300);
    for (int i = 0; i < 3; i++)
        t[i] = g_thread_new("writer", deaf_writer, c);
    for (int i = 0; i < 3; i++) {
        g_autofree char *msg = g_thread_join(t[i]);
        printf("# writer %d: %s\n", i, msg);
        ck_assert_msg(g_str_has_prefix(msg, "-"), "%s", msg); /* an OC_E* code */
        stopped_reading = stopped_reading || strstr(msg, "stopped reading its input");
    }
    ck_assert(stopped_reading);
    ck_assert_int_lt(g_get_monotonic_time() - t0, 2500 * 1000);
    agent_conn_close(c);
    fake_stop(fk);
}
END_TEST

START_TEST(test_fake_handshake_refused)
{
    GError *err = NULL;
    Fake *fk = fake_start(FAKE_UNSUPPORTED);

    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 3000, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "not compatible"), "%s", err->message);
    g_clear_error(&err);
    fake_stop(fk);

    fk = fake_start(FAKE_BAD_VERSION);
    ck_assert_ptr_null(agent_conn_open(sock_path, ctx, 3000, &err));
    ck_assert_int_eq(err->code, OC_EAGENT);
    ck_assert_msg(strstr(err->message, "version 7"), "%s", err->message);
    g_clear_error(&err);
    fake_stop(fk);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("agent-fake");
    TCase *fake = tcase_create("fake");

    tcase_set_timeout(fake, 60);
    tcase_add_test(fake, test_connect_nobody);
    tcase_add_test(fake, test_fake_resync);
    tcase_add_test(fake, test_fake_bad_magic);
    tcase_add_test(fake, test_fake_oversize);
    tcase_add_test(fake, test_fake_unknown_type);
    tcase_add_test(fake, test_fake_hangup);
    tcase_add_test(fake, test_fake_over_credit);
    tcase_add_test(fake, test_fake_backstop);
    tcase_add_test(fake, test_fake_stall);
    tcase_add_test(fake, test_fake_deaf);
    tcase_add_test(fake, test_fake_handshake_refused);
    suite_add_tcase(s, fake);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_SILENT); /* TAP goes to stdout */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
