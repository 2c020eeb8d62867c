/* user.c: running a process as another user (EXEC's USER field).
 *
 * The user is looked up in the guest's own /etc/passwd and /etc/group, read
 * here rather than through getpwnam(): the agent is a static binary that
 * must not depend on the image's libc or NSS modules, and a build step's
 * useradd writes exactly these files.  posix_spawn() cannot change ids, so
 * the child is the agent itself (/proc/self/exe, which works whatever root
 * it now runs in) in its --as mode: it drops to the ids and execs the
 * program, keeping the session, signals and file descriptors posix_spawn
 * set up. */
#define _GNU_SOURCE
#include "oc-agent.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

static int parse_id(const char *s, unsigned long *out)
{
    char *end;
    if (!*s || strlen(s) > 10)
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return *end || errno || *out > 0xfffffffeul ? -1 : 0;
}

/* Splits a colon-separated line into at most max fields (in place). */
static int split_fields(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\n")] = '\0';
    f[n++] = line;
    for (char *p = line; *p && n < max; p++) {
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    }
    return n;
}

/* Finds name (or, if name is NULL, the id) in a passwd- or group-style
 * file; fills the line's fields.  1 found, 0 not, -1 unreadable. */
static int lookup(const char *path, const char *name, unsigned long id, char *buf, char **f,
                  int nf)
{
    FILE *fp = fopen(path, "re");
    int found = 0;
    if (!fp)
        return -1;
    while (!found && fgets(buf, LINE_MAX_LEN, fp)) {
        unsigned long v;
        if (buf[0] == '#' || split_fields(buf, f, nf) < nf)
            continue;
        found = name ? strcmp(f[0], name) == 0 : parse_id(f[2], &v) == 0 && v == id;
    }
    fclose(fp);
    return found;
}

/* The groups that list user as a member, besides gid. */
static void member_groups(const char *user, agent_user *u)
{
    char buf[LINE_MAX_LEN];
    FILE *fp = fopen("/etc/group", "re");
    if (!fp)
        return;
    while (u->ngroups < AGENT_USER_MAX_GROUPS && fgets(buf, sizeof buf, fp)) {
        char *f[4];
        unsigned long gid;
        if (split_fields(buf, f, 4) < 4 || parse_id(f[2], &gid) < 0 || gid == u->gid)
            continue;
        for (char *save = NULL, *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save)) {
            if (strcmp(m, user) == 0) {
                u->groups[u->ngroups++] = (gid_t)gid;
                break;
            }
        }
    }
    fclose(fp);
}

int user_resolve(const char *spec, agent_user *u, char *msg, size_t cap)
{
    char want[2 * AGENT_USER_NAME_MAX + 2], buf[LINE_MAX_LEN];
    char *f[7];
    unsigned long v;
    memset(u, 0, sizeof *u);
    if (strlen(spec) >= sizeof want) {
        snprintf(msg, cap, "user '%.100s...' is too long", spec);
        return -1;
    }
    strcpy(want, spec);
    char *group = strchr(want, ':');
    if (group)
        *group++ = '\0';
    int numeric = parse_id(want, &v) == 0;
    int found = lookup("/etc/passwd", numeric ? NULL : want, v, buf, f, 7);
    if (found > 0) {
        unsigned long uid, gid;
        if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0) {
            snprintf(msg, cap, "user '%s': its /etc/passwd entry is malformed", want);
            return -1;
        }
        u->uid = (uid_t)uid;
        u->gid = (gid_t)gid;
        snprintf(u->name, sizeof u->name, "%s", f[0]);
        snprintf(u->home, sizeof u->home, "%s", *f[5] ? f[5] : "/");
    } else if (numeric) {
        /* A bare uid the image does not name, as Docker allows. */
        u->uid = (uid_t)v;
        u->gid = 0;
        snprintf(u->name, sizeof u->name, "%s", want);
        snprintf(u->home, sizeof u->home, "/");
    } else {
        snprintf(msg, cap, "no user '%s' in the guest's /etc/passwd%s", want,
                 found < 0 ? " (it cannot be read)" : "; create it first (useradd)");
        return -1;
    }
    if (group) {
        char gbuf[LINE_MAX_LEN];
        char *g[4];
        unsigned long gid;
        int gnum = parse_id(group, &gid) == 0;
        if (!gnum) {
            if (lookup("/etc/group", group, 0, gbuf, g, 4) <= 0 || parse_id(g[2], &gid) < 0) {
                snprintf(msg, cap, "no group '%s' in the guest's /etc/group", group);
                return -1;
            }
        }
        u->gid = (gid_t)gid;
    } else if (found > 0) {
        member_groups(u->name, u);
    }
    return 0;
}

char **user_env(char *const *envp, const agent_user *u, char **strings)
{
    size_t n = 0, k = 0;
    while (envp && envp[n])
        n++;
    char **out = calloc(n + 4, sizeof *out);
    char *own = malloc(3 * (sizeof u->home + 16));
    if (!out || !own) {
        free(out);
        free(own);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (strncmp(envp[i], "HOME=", 5) && strncmp(envp[i], "USER=", 5) &&
            strncmp(envp[i], "LOGNAME=", 8))
            out[k++] = envp[i];
    int a = sprintf(own, "HOME=%s", u->home) + 1;
    int b = sprintf(own + a, "USER=%s", u->name) + 1;
    sprintf(own + a + b, "LOGNAME=%s", u->name);
    out[k++] = own;
    out[k++] = own + a;
    out[k++] = own + a + b;
    out[k] = NULL;
    *strings = own;
    return out;
}

int user_as_main(int argc, char **argv)
{
    /* oc-agent --as UID GID GROUPS PROG ARGV0 [ARGS...] */
    unsigned long uid, gid;
    gid_t groups[AGENT_USER_MAX_GROUPS];
    int ngroups = 0;
    if (argc < 7 || parse_id(argv[2], &uid) < 0 || parse_id(argv[3], &gid) < 0) {
        fprintf(stderr, "oc-agent --as: usage: --as UID GID GROUPS PROG ARGV0 [ARGS...]\n");
        return 126;
    }
    for (char *save = NULL, *g = strtok_r(argv[4], ",", &save);
         g && ngroups < AGENT_USER_MAX_GROUPS; g = strtok_r(NULL, ",", &save)) {
        unsigned long v;
        if (parse_id(g, &v) == 0)
            groups[ngroups++] = (gid_t)v;
    }
    if (setgroups((size_t)ngroups, groups) < 0 || setgid((gid_t)gid) < 0 ||
        setuid((uid_t)uid) < 0) {
        fprintf(stderr, "cannot run as uid %lu gid %lu: %s\n", uid, gid, strerror(errno));
        return 126;
    }
    execv(argv[5], argv + 6);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[6], strerror(err));
    return err == ENOENT ? 127 : 126;
}

char **user_spawn_argv(const agent_user *u, const char *prog, char *const *argv, char *ids,
                       size_t ids_cap)
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **out = calloc(n + 7, sizeof *out);
    if (!out)
        return NULL;
    int a = snprintf(ids, ids_cap, "%u", (unsigned)u->uid) + 1;
    int b = snprintf(ids + a, ids_cap - a, "%u", (unsigned)u->gid) + 1;
    char *g = ids + a + b;
    size_t left = ids_cap - a - b;
    g[0] = '\0';
    for (int i = 0; i < u->ngroups && left > 12; i++) {
        int w = snprintf(g + strlen(g), left, "%s%u", i ? "," : "", (unsigned)u->groups[i]);
        left -= (size_t)w;
    }
    if (!g[0])
        snprintf(g, left, "%u", (unsigned)u->gid);
    out[0] = "oc-agent";
    out[1] = "--as";
    out[2] = ids;
    out[3] = ids + a;
    out[4] = g;
    out[5] = (char *)prog;
    for (size_t i = 0; i < n; i++)
        out[6 + i] = argv[i];
    out[6 + n] = NULL;
    return out;
}
