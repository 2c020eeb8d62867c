/* rootfs.c: a template disk from a root filesystem tarball (see rootfs.h). */
#include "image/rootfs.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/error.h"

/* What sandboxes get to write in, at least (the base template's size). */
#define MIN_DISK_BYTES (4ull << 30)
/* Lines of a tool's error output kept in our error. */
#define TOOL_ERROR_LINES 6

#if defined(__x86_64__)
#define GUEST_MACHINE EM_X86_64
#define GUEST_ARCH "x86-64"
#elif defined(__aarch64__)
#define GUEST_MACHINE EM_AARCH64
#define GUEST_ARCH "aarch64"
#else
#error "unknown guest architecture"
#endif

/* The last lines of a tool's error output, on one line (tar's closing
 * "Exiting with failure status" says nothing). */
static char *tail_lines(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(g_strstrip((char *)text), "\n", -1);
    guint n = g_strv_length(lines);
    guint from;

    if (n > 1 && g_str_has_prefix(lines[n - 1], "tar: Exiting with failure status")) {
        g_free(lines[--n]);
        lines[n] = NULL;
    }
    from = n > TOOL_ERROR_LINES ? n - TOOL_ERROR_LINES : 0;
    return g_strjoinv("; ", lines + from);
}

/* Runs argv; FALSE with its error output (in *err_text, for the caller to
 * word the error) when it cannot start or fails. */
static gboolean run_tool(const char *const *argv, char **err_text, GError **error)
{
    const char *envp[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    g_autofree char *text = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, (char **)envp,
                      G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                      NULL, &text, &status, error)) {
        g_prefix_error(error, "cannot run %s: ", argv[0]);
        return FALSE;
    }
    if (g_spawn_check_wait_status(status, NULL))
        return TRUE;
    *err_text = tail_lines(text ? text : "");
    return FALSE;
}

gboolean image_rootfs_extract(const char *tarball, const char *dir, GError **error)
{
    /* Ownership and modes are the tarball's: a root filesystem needs them
     * (setuid binaries, a user's home).  --numeric-owner takes the numbers
     * in the tarball, not the host's users of the same names.  Members that
     * would land outside dir are tar's to refuse: it strips leading '/',
     * refuses names with '..', and makes symlinks that point out of dir
     * (absolute or with '..') only after every other member is written,
     * so no member is written through one. */
    const char *argv[] = { "tar", "--extract", "--file", tarball, "--directory", dir,
                           "--numeric-owner", "--same-owner", "--same-permissions",
                           "--xattrs", "--xattrs-include=security.capability", NULL };
    g_autofree char *err_text = NULL;
    GStatBuf st;

    if (g_stat(tarball, &st) < 0) {
        g_set_error(error, OC_ERROR, errno == ENOENT ? OC_ENOTFOUND : OC_EIO,
                    "cannot read %s: %s", tarball, g_strerror(errno));
        return FALSE;
    }
    if (!S_ISREG(st.st_mode)) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a file; give a root filesystem "
                    "tarball (.tar, .tar.gz or .tar.xz)", tarball);
        return FALSE;
    }
    if (run_tool(argv, &err_text, error))
        return TRUE;
    if (!err_text)
        return FALSE;
    if (strstr(err_text, "does not look like a tar archive") ||
        strstr(err_text, "not in gzip format") || strstr(err_text, "File format not recognized"))
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a tar archive (plain, gzip or xz "
                    "compressed): %s", tarball, err_text);
    else
        g_set_error(error, OC_ERROR, OC_EINVAL, "cannot unpack %s (a damaged archive, or "
                    "members that would land outside the root filesystem): %s", tarball,
                    err_text);
    return FALSE;
}

/* Opens path inside the tree at root_fd as if root_fd were "/": absolute
 * symlinks and '..' resolve within it, never to the host's files. */
static int open_in_root(int root_fd, const char *path, int flags)
{
    struct open_how how = { .flags = (guint64)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}

/* 1: path is an executable ELF file of the guest's architecture; 0: there
 * is no file there; -1: there is one, but unusable (error says why). */
static int check_program(int root_fd, const char *path, GError **error)
{
    Elf64_Ehdr eh;
    struct stat st;
    int fd = open_in_root(root_fd, path, O_RDONLY);
    ssize_t n;

    if (fd < 0) {
        if (errno == ENOSYS) {
            g_set_error(error, OC_ERROR, OC_EUNSUPPORTED, "importing a root filesystem needs "
                        "openat2() (Linux 5.6 or later) on the host");
            return -1;
        }
        return 0;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
        close(fd);
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not an executable file", path);
        return -1;
    }
    n = pread(fd, &eh, sizeof eh, 0);
    close(fd);
    if (n != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is not a Linux program (no ELF header)",
                    path);
        return -1;
    }
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != GUEST_MACHINE) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "%s is built for another architecture (ELF "
                    "machine %u); the guest runs " GUEST_ARCH " programs", path, eh.e_machine);
        return -1;
    }
    return 1;
}

/* The guest's agent runs commands with /bin/sh: a userland whose shell is
 * only /usr/bin/sh gets the link. */
static gboolean link_bin_sh(int root_fd, GError **error)
{
    int bin;

    if (mkdirat(root_fd, "bin", 0755) < 0 && errno != EEXIST)
        goto fail;
    bin = open_in_root(root_fd, "/bin", O_PATH | O_DIRECTORY);
    if (bin < 0)
        goto fail;
    if (symlinkat("/usr/bin/sh", bin, "sh") < 0) {
        close(bin);
        goto fail;
    }
    close(bin);
    return TRUE;
fail:
    g_set_error(error, OC_ERROR, OC_EINVAL, "the root filesystem has /usr/bin/sh but no "
                "/bin/sh, and /bin/sh cannot be made: %s", g_strerror(errno));
    return FALSE;
}

gboolean image_rootfs_check(const char *dir, GError **error)
{
    /* The guest's init mounts on these; tmp is world-writable as usual. */
    static const struct { const char *name; mode_t mode; } mount_points[] = {
        { "dev", 0755 }, { "proc", 0555 }, { "sys", 0555 }, { "run", 0755 }, { "tmp", 01777 },
    };
    int root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int bin_sh, usr_bin_sh = 0;
    gboolean ok = FALSE;

    if (root_fd < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot open %s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    bin_sh = check_program(root_fd, "/bin/sh", error);
    if (bin_sh == 0)
        usr_bin_sh = check_program(root_fd, "/usr/bin/sh", error);
    if (bin_sh < 0 || usr_bin_sh < 0)
        goto out;
    if (!bin_sh && !usr_bin_sh) {
        g_set_error(error, OC_ERROR, OC_EINVAL, "it is not a Linux userland: it has no /bin/sh "
                    "or /usr/bin/sh, which the guest runs commands with (a Debian, Ubuntu or "
                    "Alpine root filesystem has one; so does busybox after busybox --install)");
        goto out;
    }
    if (!bin_sh && !link_bin_sh(root_fd, error))
        goto out;
    for (gsize i = 0; i < G_N_ELEMENTS(mount_points); i++) {
        if (mkdirat(root_fd, mount_points[i].name, mount_points[i].mode) == 0)
            fchmodat(root_fd, mount_points[i].name, mount_points[i].mode, 0);
        else if (errno != EEXIST) {
            g_set_error(error, OC_ERROR, OC_EIO, "cannot create /%s in the root filesystem: %s",
                        mount_points[i].name, g_strerror(errno));
            goto out;
        }
    }
    ok = TRUE;
out:
    close(root_fd);
    return ok;
}

/* ---- the disk ---- */

/* nftw() takes no user data: the sum is per thread. */
static __thread guint64 tree_bytes;

static int add_bytes(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)flag;
    (void)ftw;
    tree_bytes += (guint64)st->st_blocks * 512 + 4096; /* a block per inode, roughly */
    return 0;
}

/* What the tree takes; the disk gets twice that and a GiB more, so that
 * sandboxes have room whatever the size of the userland. */
static guint64 disk_size_for(const char *dir)
{
    guint64 size;

    tree_bytes = 0;
    nftw(dir, add_bytes, 16, FTW_PHYS);
    size = MAX(MIN_DISK_BYTES, tree_bytes * 2 + (1ull << 30));
    return (size + (1ull << 20) - 1) & ~((1ull << 20) - 1);
}

gboolean image_rootfs_make_disk(const char *dir, const char *scratch, const char *disk,
                                guint64 *size_bytes, GError **error)
{
    g_autofree char *raw = g_build_filename(scratch, "root.ext4", NULL);
    guint64 size = disk_size_for(dir);
    g_autofree char *size_k = g_strdup_printf("%" G_GUINT64_FORMAT "k", size >> 10);
    /* As the base template's disk is made (guest/image/build-template):
     * inode tables and journal written now rather than lazily in every
     * guest; the root directory owned by root whoever runs this. */
    const char *mkfs[] = { "mke2fs", "-q", "-F", "-t", "ext4", "-d", dir, "-L", "oc-root",
                           "-E", "root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0", raw,
                           size_k, NULL };
    const char *convert[] = { "qemu-img", "convert", "-q", "-O", "qcow2", raw, disk, NULL };
    g_autofree char *err_text = NULL;
    int fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    gboolean ok;

    if (fd < 0) {
        g_set_error(error, OC_ERROR, OC_EIO, "cannot create %s: %s", raw, g_strerror(errno));
        return FALSE;
    }
    close(fd);
    ok = run_tool(mkfs, &err_text, error);
    if (!ok && err_text)
        g_set_error(error, OC_ERROR, OC_EIO, "mke2fs could not make the root filesystem: %s",
                    err_text);
    g_clear_pointer(&err_text, g_free);
    if (ok) {
        ok = run_tool(convert, &err_text, error);
        if (!ok && err_text)
            g_set_error(error, OC_ERROR, OC_EIO, "qemu-img convert of %s failed: %s", raw,
                        err_text);
    }
    g_unlink(raw);
    if (!ok)
        g_unlink(disk);
    else if (size_bytes)
        *size_bytes = size;
    return ok;
}
