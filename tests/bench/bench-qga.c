/* bench-qga.c: the peer, qemu-guest-agent through libvirt, in the bench domain. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>

#include "bench.h"
#include "util/error.h"

/* ---- qemu-guest-agent through libvirt ---- */

static JsonNode *qga(virDomainPtr dom, const char *cmd, GError **error)
{
    double t0 = bench_now();
    char *reply = virDomainQemuAgentCommand(dom, cmd, 60, 0);
    if (!reply) {
        char what[48];
        g_strlcpy(what, cmd, sizeof what);
        g_set_error(error, OC_ERROR, OC_EVIRT, "%s (after %.1f s, %zu-byte command %s...)", bench_virt_msg(),
                    bench_now() - t0, strlen(cmd), what);
        return NULL;
    }
    JsonNode *node = json_from_string(reply, error);
    free(reply);
    if (!node)
        return NULL;
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    if (!o || !json_object_has_member(o, "return")) {
        g_set_error(error, OC_ERROR, OC_EAGENT, "qemu-ga reply without \"return\"");
        json_node_unref(node);
        return NULL;
    }
    JsonNode *ret = json_node_copy(json_object_get_member(o, "return"));
    json_node_unref(node);
    return ret;
}

#define QGA_EXEC_TRUE "{\"execute\":\"guest-exec\",\"arguments\":" \
    "{\"path\":\"/bin/true\",\"capture-output\":true}}"
/* sh -c "echo hi", as oc_exec_run("echo hi") runs it */
#define QGA_EXEC_ECHO "{\"execute\":\"guest-exec\",\"arguments\":" \
    "{\"path\":\"/bin/sh\",\"arg\":[\"-c\",\"echo hi\"],\"capture-output\":true}}"

/* One guest-exec, polled to completion (its output comes with the status
 * that says it exited).  Returns ms or <0. */
static double qga_exec(virDomainPtr dom, const char *exec_cmd, GError **error)
{
    double t0 = bench_now();
    JsonNode *r = qga(dom, exec_cmd, error);
    if (!r)
        return -1;
    gint64 pid = json_object_get_int_member(json_node_get_object(r), "pid");
    json_node_unref(r);
    g_autofree char *status = g_strdup_printf(
        "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":%" G_GINT64_FORMAT "}}", pid);
    for (;;) {
        r = qga(dom, status, error);
        if (!r)
            return -1;
        JsonObject *o = json_node_get_object(r);
        gboolean exited = json_object_get_boolean_member_with_default(o, "exited", FALSE);
        gint64 code = json_object_get_int_member_with_default(o, "exitcode", -1);
        json_node_unref(r);
        if (exited) {
            double t1 = bench_now();
            if (code != 0) {
                g_set_error(error, OC_ERROR, OC_EAGENT, "the command exited %" G_GINT64_FORMAT, code);
                return -1;
            }
            return (t1 - t0) * 1000.0;
        }
    }
}

static gint64 qga_open(virDomainPtr dom, const char *path, const char *mode, GError **error)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"%s\",\"mode\":\"%s\"}}", path, mode);
    JsonNode *r = qga(dom, cmd, error);
    if (!r)
        return -1;
    gint64 h = json_node_get_int(r);
    json_node_unref(r);
    return h;
}

static gboolean qga_close(virDomainPtr dom, gint64 h, GError **error)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT "}}", h);
    JsonNode *r = qga(dom, cmd, error);
    if (r)
        json_node_unref(r);
    return r != NULL;
}

/* Raw bytes per guest-file-write.  Not 1 MiB: libvirt (9.0 here) writes an
 * agent command to its non-blocking socket with safewrite(), and when a write
 * hits EAGAIN after a partial write it keeps its old offset and later sends
 * those bytes again (qemuAgentIOWrite).  A command bigger than the socket's
 * send buffer (net.core.wmem_default, 208 KiB by default) can therefore reach
 * qemu-ga with a repeated prefix; qemu-ga rejects the garbled JSON with an
 * id-less error, libvirt ignores that and times out with "Guest agent is not
 * responding: Guest agent not available for now".  So the base64 command is
 * kept to 5/8 of the send buffer: 96 KiB of data per command by default.
 * Reads are not affected (libvirt reads replies up to 10 MB correctly). */
gsize bench_qga_write_chunk(void)
{
    gsize sndbuf = 212992;
    g_autofree char *s = NULL;
    if (g_file_get_contents("/proc/sys/net/core/wmem_default", &s, NULL, NULL) && atoll(s) > 0)
        sndbuf = (gsize)atoll(s);
    gsize chunk = (sndbuf * 5 / 8) / 4 * 3 / 4096 * 4096;
    return CLAMP(chunk, 4096, (gsize)1 << 20);
}

/* Writes data to path in bench_qga_write_chunk() base64 chunks; returns seconds or <0. */
static double qga_file_write(virDomainPtr dom, const char *path, const guint8 *data, gsize len,
                             GError **error)
{
    const gsize chunk = bench_qga_write_chunk();
    double t0 = bench_now();
    gint64 h = qga_open(dom, path, "w", error);
    if (h < 0)
        return -1;
    for (gsize off = 0; off < len; off += chunk) {
        gsize n = MIN(chunk, len - off);
        g_autofree char *b64 = g_base64_encode(data + off, n);
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
            ",\"buf-b64\":\"%s\"}}", h, b64);
        JsonNode *r = qga(dom, cmd, error);
        if (!r)
            return -1;
        gint64 count = json_object_get_int_member_with_default(json_node_get_object(r), "count", -1);
        json_node_unref(r);
        if (count != (gint64)n) {
            g_set_error(error, OC_ERROR, OC_EIO, "guest-file-write wrote %" G_GINT64_FORMAT " of %zu",
                        count, n);
            return -1;
        }
    }
    if (!qga_close(dom, h, error))
        return -1;
    return bench_now() - t0;
}

/* Reads path back in QGA_READ_CHUNK chunks and compares with expect. */
static double qga_file_read(virDomainPtr dom, const char *path, const guint8 *expect, gsize len,
                            GError **error)
{
    double t0 = bench_now();
    gint64 h = qga_open(dom, path, "r", error);
    if (h < 0)
        return -1;
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":%" G_GINT64_FORMAT
        ",\"count\":%u}}", h, QGA_READ_CHUNK);
    GByteArray *got = g_byte_array_new();
    for (;;) {
        JsonNode *r = qga(dom, cmd, error);
        if (!r) {
            g_byte_array_unref(got);
            return -1;
        }
        JsonObject *o = json_node_get_object(r);
        const char *b64 = json_object_get_string_member_with_default(o, "buf-b64", "");
        gboolean eof = json_object_get_boolean_member_with_default(o, "eof", FALSE);
        gsize n = 0;
        guchar *bytes = g_base64_decode(b64, &n);
        g_byte_array_append(got, bytes, n);
        g_free(bytes);
        json_node_unref(r);
        if (eof || n == 0)
            break;
    }
    qga_close(dom, h, NULL);
    double t = bench_now() - t0;
    gboolean same = got->len == len && memcmp(got->data, expect, len) == 0;
    g_byte_array_unref(got);
    if (!same) {
        g_set_error(error, OC_ERROR, OC_EIO, "guest-file-read returned different bytes");
        return -1;
    }
    return t;
}

/* ---- the peer: qemu-ga started in the bench domain through our agent ---- */

void bench_qga_peer(virDomainPtr dom, AgentConn *conn, const char *qga_dev)
{
    GError *err = NULL;
    AgentExecResult res = { 0 };

    if (!qga_dev) {
        bench_results.peer_status = g_strdup("no org.qemu.guest_agent.0 port in the guest");
        goto out;
    }
    if (!bench_guest_sh(conn, "test -x /usr/sbin/qemu-ga", 30000, &res, &err) || res.exit_code != 0) {
        g_clear_error(&err);
        agent_exec_result_clear(&res);
        bench_results.peer_status =
            g_strdup("qemu-guest-agent is not in the template (/usr/sbin/qemu-ga missing)");
        bench_note("peer: %s", bench_results.peer_status);
        goto out;
    }
    agent_exec_result_clear(&res);
    {
        g_autofree char *cmd = g_strdup_printf(
            "/usr/sbin/qemu-ga -d -m virtio-serial -p %s -f /tmp/qemu-ga.pid -t /tmp 2>&1", qga_dev);
        if (!bench_guest_sh(conn, cmd, 30000, &res, &err) || res.exit_code != 0) {
            g_autofree char *o = res.out ? bench_res_text(res.out) : g_strdup("");
            bench_results.peer_status = g_strdup_printf("qemu-ga did not start: %s", err ? err->message : o);
            bench_note("peer: %s", bench_results.peer_status);
            g_clear_error(&err);
            agent_exec_result_clear(&res);
            goto out;
        }
        agent_exec_result_clear(&res);
    }
    {
        double deadline = bench_now() + 60;
        JsonNode *r = NULL;
        while (!(r = qga(dom, "{\"execute\":\"guest-ping\"}", &err)) && bench_now() < deadline) {
            g_clear_error(&err);
            g_usleep(200000);
        }
        if (!r) {
            bench_results.peer_status = g_strdup_printf("qemu-ga does not answer through libvirt: %s",
                                                        err ? err->message : "timeout");
            bench_note("peer: %s", bench_results.peer_status);
            g_clear_error(&err);
            goto out;
        }
        json_node_unref(r);
    }
    bench_note("peer: qemu-ga answers");
    const struct {
        const char *cmd;
        GArray *ms;
        gboolean skip;
    } execs[] = {
        { QGA_EXEC_TRUE, bench_results.peer_exec_ms, FALSE },
        { QGA_EXEC_ECHO, bench_results.peer_echo_ms, opt_skip_stream },
    };
    for (gsize x = 0; x < G_N_ELEMENTS(execs); x++) {
        for (int i = 0; !execs[x].skip && i < opt_exec_warmup + opt_exec_n; i++) {
            double ms = qga_exec(dom, execs[x].cmd, &err);
            if (ms < 0) {
                bench_results.peer_status = g_strdup_printf("guest-exec failed: %s", err->message);
                bench_note("peer: %s", bench_results.peer_status);
                g_clear_error(&err);
                goto out;
            }
            if (i >= opt_exec_warmup)
                bench_push(execs[x].ms, ms);
        }
    }
    bench_note("peer: exec true p50 %.2f ms, sh -c \"echo hi\" p50 %.2f ms",
               bench_median(bench_results.peer_exec_ms), bench_median(bench_results.peer_echo_ms));
    {
        gsize len = (gsize)opt_peer_file_mib << 20;
        g_autofree guint8 *data = bench_pattern(len, 2);
        double w = qga_file_write(dom, "/tmp/qga-bench.bin", data, len, &err);
        double r = w < 0 ? -1 : qga_file_read(dom, "/tmp/qga-bench.bin", data, len, &err);
        if (w < 0 || r < 0) {
            bench_results.peer_status = g_strdup_printf("guest-file-* failed: %s", err->message);
            bench_note("peer: %s", bench_results.peer_status);
            g_clear_error(&err);
            /* Tells "qemu-ga died" apart from "qemu-ga got a command it could not parse". */
            if (bench_guest_sh(conn,
                               "kill -0 \"$(cat /tmp/qemu-ga.pid)\" 2>/dev/null && echo running || echo gone",
                               30000, &res, &err)) {
                g_autofree char *o = res.out ? bench_res_text(res.out) : g_strdup("?");
                bench_note("peer: qemu-ga in the guest afterwards: %s", o);
                agent_exec_result_clear(&res);
            }
            g_clear_error(&err);
            goto out;
        }
        bench_results.peer_write_mibs = len / MIB / w;
        bench_results.peer_read_mibs = len / MIB / r;
        bench_note("peer: write %.2f MiB/s, read %.2f MiB/s", bench_results.peer_write_mibs,
                   bench_results.peer_read_mibs);
    }

out:
    g_clear_error(&err);
}
