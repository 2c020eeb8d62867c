/* policy.c: egress entries ("A.B.C.D/N:PORT", "host:PORT") parsed into rules. */
#include "net/policy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "util/error.h"

#define DNS_PORT 53

NetPolicy *net_policy_new(void)
{
    return g_new0(NetPolicy, 1);
}

void net_policy_free(NetPolicy *policy)
{
    if (!policy)
        return;
    g_strfreev(policy->allow_out);
    g_strfreev(policy->deny_out);
    g_free(policy);
}

NetPolicy *net_policy_copy(const NetPolicy *policy)
{
    NetPolicy *c = net_policy_new();

    c->allow_out = g_strdupv(policy->allow_out);
    c->deny_out = g_strdupv(policy->deny_out);
    c->block_all = policy->block_all;
    return c;
}

static gboolean has_entries(char **list)
{
    return list && list[0];
}

gboolean net_policy_restricts(const NetPolicy *policy)
{
    return policy && (policy->block_all || has_entries(policy->allow_out) ||
                      has_entries(policy->deny_out));
}

/* One entry split into its parts: exactly one of addr (with prefix_len) or
 * host is set. */
typedef struct {
    gboolean is_addr;
    guint32 addr; /* network order */
    guint8 prefix_len;
    char *host;
    guint16 port;
} Entry;

static gboolean entry_error(GError **error, const char *list, const char *entry, const char *why)
{
    g_set_error(error, OC_ERROR, OC_EINVAL, "%s entry '%s' %s", list, entry, why);
    return FALSE;
}

static gboolean valid_host(const char *host)
{
    gsize len = strlen(host);

    if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-')
        return FALSE;
    for (const char *p = host; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.')
            return FALSE;
    return TRUE;
}

static gboolean parse_uint(const char *s, guint64 max, guint64 *out)
{
    return *s && g_ascii_string_to_unsigned(s, 10, 0, max, out, NULL);
}

static gboolean parse_entry(const char *list, const char *entry, Entry *e, GError **error)
{
    g_autofree char *dest = g_strdup(entry);
    char *colon = strchr(dest, ':'), *slash;
    guint64 v;

    memset(e, 0, sizeof *e);
    if (colon && strchr(colon + 1, ':'))
        return entry_error(error, list, entry, "is an IPv6 address: only IPv4 destinations can be "
                           "named (all IPv6 is denied while a policy restricts)");
    if (colon) {
        *colon = '\0';
        if (!parse_uint(colon + 1, 65535, &v) || v == 0)
            return entry_error(error, list, entry, "has a bad port: use 1 to 65535 after ':'");
        e->port = (guint16)v;
    }
    slash = strchr(dest, '/');
    if (slash) {
        *slash = '\0';
        if (!parse_uint(slash + 1, 32, &v))
            return entry_error(error, list, entry, "has a bad prefix length: use /0 to /32");
        e->prefix_len = (guint8)v;
    } else {
        e->prefix_len = 32;
    }
    if (inet_pton(AF_INET, dest, &e->addr) == 1) {
        e->is_addr = TRUE;
        if (e->prefix_len < 32) /* host bits are ignored: 10.1.2.3/8 is 10.0.0.0/8 */
            e->addr &= htonl(e->prefix_len ? ~0u << (32 - e->prefix_len) : 0);
        return TRUE;
    }
    if (slash)
        return entry_error(error, list, entry, "is not an IPv4 network: write A.B.C.D/N");
    if (strspn(dest, "0123456789.") == strlen(dest))
        return entry_error(error, list, entry, "is not a valid IPv4 address: write A.B.C.D with "
                           "each part 0 to 255");
    if (!valid_host(dest))
        return entry_error(error, list, entry, "is neither an IPv4 address (A.B.C.D or "
                           "A.B.C.D/N) nor a host name, optionally followed by ':PORT'");
    e->host = g_steal_pointer(&dest);
    return TRUE;
}

gboolean net_policy_check(const NetPolicy *policy, GError **error)
{
    char **lists[] = { policy->allow_out, policy->deny_out };
    const char *names[] = { "allowOut", "denyOut" };
    guint count = 0;

    for (int l = 0; l < 2; l++) {
        for (char **p = lists[l]; p && *p; p++) {
            Entry e;
            if (!parse_entry(names[l], *p, &e, error))
                return FALSE;
            g_free(e.host);
            count++;
        }
    }
    if (count > NET_MAX_RULES) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "the policy has %u entries; at most %d are "
                    "allowed", count, NET_MAX_RULES);
        return FALSE;
    }
    return TRUE;
}

/* Rules by destination: a later rule for the same prefix and port replaces
 * an earlier one, which is how explicit entries override the implicit DNS
 * allowance and allowOut overrides denyOut. */
typedef struct {
    GArray *rules;
    GHashTable *index; /* key (prefix, addr, port) -> position + 1 */
} RuleSet;

static void rules_put(RuleSet *set, guint8 prefix_len, guint32 addr, guint16 port, gboolean allow)
{
    NetRule r = { .prefix_len = prefix_len, .addr = addr, .port = port, .allow = allow };
    guint64 key = ((guint64)prefix_len << 48) | ((guint64)port << 32) | addr;
    gpointer pos = g_hash_table_lookup(set->index, &key);

    if (pos) {
        g_array_index(set->rules, NetRule, GPOINTER_TO_UINT(pos) - 1) = r;
        return;
    }
    g_array_append_val(set->rules, r);
    g_hash_table_insert(set->index, g_memdup2(&key, sizeof key),
                        GUINT_TO_POINTER(set->rules->len));
}

static gboolean put_entry(RuleSet *set, const char *list, const char *entry, gboolean allow,
                          GError **error)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    Entry e;
    guint32 gateway;
    int rc;

    if (!parse_entry(list, entry, &e, error))
        return FALSE;
    if (e.is_addr) {
        inet_pton(AF_INET, NET_GUEST_GATEWAY, &gateway);
        if (e.prefix_len == 32 && e.addr == gateway) /* the host's loopback, to QEMU */
            rules_put(set, 8, htonl(0x7f000000), e.port, allow);
        else
            rules_put(set, e.prefix_len, e.addr, e.port, allow);
        return TRUE;
    }
    rc = getaddrinfo(e.host, NULL, &hints, &res);
    if (rc != 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s entry '%s': the name %s does not resolve to "
                    "an IPv4 address on this host (%s)", list, entry, e.host, gai_strerror(rc));
        g_free(e.host);
        return FALSE;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        rules_put(set, 32, ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr, e.port, allow);
    freeaddrinfo(res);
    g_free(e.host);
    return TRUE;
}

/* The IPv4 nameservers of the host's resolver, which user-mode networking
 * forwards the guest's DNS queries to. */
static void put_nameservers(RuleSet *set, const char *resolv_conf)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_get_contents(resolv_conf ? resolv_conf : "/etc/resolv.conf", &text, NULL, NULL))
        return;
    lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_auto(GStrv) words = g_strsplit_set(g_strstrip(*l), " \t", -1);
        guint32 addr;
        if (words[0] && g_str_equal(words[0], "nameserver") && words[1] &&
            inet_pton(AF_INET, words[1], &addr) == 1)
            rules_put(set, 32, addr, DNS_PORT, TRUE);
    }
}

GArray *net_policy_rules(const NetPolicy *policy, const char *resolv_conf, GError **error)
{
    RuleSet set = { g_array_new(FALSE, FALSE, sizeof(NetRule)),
                    g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL) };
    gboolean deny_default = policy && (policy->block_all || has_entries(policy->allow_out));
    gboolean ok = TRUE;

    rules_put(&set, 0, 0, 0, !deny_default);
    if (deny_default && !policy->block_all)
        put_nameservers(&set, resolv_conf);
    for (char **p = policy ? policy->deny_out : NULL; ok && p && *p; p++)
        ok = put_entry(&set, "denyOut", *p, FALSE, error);
    for (char **p = policy ? policy->allow_out : NULL; ok && p && *p; p++)
        ok = put_entry(&set, "allowOut", *p, TRUE, error);
    g_hash_table_unref(set.index);
    if (ok && set.rules->len > NET_MAX_RULES) {
        g_set_error(error, OC_ERROR, OC_ELIMIT, "the policy makes %u rules (names count once per "
                    "address); at most %d are allowed", set.rules->len, NET_MAX_RULES);
        ok = FALSE;
    }
    if (!ok) {
        g_array_unref(set.rules);
        return NULL;
    }
    return set.rules;
}

char *net_rule_to_string(const NetRule *rule)
{
    char addr[INET_ADDRSTRLEN];
    GString *s = g_string_new(rule->allow ? "allow " : "deny ");

    inet_ntop(AF_INET, &rule->addr, addr, sizeof addr);
    g_string_append_printf(s, "%s/%u", addr, rule->prefix_len);
    if (rule->port)
        g_string_append_printf(s, ":%u", rule->port);
    return g_string_free(s, FALSE);
}
