/* cli.h: the `oc` command line: one file per group of verbs, all on the
 * public API only (the CLI is a client of the library like any other). */
#ifndef OC_CLI_H
#define OC_CLI_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "opencomputer.h"

typedef struct {
    oc_context *ctx;
    gboolean json;
    uint32_t context_flags; /* OC_CONTEXT_*, from the global options */
} Cli;

/* Exit codes of oc itself (exec passes the command's own through). */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_FAILURE 1

int cmd_create(Cli *cli, int argc, char **argv);
int cmd_ls(Cli *cli, int argc, char **argv);
int cmd_info(Cli *cli, int argc, char **argv);
int cmd_kill(Cli *cli, int argc, char **argv);
int cmd_exec(Cli *cli, int argc, char **argv);
int cmd_exec_list(Cli *cli, int argc, char **argv);
int cmd_exec_kill(Cli *cli, int argc, char **argv);
/* oc exec list, or with agents oc agent list (oc_agent_list()). */
int cli_list_sessions(Cli *cli, int argc, char **argv, gboolean agents);
int cmd_exec_attach(Cli *cli, int argc, char **argv);
int cmd_shell(Cli *cli, int argc, char **argv);
int cmd_agent(Cli *cli, int argc, char **argv);
int cmd_files(Cli *cli, int argc, char **argv);
int cmd_hibernate(Cli *cli, int argc, char **argv);
int cmd_wake(Cli *cli, int argc, char **argv);
int cmd_reboot(Cli *cli, int argc, char **argv);
int cmd_set_timeout(Cli *cli, int argc, char **argv);
int cmd_daemon(Cli *cli, int argc, char **argv);
int cmd_checkpoint(Cli *cli, int argc, char **argv);
int cmd_template(Cli *cli, int argc, char **argv);
int cmd_template_build(Cli *cli, int argc, char **argv);
int cmd_template_import(Cli *cli, int argc, char **argv);
int cmd_template_prune(Cli *cli, int argc, char **argv);
int cmd_pool(Cli *cli, int argc, char **argv);
int cmd_network(Cli *cli, int argc, char **argv);
int cmd_expose(Cli *cli, int argc, char **argv);

/* A GSourceFunc that quits the GMainLoop it is given (signal handlers). */
gboolean cli_quit_loop(gpointer loop);

#define CLI_JSON_ENTRY(cli) { "json", 0, 0, G_OPTION_ARG_NONE, &(cli)->json, "Print JSON", NULL }

/* The egress options of oc create and oc network set. */
typedef struct {
    char **allow_out;
    char **deny_out;
    gboolean block_all;
    oc_network_policy policy;
} CliNetwork;

#define CLI_NETWORK_ENTRIES(n)                                                              \
    { "block-all", 0, 0, G_OPTION_ARG_NONE, &(n).block_all,                                 \
      "Deny all outbound traffic that --allow-out does not name", NULL },                   \
    { "allow-out", 0, 0, G_OPTION_ARG_STRING_ARRAY, &(n).allow_out,                         \
      "Allow outbound traffic to DEST (A.B.C.D[/N] or a host name, [:PORT]); the rest is "  \
      "denied", "DEST" },                                                                   \
    { "deny-out", 0, 0, G_OPTION_ARG_STRING_ARRAY, &(n).deny_out,                           \
      "Deny outbound traffic to DEST", "DEST" }

/* The policy the options give, or NULL if none was given (points into n). */
const oc_network_policy *cli_network_policy(CliNetwork *n);
void cli_network_clear(CliNetwork *n);
/* {"allowOut": [...], "denyOut": [...], "blockAll": bool} of a sandbox. */
JsonNode *cli_network_json(const oc_sandbox_info *info);

/* Library log lines up to this oc_log_level go to stderr. */
void cli_log_level_at_least(int level);

/* Prints "oc: <message>" to stderr, frees err, returns CLI_EXIT_FAILURE. */
int cli_fail(oc_error *err);
int cli_usage(GOptionContext *oc, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Parses options; on error prints usage and returns FALSE. */
gboolean cli_parse(GOptionContext *oc, int *argc, char ***argv);
/* Connects to a sandbox by id or prints the error. */
oc_sandbox *cli_connect(Cli *cli, const char *id);
/* Runs fn on each sandbox id in argv[1..]; the exit code is the worst. */
typedef int (*CliPerSandbox)(Cli *cli, oc_sandbox *sb, gpointer data);
int cli_for_each_id(Cli *cli, int argc, char **argv, CliPerSandbox fn, gpointer data);
/* "2026-11-26T17:29:30Z" for unix seconds t. */
char *cli_iso_time(int64_t t);
/* For verbs that take options and one sandbox id: parses, connects, and
 * returns the sandbox, or NULL with *rc set to the exit code. */
oc_sandbox *cli_parse_one_id(Cli *cli, GOptionContext *oc, int argc, char **argv, int *rc);
/* For verbs that take ID ARG: parses, sets *arg, connects; NULL with *rc
 * set to the exit code.  what names ARG in the usage error. */
oc_sandbox *cli_parse_id_arg(Cli *cli, GOptionContext *oc, int argc, char **argv,
                             const char *what, const char **arg, int *rc);
/* For verbs on one session (ID SESSION): parses, checks the session id
 * into *session, connects; NULL with *rc set to the exit code. */
oc_sandbox *cli_parse_id_session(Cli *cli, GOptionContext *oc, int argc, char **argv,
                                 uint32_t *session, int *rc);
void cli_warn_if_tcg(Cli *cli);

/* A verb of a group (oc checkpoint create): argv[0] is its own name. */
typedef struct {
    const char *name;
    int (*fn)(Cli *cli, int argc, char **argv);
    const char *help;
} CliVerb;
/* Runs the verb of the group named by argv[1], or prints the group's verbs
 * (exit 0 for --help, a usage error otherwise). */
int cli_dispatch(Cli *cli, const char *group, const CliVerb *verbs, size_t n, int argc,
                 char **argv);
/* Prints "ID said", or with --json the sandbox's info plus "wake" (the
 * wake kind) when wake is not NULL. */
int cli_print_state(Cli *cli, oc_sandbox *sb, const char *said, const char *wake);

/* Output: a JSON document on stdout, or a table. */
void cli_print_json(JsonNode *node);
/* An oc_build_log_fn: prints a line of a build's or import's log at once. */
void cli_log_line(const char *line, void *user_data);
JsonNode *cli_info_json(const oc_sandbox_info *info);
void cli_table_header(void);
void cli_table_row(const oc_sandbox_info *info);

#endif
