/* egress.c: the cgroup, BPF programs and LPM-trie map behind an egress
 * policy (egress.h), through bpf(2) directly. */
#include "net/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "net/bpf-insn.h"
#include "util/error.h"

/* Map key: what the kernel's LPM trie matches bit by bit from data[0].
 * data = port (network order) | IPv4 address (network order) | pad.  A
 * rule for a port has prefixlen 16 + n, one for any port is stored with
 * port 0 and found by a second lookup with port 0. */
typedef struct {
    guint32 prefixlen;
    guint8 data[8];
} EgressKey;

/* IPv4 lookups use the port and address bits only. */
#define KEY_LOOKUP_BITS 48
/* The verdict for all that is not IPv4 TCP or UDP (IPv6, ICMP, raw
 * sockets): a full-length key whose pad byte no IPv4 lookup sets. */
#define KEY_OTHER_BITS 64
#define KEY_OTHER_PAD 6

#define PROG_LICENSE "LGPL-2.1-or-later"
#define PROG_NAME_PREFIX "oc_egress"
#define VERIFIER_LOG_SIZE (256 * 1024)

/* The stack slot of the key the programs build: r10 - 16 .. r10 - 5. */
#define KEY_SLOT (-16)
#define KEY_DATA (KEY_SLOT + 4)

static long bpf_sys(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof *attr);
}

static guint64 ptr(const void *p)
{
    return (guint64)(uintptr_t)p;
}

static gboolean unsupported(GError **error, const char *what, int err)
{
    g_set_error(error, OC_ERROR, OC_EUNSUPPORTED,
                "cannot enforce an egress policy on this host: %s: %s (it needs root, a cgroup v2 "
                "mount and a kernel with cgroup BPF; sandboxes without a network policy are not "
                "affected)", what, g_strerror(err));
    return FALSE;
}

static gboolean fail_errno(GError **error, int err, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* Sets error from errno err: OC_EUNSUPPORTED when it says the host does
 * not let us (no privilege, no such feature), else OC_EIO. */
static gboolean fail_errno(GError **error, int err, const char *fmt, ...)
{
    g_autofree char *what = NULL;
    va_list ap;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    if (err == EPERM || err == EACCES || err == EROFS || err == ENOSYS || err == EINVAL)
        return unsupported(error, what, err);
    g_set_error(error, OC_ERROR, OC_EIO, "%s: %s", what, g_strerror(err));
    return FALSE;
}

/* Where cgroup v2 is mounted: /sys/fs/cgroup on a unified host,
 * /sys/fs/cgroup/unified on a hybrid one. */
static char *cgroup2_mount(GError **error)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents("/proc/self/mountinfo", &text, NULL, NULL)) {
        unsupported(error, "cannot read /proc/self/mountinfo", errno);
        return NULL;
    }
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        const char *sep = strstr(*l, " - ");
        g_auto(GStrv) fields = NULL;
        if (!sep || !g_str_has_prefix(sep + 3, "cgroup2 "))
            continue;
        fields = g_strsplit(*l, " ", 6);
        if (g_strv_length(fields) >= 5)
            return g_strcompress(fields[4]); /* mountinfo escapes spaces as \040 */
    }
    g_set_error(error, OC_ERROR, OC_EUNSUPPORTED,
                "cannot enforce an egress policy on this host: no cgroup v2 hierarchy is mounted "
                "(mount -t cgroup2 none /sys/fs/cgroup/unified); sandboxes without a network "
                "policy are not affected");
    return NULL;
}

static char *state_dir_cgroup(const char *state_dir, GError **error)
{
    g_autofree char *mount = cgroup2_mount(error);
    g_autofree char *real = NULL, *hash = NULL;

    if (!mount)
        return NULL;
    /* one cgroup per sandbox however a process spells the directory */
    real = realpath(state_dir, NULL);
    if (!real)
        real = g_canonicalize_filename(state_dir, NULL);
    hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, real, -1);
    hash[12] = '\0';
    return g_build_filename(mount, "opencomputer", hash, NULL);
}

char *net_egress_cgroup(const char *state_dir, const char *id, GError **error)
{
    g_autofree char *dir = state_dir_cgroup(state_dir, error);
    return dir ? g_build_filename(dir, id, NULL) : NULL;
}

/* ---- programs ---- */

/* The verdict of the other-traffic key: r0 = 1 if it allows, else 0.
 * Leaves r0 = 0 when the key is missing: a map being set up denies. */
#define OTHER_VERDICT_INSNS(map_fd)                                           \
    INSN_ST(BPF_DW, BPF_REG_10, KEY_SLOT, 0),                                 \
    INSN_ST(BPF_DW, BPF_REG_10, KEY_SLOT + 8, 0),                             \
    INSN_ST(BPF_W, BPF_REG_10, KEY_SLOT, KEY_OTHER_BITS),                     \
    INSN_ST(BPF_B, BPF_REG_10, KEY_DATA + KEY_OTHER_PAD, 1),                  \
    INSN_LD_MAP_FD(BPF_REG_1, map_fd),                                        \
    INSN_MOV_REG(BPF_REG_2, BPF_REG_10),                                      \
    INSN_ADD_IMM(BPF_REG_2, KEY_SLOT),                                        \
    INSN_CALL(BPF_FUNC_map_lookup_elem),                                      \
    INSN_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 4),                                   \
    INSN_LDX(BPF_B, BPF_REG_1, BPF_REG_0, 0),                                 \
    INSN_MOV_IMM(BPF_REG_0, 1),                                               \
    INSN_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 1),                                   \
    INSN_MOV_IMM(BPF_REG_0, 0),                                               \
    INSN_EXIT()

typedef enum { PROG_IPV4, PROG_OTHER, PROG_SOCK } ProgKind;

static const struct {
    enum bpf_attach_type hook;
    enum bpf_prog_type type;
    ProgKind kind;
    const char *name;
} hooks[NET_EGRESS_HOOKS] = {
    { BPF_CGROUP_UDP4_SENDMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, PROG_IPV4, PROG_NAME_PREFIX "_s4" },
    { BPF_CGROUP_INET6_CONNECT, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, PROG_OTHER, PROG_NAME_PREFIX "_c6" },
    { BPF_CGROUP_UDP6_SENDMSG, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, PROG_OTHER, PROG_NAME_PREFIX "_s6" },
    { BPF_CGROUP_INET_SOCK_CREATE, BPF_PROG_TYPE_CGROUP_SOCK, PROG_SOCK, PROG_NAME_PREFIX "_sk" },
    /* last, the program a later process finds the map through: attached
     * only once all the others are */
    { BPF_CGROUP_INET4_CONNECT, BPF_PROG_TYPE_CGROUP_SOCK_ADDR, PROG_IPV4, PROG_NAME_PREFIX "_c4" },
};

#define FIND_HOOK (NET_EGRESS_HOOKS - 1)

/* The program of a kind; *n receives its length. */
static struct bpf_insn *prog_insns(ProgKind kind, int map_fd, guint *n)
{
    /* IPv4 connect and sendmsg: the port's rule if one matches, else the
     * any-port rule (the default included), else deny. */
    const struct bpf_insn ipv4[] = {
        INSN_MOV_REG(BPF_REG_6, BPF_REG_1),
        INSN_LDX(BPF_W, BPF_REG_7, BPF_REG_6, offsetof(struct bpf_sock_addr, user_port)),
        INSN_LDX(BPF_W, BPF_REG_8, BPF_REG_6, offsetof(struct bpf_sock_addr, user_ip4)),
        INSN_ST(BPF_DW, BPF_REG_10, KEY_SLOT, 0),
        INSN_ST(BPF_DW, BPF_REG_10, KEY_SLOT + 8, 0),
        INSN_ST(BPF_W, BPF_REG_10, KEY_SLOT, KEY_LOOKUP_BITS),
        /* the low 16 bits of each register hold the first bytes in memory */
        INSN_STX(BPF_H, BPF_REG_10, KEY_DATA, BPF_REG_7),
        INSN_STX(BPF_H, BPF_REG_10, KEY_DATA + 2, BPF_REG_8),
        INSN_RSH_IMM(BPF_REG_8, 16),
        INSN_STX(BPF_H, BPF_REG_10, KEY_DATA + 4, BPF_REG_8),
        INSN_LD_MAP_FD(BPF_REG_1, map_fd),
        INSN_MOV_REG(BPF_REG_2, BPF_REG_10),
        INSN_ADD_IMM(BPF_REG_2, KEY_SLOT),
        INSN_CALL(BPF_FUNC_map_lookup_elem),
        INSN_JMP_IMM(BPF_JNE, BPF_REG_0, 0, 7),
        INSN_ST(BPF_H, BPF_REG_10, KEY_DATA, 0),
        INSN_LD_MAP_FD(BPF_REG_1, map_fd),
        INSN_MOV_REG(BPF_REG_2, BPF_REG_10),
        INSN_ADD_IMM(BPF_REG_2, KEY_SLOT),
        INSN_CALL(BPF_FUNC_map_lookup_elem),
        INSN_JMP_IMM(BPF_JEQ, BPF_REG_0, 0, 4),
        INSN_LDX(BPF_B, BPF_REG_1, BPF_REG_0, 0),
        INSN_MOV_IMM(BPF_REG_0, 1),
        INSN_JMP_IMM(BPF_JNE, BPF_REG_1, 0, 1),
        INSN_MOV_IMM(BPF_REG_0, 0),
        INSN_EXIT(),
    };
    /* IPv6 connect and sendmsg: the other-traffic verdict. */
    const struct bpf_insn other[] = { OTHER_VERDICT_INSNS(map_fd) };
    /* Socket creation: TCP and UDP pass (their connects and sends are
     * checked); ICMP and raw sockets get the other-traffic verdict, so a
     * guest's ping cannot carry data past the policy. */
    const struct bpf_insn sock[] = {
        INSN_LDX(BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock, type)),
        INSN_JMP_IMM(BPF_JEQ, BPF_REG_2, SOCK_RAW, 5),
        INSN_LDX(BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct bpf_sock, protocol)),
        INSN_MOV_IMM(BPF_REG_0, 1),
        INSN_JMP_IMM(BPF_JEQ, BPF_REG_2, IPPROTO_TCP, 1),
        INSN_JMP_IMM(BPF_JNE, BPF_REG_2, IPPROTO_UDP, 1),
        INSN_EXIT(),
        OTHER_VERDICT_INSNS(map_fd),
    };
    const struct bpf_insn *src = kind == PROG_IPV4 ? ipv4 : kind == PROG_OTHER ? other : sock;
    gsize size = kind == PROG_IPV4 ? sizeof ipv4 : kind == PROG_OTHER ? sizeof other : sizeof sock;

    *n = size / sizeof(struct bpf_insn);
    return g_memdup2(src, size);
}

static int prog_load(guint h, int map_fd, GError **error)
{
    guint n;
    g_autofree struct bpf_insn *insns = prog_insns(hooks[h].kind, map_fd, &n);
    g_autofree char *log = NULL;
    union bpf_attr a;
    int fd, err;

    memset(&a, 0, sizeof a);
    a.prog_type = hooks[h].type;
    a.expected_attach_type = hooks[h].hook;
    a.insns = ptr(insns);
    a.insn_cnt = n;
    a.license = ptr(PROG_LICENSE);
    g_strlcpy(a.prog_name, hooks[h].name, sizeof a.prog_name);
    fd = (int)bpf_sys(BPF_PROG_LOAD, &a);
    if (fd >= 0)
        return fd;
    err = errno;
    if (err == EPERM) {
        unsupported(error, "cannot load a BPF program", err);
        return -1;
    }
    /* again, for the verifier's account of what it refused */
    log = g_malloc0(VERIFIER_LOG_SIZE);
    a.log_buf = ptr(log);
    a.log_size = VERIFIER_LOG_SIZE;
    a.log_level = 1;
    fd = (int)bpf_sys(BPF_PROG_LOAD, &a);
    if (fd >= 0)
        return fd;
    g_set_error(error, OC_ERROR, err == EINVAL ? OC_EINTERNAL : OC_EUNSUPPORTED,
                "cannot load the egress program %s: %s; verifier log:\n%s", hooks[h].name,
                g_strerror(err), log);
    return -1;
}

/* ---- the map ---- */

static int map_create(GError **error)
{
    union bpf_attr a;
    int fd;

    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_LPM_TRIE;
    a.key_size = sizeof(EgressKey);
    a.value_size = 1;
    a.max_entries = NET_MAX_RULES + 1;
    a.map_flags = BPF_F_NO_PREALLOC; /* required of LPM tries */
    g_strlcpy(a.map_name, PROG_NAME_PREFIX, sizeof a.map_name);
    fd = (int)bpf_sys(BPF_MAP_CREATE, &a);
    if (fd < 0)
        fail_errno(error, errno, "cannot create the BPF map of an egress policy");
    return fd;
}

static EgressKey rule_key(const NetRule *r)
{
    EgressKey k = { .prefixlen = 16 + r->prefix_len };
    guint16 port = htons(r->port);

    memcpy(k.data, &port, 2);
    memcpy(k.data + 2, &r->addr, 4);
    return k;
}

static EgressKey other_key(void)
{
    EgressKey k = { .prefixlen = KEY_OTHER_BITS };
    k.data[KEY_OTHER_PAD] = 1;
    return k;
}

static gboolean map_update(int map_fd, const EgressKey *k, guint8 verdict, GError **error)
{
    union bpf_attr a;

    memset(&a, 0, sizeof a);
    a.map_fd = map_fd;
    a.key = ptr(k);
    a.value = ptr(&verdict);
    a.flags = BPF_ANY;
    if (bpf_sys(BPF_MAP_UPDATE_ELEM, &a) < 0)
        return fail_errno(error, errno, "cannot write the egress policy's map");
    return TRUE;
}

/* Every key in the map. */
static GArray *map_keys(int map_fd, GError **error)
{
    GArray *keys = g_array_new(FALSE, FALSE, sizeof(EgressKey));
    EgressKey next;
    union bpf_attr a;

    for (;;) {
        memset(&a, 0, sizeof a);
        a.map_fd = map_fd;
        a.key = keys->len ? ptr(&g_array_index(keys, EgressKey, keys->len - 1)) : 0;
        a.next_key = ptr(&next);
        if (bpf_sys(BPF_MAP_GET_NEXT_KEY, &a) < 0)
            break;
        g_array_append_val(keys, next);
    }
    if (errno != ENOENT) {
        fail_errno(error, errno, "cannot read the egress policy's map");
        g_array_unref(keys);
        return NULL;
    }
    return keys;
}

static gboolean key_in(const EgressKey *k, const GArray *keys)
{
    for (guint i = 0; i < keys->len; i++)
        if (memcmp(k, &g_array_index(keys, EgressKey, i), sizeof *k) == 0)
            return TRUE;
    return FALSE;
}

/* New entries first, stale ones after: a connection racing the change is
 * decided by either the old or the new policy, never by neither (the most
 * specific entry that matches it is one or the other's). */
static gboolean map_write(int map_fd, GArray *rules, gboolean restricts, GError **error)
{
    g_autoptr(GArray) want = g_array_new(FALSE, FALSE, sizeof(EgressKey));
    g_autoptr(GArray) have = NULL;
    EgressKey other = other_key();

    for (guint i = 0; i < rules->len; i++) {
        const NetRule *r = &g_array_index(rules, NetRule, i);
        EgressKey k = rule_key(r);
        if (!map_update(map_fd, &k, r->allow ? 1 : 0, error))
            return FALSE;
        g_array_append_val(want, k);
    }
    if (!map_update(map_fd, &other, restricts ? 0 : 1, error))
        return FALSE;
    g_array_append_val(want, other);
    have = map_keys(map_fd, error);
    if (!have)
        return FALSE;
    for (guint i = 0; i < have->len; i++) {
        EgressKey *k = &g_array_index(have, EgressKey, i);
        union bpf_attr a;
        if (key_in(k, want))
            continue;
        memset(&a, 0, sizeof a);
        a.map_fd = map_fd;
        a.key = ptr(k);
        if (bpf_sys(BPF_MAP_DELETE_ELEM, &a) < 0 && errno != ENOENT)
            return fail_errno(error, errno, "cannot update the egress policy's map");
    }
    return TRUE;
}

/* ---- the cgroup ---- */

static int open_cgroup(const char *cgroup, GError **error)
{
    int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        fail_errno(error, errno, "cannot open cgroup %s", cgroup);
    return fd;
}

/* The id of the program attached at hook, 0 if none. */
static gboolean attached_prog(int cg_fd, enum bpf_attach_type hook, guint32 *id, GError **error)
{
    guint32 ids[8];
    union bpf_attr a;

    memset(&a, 0, sizeof a);
    a.query.target_fd = cg_fd;
    a.query.attach_type = hook;
    a.query.prog_ids = ptr(ids);
    a.query.prog_cnt = G_N_ELEMENTS(ids);
    if (bpf_sys(BPF_PROG_QUERY, &a) < 0)
        return fail_errno(error, errno, "cannot query the programs of a cgroup");
    *id = a.query.prog_cnt ? ids[0] : 0;
    return TRUE;
}

/* The map of the policy attached on the cgroup: its fd, -1 if none is
 * attached, -2 with error. */
static int find_map(int cg_fd, GError **error)
{
    struct bpf_prog_info info;
    guint32 prog_id, map_ids[4];
    union bpf_attr a;
    int prog_fd, map_fd;

    if (!attached_prog(cg_fd, hooks[FIND_HOOK].hook, &prog_id, error))
        return -2;
    if (!prog_id)
        return -1;
    memset(&a, 0, sizeof a);
    a.prog_id = prog_id;
    prog_fd = (int)bpf_sys(BPF_PROG_GET_FD_BY_ID, &a);
    if (prog_fd < 0) {
        fail_errno(error, errno, "cannot open the egress program of a cgroup");
        return -2;
    }
    memset(&info, 0, sizeof info);
    info.nr_map_ids = G_N_ELEMENTS(map_ids);
    info.map_ids = ptr(map_ids);
    memset(&a, 0, sizeof a);
    a.info.bpf_fd = prog_fd;
    a.info.info_len = sizeof info;
    a.info.info = ptr(&info);
    if (bpf_sys(BPF_OBJ_GET_INFO_BY_FD, &a) < 0) {
        fail_errno(error, errno, "cannot read the egress program of a cgroup");
        close(prog_fd);
        return -2;
    }
    close(prog_fd);
    if (!g_str_has_prefix(info.name, PROG_NAME_PREFIX) || info.nr_map_ids != 1) {
        g_set_error(error, OC_ERROR, OC_EINTERNAL, "the cgroup has a connect program (%s) that "
                    "is not an egress policy's", info.name);
        return -2;
    }
    memset(&a, 0, sizeof a);
    a.map_id = map_ids[0];
    map_fd = (int)bpf_sys(BPF_MAP_GET_FD_BY_ID, &a);
    if (map_fd < 0) {
        fail_errno(error, errno, "cannot open the egress policy's map");
        return -2;
    }
    return map_fd;
}

/* Attaches the programs of map_fd on the cgroup: at every hook (replacing
 * what a setup that failed midway left there), or with only_missing at
 * the hooks without one (a setup that failed midway left the others). */
static gboolean attach(int cg_fd, int map_fd, gboolean only_missing, GError **error)
{
    for (guint h = 0; h < NET_EGRESS_HOOKS; h++) {
        guint32 id = 0;
        int prog_fd;
        union bpf_attr a;
        if (only_missing && !attached_prog(cg_fd, hooks[h].hook, &id, error))
            return FALSE;
        if (id)
            continue;
        prog_fd = prog_load(h, map_fd, error);
        if (prog_fd < 0)
            return FALSE;
        memset(&a, 0, sizeof a);
        a.target_fd = cg_fd;
        a.attach_bpf_fd = prog_fd;
        a.attach_type = hooks[h].hook;
        /* no flags: one program per hook, which the next attach replaces and
         * no cgroup below can override */
        a.attach_flags = 0;
        if (bpf_sys(BPF_PROG_ATTACH, &a) < 0) {
            int err = errno;
            close(prog_fd);
            return fail_errno(error, err, "cannot attach the egress program %s", hooks[h].name);
        }
        close(prog_fd); /* the attachment holds it */
    }
    return TRUE;
}

gboolean net_egress_apply(const char *cgroup, const NetPolicy *policy, const char *resolv_conf,
                          GError **error)
{
    g_autoptr(GArray) rules = net_policy_rules(policy, resolv_conf, error);
    int cg_fd, map_fd;
    gboolean ok;

    if (!rules)
        return FALSE;
    if (g_mkdir_with_parents(cgroup, 0755) < 0)
        return fail_errno(error, errno, "cannot create cgroup %s", cgroup);
    cg_fd = open_cgroup(cgroup, error);
    if (cg_fd < 0)
        return FALSE;
    /* Two processes setting up one cgroup would attach two maps. */
    if (flock(cg_fd, LOCK_EX) < 0) {
        close(cg_fd);
        return fail_errno(error, errno, "cannot lock cgroup %s", cgroup);
    }
    map_fd = find_map(cg_fd, error);
    if (map_fd == -1) {
        /* filled before the programs see it */
        map_fd = map_create(error);
        ok = map_fd >= 0 && map_write(map_fd, rules, net_policy_restricts(policy), error) &&
             attach(cg_fd, map_fd, FALSE, error);
    } else {
        ok = map_fd >= 0 && map_write(map_fd, rules, net_policy_restricts(policy), error) &&
             attach(cg_fd, map_fd, TRUE, error);
    }
    if (map_fd >= 0)
        close(map_fd);
    close(cg_fd);
    if (!ok)
        g_prefix_error(error, "egress policy: ");
    return ok;
}

gboolean net_egress_add_pid(const char *cgroup, pid_t pid, GError **error)
{
    g_autofree char *procs = g_build_filename(cgroup, "cgroup.procs", NULL);
    g_autofree char *line = g_strdup_printf("%d\n", (int)pid);
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    gssize n;
    int err;

    if (fd < 0)
        return fail_errno(error, errno, "cannot open %s", procs);
    n = write(fd, line, strlen(line));
    err = errno;
    close(fd);
    if (n < 0) {
        g_set_error(error, OC_ERROR, err == ESRCH ? OC_ENOTFOUND : OC_EIO,
                    "cannot move process %d into cgroup %s: %s", (int)pid, cgroup,
                    g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

gboolean net_egress_remove(const char *cgroup, GError **error)
{
    g_autofree char *parent = g_path_get_dirname(cgroup);

    if (rmdir(cgroup) < 0 && errno != ENOENT) {
        g_set_error(error, OC_ERROR, errno == EBUSY ? OC_ESTATE : OC_EIO,
                    "cannot remove cgroup %s: %s%s", cgroup, g_strerror(errno),
                    errno == EBUSY ? " (a process still runs in it)" : "");
        return FALSE;
    }
    rmdir(parent); /* the state directory's, once it has no sandbox left */
    return TRUE;
}

int net_egress_hooks_attached(const char *cgroup, GError **error)
{
    int cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;

    if (cg_fd < 0) {
        if (errno == ENOENT)
            return 0;
        fail_errno(error, errno, "cannot open cgroup %s", cgroup);
        return -1;
    }
    for (guint h = 0; h < NET_EGRESS_HOOKS; h++) {
        guint32 id;
        if (!attached_prog(cg_fd, hooks[h].hook, &id, error)) {
            n = -1;
            break;
        }
        n += id != 0;
    }
    close(cg_fd);
    return n;
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *net_egress_read_rules(const char *cgroup, GError **error)
{
    g_autoptr(GArray) keys = NULL;
    GPtrArray *out;
    EgressKey other = other_key();
    int cg_fd = open_cgroup(cgroup, error), map_fd;

    if (cg_fd < 0)
        return NULL;
    map_fd = find_map(cg_fd, error);
    close(cg_fd);
    if (map_fd == -1)
        return g_ptr_array_new_with_free_func(g_free);
    if (map_fd < 0 || !(keys = map_keys(map_fd, error))) {
        if (map_fd >= 0)
            close(map_fd);
        return NULL;
    }
    out = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < keys->len; i++) {
        EgressKey *k = &g_array_index(keys, EgressKey, i);
        guint8 verdict = 0;
        guint16 port;
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        a.map_fd = map_fd;
        a.key = ptr(k);
        a.value = ptr(&verdict);
        if (bpf_sys(BPF_MAP_LOOKUP_ELEM, &a) < 0)
            continue; /* deleted meanwhile */
        if (memcmp(k, &other, sizeof other) == 0) {
            g_ptr_array_add(out, g_strdup(verdict ? "allow other" : "deny other"));
            continue;
        }
        memcpy(&port, k->data, 2);
        NetRule r = { .prefix_len = k->prefixlen - 16, .port = ntohs(port), .allow = verdict };
        memcpy(&r.addr, k->data + 2, 4);
        g_ptr_array_add(out, net_rule_to_string(&r));
    }
    close(map_fd);
    g_ptr_array_sort(out, compare_strings);
    return out;
}

guint net_egress_prune(const char *state_dir, NetEgressGone gone, gpointer data)
{
    g_autofree char *dir = state_dir_cgroup(state_dir, NULL);
    GDir *d = dir ? g_dir_open(dir, 0, NULL) : NULL;
    const char *name;
    guint removed = 0;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        if (g_str_has_prefix(name, "sb-") && g_file_test(path, G_FILE_TEST_IS_DIR) &&
            gone(name, data) && rmdir(path) == 0)
            removed++;
    }
    if (d)
        g_dir_close(d);
    if (dir)
        rmdir(dir);
    return removed;
}
