/* snapshots.c: a template's ready snapshot is a checkpoint of a sandbox
 * booted from it with the default sizes, taken once its agent answered.
 * Its key hashes everything the saved guest depends on, so a snapshot that
 * no longer matches is never used: create boots instead, and the next
 * prepare replaces it (the old one goes once no fork builds on it). */
#include "core/snapshots.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/power.h"
#include "image/store.h"
#include "util/error.h"
#include "util/lockfile.h"
#include "util/log.h"
#include "virt/domain.h"

/* Bumped when how a snapshot is made changes (what runs before the save). */
#define SNAPSHOT_RECIPE 2

static void hash_file_identity(GChecksum *h, const char *path)
{
    struct stat st;
    g_autofree char *line = NULL;

    if (stat(path, &st) < 0)
        return;
    line = g_strdup_printf("%s %lu %lld %lld.%09ld\n", path, (unsigned long)st.st_ino,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec);
    g_checksum_update(h, (const guchar *)line, -1);
}

/* What a ready snapshot depends on: the template's disk version, the
 * kernel and initramfs (with the agent), QEMU and libvirt, the domain
 * definition's shape, and the sizes. */
static char *snapshot_key(oc_context *ctx, const char *template_name, GError **error)
{
    g_autofree char *disk = image_template_disk(ctx->state_dir, template_name, error);
    g_autofree char *kernel = NULL, *initrd = NULL, *boot_key = NULL, *line = NULL;
    g_autofree char *boot_key_path = g_build_filename(ctx->state_dir, "boot", "key", NULL);
    unsigned long qemu_version = 0, lib_version = 0;
    GChecksum *h;
    char *key;

    if (!disk || !image_boot_paths(ctx->state_dir, &kernel, &initrd, error))
        return NULL;
    virConnectGetVersion(ctx->conn, &qemu_version);
    virConnectGetLibVersion(ctx->conn, &lib_version);
    g_file_get_contents(boot_key_path, &boot_key, NULL, NULL);
    h = g_checksum_new(G_CHECKSUM_SHA256);
    line = g_strdup_printf("recipe %d\nxml %d\ntype %s\nqemu %lu\nlibvirt %lu\nsizes %d %d\n"
                           "boot %s\n", SNAPSHOT_RECIPE, VIRT_DOMAIN_XML_VERSION, ctx->domain_type, qemu_version, lib_version,
                           OC_DEFAULT_CPU_COUNT, OC_DEFAULT_MEMORY_MB, boot_key ? boot_key : "");
    g_checksum_update(h, (const guchar *)line, -1);
    hash_file_identity(h, disk);
    hash_file_identity(h, kernel);
    hash_file_identity(h, initrd);
    key = g_strdup(g_checksum_get_string(h));
    g_checksum_free(h);
    return key;
}

ImageCheckpoint *core_template_snapshot_fresh(oc_context *ctx, const char *template_name,
                                              guint32 cpu_count, guint32 memory_mb)
{
    g_autoptr(ImageCheckpoint) snap = NULL;
    g_autofree char *key = NULL, *memory = NULL;

    if (cpu_count != OC_DEFAULT_CPU_COUNT || memory_mb != OC_DEFAULT_MEMORY_MB)
        return NULL;
    snap = image_template_snapshot(ctx->state_dir, template_name, NULL);
    if (!snap)
        return NULL;
    key = snapshot_key(ctx, template_name, NULL);
    memory = image_checkpoint_file(snap, "memory.save");
    if (!key || g_strcmp0(key, snap->key) != 0 || !g_file_test(memory, G_FILE_TEST_IS_REGULAR)) {
        log_info("the snapshot of template %s is stale; `oc template prepare %s` rebuilds it",
                 template_name, template_name);
        return NULL;
    }
    return g_steal_pointer(&snap);
}

/* Serialises builders of one template's snapshot across processes. */
static int lock_template(oc_context *ctx, const char *name, GError **error)
{
    g_autofree char *path = g_build_filename(ctx->state_dir, "templates", name, "snapshot.lock",
                                             NULL);
    return lockfile_take(path, error);
}

/* Boots a hidden builder sandbox and checkpoints it into a new snapshot
 * directory, which becomes the template's current snapshot. */
static gboolean build(oc_context *ctx, const char *name, const char *key, GError **error)
{
    CoreCreateSpec spec = { .template_name = name, .timeout_s = 0,
                            .cpu_count = OC_DEFAULT_CPU_COUNT, .memory_mb = OC_DEFAULT_MEMORY_MB };
    g_autofree char *disk = image_template_disk(ctx->state_dir, name, error);
    g_autoptr(ImageCheckpoint) cp = NULL;
    g_autofree char *dirname = NULL;
    VirtRecord *rec;
    oc_sandbox *builder;
    int hidden_lock = -1, power_lock, dir_lock;
    gboolean ok = FALSE;
    gint64 t0 = g_get_monotonic_time();

    if (!disk || !(rec = core_record_new(&spec, error)))
        return FALSE;
    rec->origin = g_strdup("boot");
    CoreBirth birth = { .backing = disk, .scope = "snapshot" };
    builder = core_sandbox_make(ctx, rec, &birth, &hidden_lock, error);
    if (!builder)
        return FALSE;
    cp = g_new0(ImageCheckpoint, 1);
    cp->id = g_strdup("snapshot");
    cp->name = g_strdup(name);
    cp->sandbox_id = g_strdup(builder->id);
    cp->template_name = g_strdup(name);
    cp->key = g_strdup(key);
    cp->created = g_get_real_time() / G_USEC_PER_SEC;
    cp->cpu_count = spec.cpu_count;
    cp->memory_mb = spec.memory_mb;
    dirname = g_strdup_printf("snapshot-%.16s-%08x", key, g_random_int());
    cp->dir = g_build_filename(ctx->state_dir, "templates", name, dirname, NULL);
    /* Its page cache then holds the shell and glibc for every fork. */
    power_lock = core_sandbox_warm(builder, error) ? core_power_begin(builder, error) : -1;
    dir_lock = power_lock >= 0 ? image_lock_dir(cp->dir, error) : -1;
    if (dir_lock >= 0) {
        ok = core_checkpoint_take(builder, cp, error) && image_checkpoint_commit(cp, error) &&
             image_template_snapshot_publish(ctx->state_dir, name, cp->dir, error);
        g_autofree char *lock_path = g_build_filename(cp->dir, "create.lock", NULL);
        g_unlink(lock_path);
        close(dir_lock);
    }
    if (power_lock >= 0)
        close(power_lock);
    core_sandbox_kill(builder, NULL); /* and collects the replaced snapshot */
    oc_sandbox_unref(builder);
    close(hidden_lock);
    if (ok)
        log_info("template %s: ready snapshot made in %.1f s (%.1f MiB)", name,
                 (g_get_monotonic_time() - t0) / 1e6, cp->size_bytes / 1048576.0);
    return ok;
}

gboolean core_template_prepare(oc_context *ctx, const char *template_name, gboolean *built,
                               GError **error)
{
    g_autofree char *key = snapshot_key(ctx, template_name, error);
    g_autoptr(ImageCheckpoint) fresh = NULL;
    gboolean ok = TRUE;
    int lock_fd;

    *built = FALSE;
    if (!key)
        return FALSE;
    lock_fd = lock_template(ctx, template_name, error);
    if (lock_fd < 0)
        return FALSE;
    /* Another process may have built it while we waited for the lock. */
    fresh = core_template_snapshot_fresh(ctx, template_name, OC_DEFAULT_CPU_COUNT,
                                         OC_DEFAULT_MEMORY_MB);
    if (!fresh) {
        ok = build(ctx, template_name, key, error);
        *built = ok;
        if (!ok)
            g_prefix_error(error, "cannot make the ready snapshot of template %s: ",
                           template_name);
    }
    close(lock_fd);
    return ok;
}
