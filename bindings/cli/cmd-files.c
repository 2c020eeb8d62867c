/* cmd-files.c: oc files cat|put|ls ID ... */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *type_name(int t)
{
    switch (t) {
    case OC_FILE_TYPE_FILE: return "file";
    case OC_FILE_TYPE_DIR: return "dir";
    case OC_FILE_TYPE_SYMLINK: return "symlink";
    default: return "other";
    }
}

static int files_ls(Cli *cli, oc_sandbox *sb, const char *path)
{
    oc_file_list *list = NULL;
    oc_error *err = NULL;
    size_t n;

    if (oc_files_list(&list, sb, path, 0, &err) < 0)
        return cli_fail(err);
    n = oc_file_list_count(list);
    if (cli->json) {
        JsonArray *a = json_array_new();
        JsonNode *node = json_node_new(JSON_NODE_ARRAY);
        for (size_t i = 0; i < n; i++) {
            const oc_file_info *fi = oc_file_list_at(list, i);
            JsonObject *o = json_object_new();
            g_autofree char *full = g_build_filename(path, oc_file_info_name(fi), NULL);
            json_object_set_string_member(o, "name", oc_file_info_name(fi));
            json_object_set_string_member(o, "path", full);
            json_object_set_string_member(o, "type", type_name(oc_file_info_type(fi)));
            json_object_set_boolean_member(o, "isDir", oc_file_info_type(fi) == OC_FILE_TYPE_DIR);
            json_object_set_int_member(o, "size", (gint64)oc_file_info_size(fi));
            json_object_set_int_member(o, "mode", oc_file_info_mode(fi));
            json_array_add_object_element(a, o);
        }
        json_node_take_array(node, a);
        cli_print_json(node);
    } else {
        for (size_t i = 0; i < n; i++) {
            const oc_file_info *fi = oc_file_list_at(list, i);
            printf("%-8s %04o %12" G_GUINT64_FORMAT " %s%s\n", type_name(oc_file_info_type(fi)),
                   oc_file_info_mode(fi) & 07777, oc_file_info_size(fi), oc_file_info_name(fi),
                   oc_file_info_type(fi) == OC_FILE_TYPE_DIR ? "/" : "");
        }
    }
    oc_file_list_free(list);
    return 0;
}

int cmd_files(Cli *cli, int argc, char **argv)
{
    GOptionEntry entries[] = {
        { "json", 0, 0, G_OPTION_ARG_NONE, &cli->json, "Print JSON (ls)", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) oc = g_option_context_new(
        "cat|put|ls ID ... - files in a sandbox\n\n"
        "  oc files cat ID PATH          print a file\n"
        "  oc files put ID LOCAL PATH    upload LOCAL (- for stdin) to PATH\n"
        "  oc files ls ID PATH           list a directory");
    oc_sandbox *sb;
    oc_error *err = NULL;
    const char *verb;
    int rc = 0;

    g_option_context_add_main_entries(oc, entries, NULL);
    if (!cli_parse(oc, &argc, &argv))
        return CLI_EXIT_USAGE;
    if (argc < 4)
        return cli_usage(oc, "expected a verb, a sandbox id and a path");
    verb = argv[1];
    if (strcmp(verb, "cat") && strcmp(verb, "put") && strcmp(verb, "ls"))
        return cli_usage(oc, "unknown files verb '%s'", verb);
    if ((strcmp(verb, "put") == 0) != (argc == 5) || argc > 5)
        return cli_usage(oc, "wrong number of arguments for 'files %s'", verb);
    sb = cli_connect(cli, argv[2]);
    if (!sb)
        return CLI_EXIT_FAILURE;
    if (strcmp(verb, "ls") == 0) {
        rc = files_ls(cli, sb, argv[3]);
    } else if (strcmp(verb, "cat") == 0) {
        fflush(stdout);
        if (oc_files_read_to_fd(sb, argv[3], STDOUT_FILENO, 0, &err) < 0)
            rc = cli_fail(err);
    } else {
        int fd = strcmp(argv[3], "-") == 0 ? STDIN_FILENO : open(argv[3], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "oc: cannot open %s: %s\n", argv[3], g_strerror(errno));
            rc = CLI_EXIT_FAILURE;
        } else {
            if (oc_files_write_from_fd(sb, argv[4], fd, 0, &err) < 0)
                rc = cli_fail(err);
            if (fd != STDIN_FILENO)
                close(fd);
        }
    }
    oc_sandbox_unref(sb);
    return rc;
}
