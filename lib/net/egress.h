/* egress.h: a sandbox's egress policy, enforced by the host kernel.
 *
 * Under user-mode networking every outbound connection of a guest is a
 * socket its QEMU process opens on the host.  So the policy is a cgroup
 * (v2) that QEMU runs in, with cgroup BPF programs on connect and UDP
 * sendmsg that look each destination up in the policy's map (an LPM trie)
 * and deny it with EPERM: the guest sees its connection refused at once,
 * and nothing inside the guest, root included, can reach the programs.
 *
 * Everything is found again through the cgroup (its attached programs lead
 * to the map), so another process can change the policy later, and the
 * programs stay while the cgroup exists, whoever made them. */
#ifndef OC_NET_EGRESS_H
#define OC_NET_EGRESS_H

#include <glib.h>
#include <sys/types.h>

#include "net/policy.h"

/* The cgroup of sandbox id of the state directory state_dir:
 * CGROUP2/opencomputer/<hash of state_dir>/<id>.  OC_EUNSUPPORTED when the
 * host has no cgroup v2 mounted. */
char *net_egress_cgroup(const char *state_dir, const char *id, GError **error);
/* Creates the cgroup if needed, attaches the programs if they are not, and
 * makes the map hold the rules of policy (names resolved now).  Processes
 * in the cgroup see the new rules on their next connection; connections
 * already open stay.  OC_EUNSUPPORTED (saying why) when the host cannot
 * enforce it: not root, or a kernel without cgroup BPF. */
gboolean net_egress_apply(const char *cgroup, const NetPolicy *policy, const char *resolv_conf,
                          GError **error);
/* Moves process pid (all its threads) into the cgroup.  Its sockets made
 * before stay outside the policy. */
gboolean net_egress_add_pid(const char *cgroup, pid_t pid, GError **error);
/* Removes the cgroup (and with it the programs and map): it must hold no
 * process any more.  A cgroup that does not exist is not an error. */
gboolean net_egress_remove(const char *cgroup, GError **error);
/* How many of the policy's hooks have a program attached on the cgroup
 * (NET_EGRESS_HOOKS when it enforces a policy); -1 with error if it cannot
 * be read.  A missing cgroup has none. */
#define NET_EGRESS_HOOKS 5
int net_egress_hooks_attached(const char *cgroup, GError **error);
/* The rules in the cgroup's map, as net_rule_to_string() writes them,
 * sorted: what the kernel enforces now. */
GPtrArray *net_egress_read_rules(const char *cgroup, GError **error);
/* Removes the cgroups of state_dir for which gone(id, data) says their
 * sandbox is gone (asked just before each removal), if empty.  Returns how
 * many were removed. */
typedef gboolean (*NetEgressGone)(const char *id, gpointer data);
guint net_egress_prune(const char *state_dir, NetEgressGone gone, gpointer data);

#endif
