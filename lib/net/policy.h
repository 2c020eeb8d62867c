/* policy.h: a sandbox's egress policy, and the rules it becomes.
 *
 * A policy names destinations the guest may or may not reach; the rules
 * are what the host kernel checks each outbound connection of the
 * sandbox's QEMU process against (net/egress.h).  See docs/network.md for
 * the semantics users are promised. */
#ifndef OC_NET_POLICY_H
#define OC_NET_POLICY_H

#include <glib.h>

typedef struct {
    char **allow_out; /* NULL-terminated entries, or NULL */
    char **deny_out;
    gboolean block_all;
} NetPolicy;

/* One destination prefix and its verdict. */
typedef struct {
    guint8 prefix_len; /* bits of addr that count: 0..32 */
    guint32 addr;      /* IPv4 address, network byte order, host bits zero */
    guint16 port;      /* host byte order; 0: any port */
    gboolean allow;
} NetRule;

/* Most entries a policy may turn into (a name's addresses count each). */
#define NET_MAX_RULES 1024

/* The gateway address the guest sees for the host (user-mode networking):
 * QEMU connects to the host's loopback for it. */
#define NET_GUEST_GATEWAY "10.0.2.2"

NetPolicy *net_policy_new(void);
void net_policy_free(NetPolicy *policy);
NetPolicy *net_policy_copy(const NetPolicy *policy);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NetPolicy, net_policy_free)

/* TRUE if the policy limits anything (NULL: no policy: FALSE). */
gboolean net_policy_restricts(const NetPolicy *policy);
/* Checks every entry's syntax without resolving names: OC_EINVAL naming
 * the first bad entry. */
gboolean net_policy_check(const NetPolicy *policy, GError **error);
/* The rules of the policy, names resolved now: a GArray of NetRule, the
 * default (0.0.0.0/0, any port) first.  resolv_conf: where the host's
 * nameservers are listed (NULL: /etc/resolv.conf); port 53 on them stays
 * open under allowOut unless blockAll. */
GArray *net_policy_rules(const NetPolicy *policy, const char *resolv_conf, GError **error);
/* "allow"/"deny" and the address as a user wrote it, for messages and tests. */
char *net_rule_to_string(const NetRule *rule);

#endif
