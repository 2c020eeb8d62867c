/* opencomputer.h: the public C API of libopencomputer.
 *
 * A sandbox is a Linux virtual machine with its own kernel, filesystem,
 * network stack and process space.  Programs create sandboxes, run commands
 * in them and move files in and out.
 *
 * Conventions (see docs/ and STYLE.md):
 * - fallible calls return 0 or a negative OC_E* code, fill *out only on
 *   success, and take a nullable `oc_error **error` last;
 * - handles are opaque and refcounted, *_unref() accepts NULL;
 * - releasing a sandbox handle never stops the VM, oc_sandbox_kill() does;
 * - options structs start with a version field; initialise them with the
 *   *_INIT macro or the *_init() function;
 * - every `flags` argument must be 0 unless a flag is documented for it;
 * - blocking calls are safe from any thread;
 * - this header uses only standard C types.
 */
#ifndef OPENCOMPUTER_H
#define OPENCOMPUTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(OC_BUILDING_LIBRARY)
#define OC_API __attribute__((visibility("default")))
#else
#define OC_API
#endif

#define OC_VERSION_MAJOR 0
#define OC_VERSION_MINOR 1
#define OC_VERSION_MICRO 0

/* ---- errors ---- */

/* Append-only: codes keep their value forever. */
typedef enum {
    OC_OK = 0,
    OC_EINVAL = -1,        /* an argument is wrong; the message says which */
    OC_ENOTFOUND = -2,     /* no such sandbox, template or file */
    OC_ESTATE = -3,        /* the sandbox is in the wrong state for this */
    OC_ETIMEOUT = -4,      /* the operation did not finish in time */
    OC_EAGENT = -5,        /* the guest agent failed or broke the protocol */
    OC_EVIRT = -6,         /* libvirt or QEMU failed */
    OC_EIO = -7,           /* a host or guest I/O error */
    OC_ELIMIT = -8,        /* a size or count limit was hit */
    OC_EEXISTS = -9,       /* it already exists */
    OC_EUNSUPPORTED = -10, /* not supported by this host, guest or version */
    OC_ENOMEM = -11,
    OC_ECANCELLED = -12,
    OC_EPERM = -13,        /* permission denied */
    OC_EINTERNAL = -14,    /* a bug: please report it */
    OC_ECOMMAND = -15,     /* a command run for the call failed (a template build's
                            * step); the message quotes its exit code and output */
    /* new codes go here; lib/util/error.c passes codes down to the last one */
} oc_error_code;

typedef struct oc_error oc_error;

OC_API int oc_error_code_of(const oc_error *error);
OC_API const char *oc_error_message(const oc_error *error);
OC_API void oc_error_free(oc_error *error);
/* A short constant name for a code, e.g. "not found". */
OC_API const char *oc_strerror(int code);

/* Frees memory the library handed out (oc_files_read() data). */
OC_API void oc_free(void *ptr);

typedef void (*oc_destroy_notify)(void *user_data);

/* ---- logging: silent unless a handler is set ---- */

typedef enum {
    OC_LOG_ERROR = 1,
    OC_LOG_WARNING = 2,
    OC_LOG_INFO = 3,
    OC_LOG_DEBUG = 4,
} oc_log_level;

typedef void (*oc_log_fn)(int level, const char *message, void *user_data);
/* Process-wide.  The handler may be called from any thread. */
OC_API void oc_set_log_handler(oc_log_fn fn, void *user_data, oc_destroy_notify destroy);

/* ---- context: one libvirt connection and an event thread ---- */

typedef struct oc_context oc_context;

#define OC_DEFAULT_POOL_MEMORY_MB 2048

typedef struct {
    uint32_t version;
    const char *uri;       /* libvirt URI; NULL: qemu:///system */
    const char *state_dir; /* NULL: $OC_STATE_DIR or /var/lib/opencomputer */
    /* version 2: the warm pool (see "warm pool" below) */
    uint32_t pool_size;                /* ready sandboxes kept per pooled template; 0: none */
    uint32_t pool_memory_mb;           /* memory the pool may hold; 0: OC_DEFAULT_POOL_MEMORY_MB */
    const char *const *pool_templates; /* NULL-terminated; NULL: { "base" } */
    /* version 3 */
    uint32_t flags;                    /* OC_CONTEXT_* below, or'ed */
} oc_context_options;

/* Refuse to work without hardware virtualization: oc_context_new() fails with
 * OC_EUNSUPPORTED on a host without a usable /dev/kvm, instead of running
 * sandboxes under TCG emulation, which is not a security boundary. */
#define OC_CONTEXT_REQUIRE_KVM (1u << 0)

#define OC_CONTEXT_OPTIONS_VERSION 3
#define OC_CONTEXT_OPTIONS_INIT { OC_CONTEXT_OPTIONS_VERSION, NULL, NULL, 0, 0, NULL, 0 }
/* Fills opts with the defaults of that version (1 to OC_CONTEXT_OPTIONS_VERSION),
 * writing only the fields that version has. */
OC_API int oc_context_options_init(oc_context_options *opts, uint32_t version);

OC_API int oc_context_new(oc_context **out, const oc_context_options *opts, oc_error **error);
OC_API oc_context *oc_context_ref(oc_context *ctx);
OC_API oc_context *oc_context_unref(oc_context *ctx);
/* "kvm" or "tcg": what new sandboxes on this host will use.  Under TCG every
 * create and fork also logs a warning that TCG is not a security boundary. */
OC_API const char *oc_context_accelerator(oc_context *ctx);

/* ---- sandboxes ---- */

typedef struct oc_sandbox oc_sandbox;

typedef enum {
    OC_STATE_RUNNING = 1,
    OC_STATE_HIBERNATED = 2,
    OC_STATE_STOPPED = 3,
    OC_STATE_ERROR = 4,
} oc_sandbox_state;

/* "running", "hibernated", "stopped" or "error". */
OC_API const char *oc_sandbox_state_name(int state);

#define OC_TIMEOUT_DEFAULT (-1)
#define OC_DEFAULT_IDLE_TIMEOUT_S 300
#define OC_DEFAULT_CPU_COUNT 1
#define OC_DEFAULT_MEMORY_MB 512
#define OC_MAX_CPU_COUNT 4
#define OC_MIN_MEMORY_MB 128
#define OC_MAX_MEMORY_MB 2048

/* A sandbox's egress policy: which destinations its guest may connect or
 * send to, enforced by the host kernel on the sandbox's QEMU process, so
 * root in the guest cannot lift it (docs/network.md says how).
 *
 * Entries: "A.B.C.D", "A.B.C.D/N" or a host name, each optionally followed
 * by ":PORT" (without one: every port).  A name is resolved on the host
 * (IPv4 addresses) when the policy is set and again at every wake and
 * restart, not per connection.  "10.0.2.2", the guest's gateway, stands for
 * the host's loopback.  allow_out entries are always allowed; deny_out
 * entries are denied; what neither names is denied if block_all is set or
 * allow_out has entries, allowed otherwise.  The most specific entry that
 * matches decides (one with the port before one without; an allow beats a
 * deny of the same destination).  Under allow_out without block_all, DNS
 * (port 53 of the host's nameservers) stays open.  A policy that
 * restricts anything also denies all IPv6, ICMP and raw sockets.
 *
 * Enforcing one needs root on the host, a cgroup v2 mount and cgroup BPF:
 * where they are missing, setting a policy that restricts anything fails
 * with OC_EUNSUPPORTED, and sandboxes without one are unaffected. */
typedef struct {
    uint32_t version;
    const char *const *allow_out; /* NULL-terminated entries; NULL: none */
    const char *const *deny_out;  /* NULL-terminated entries; NULL: none */
    int block_all;                /* non-zero: deny what allow_out does not name */
} oc_network_policy;

#define OC_NETWORK_POLICY_VERSION 1
#define OC_NETWORK_POLICY_INIT { OC_NETWORK_POLICY_VERSION, NULL, NULL, 0 }
OC_API int oc_network_policy_init(oc_network_policy *policy, uint32_t version);

typedef struct {
    uint32_t version;
    const char *template_name;   /* NULL: "base" */
    int64_t timeout_s;           /* idle timeout; OC_TIMEOUT_DEFAULT: 300; 0: never */
    uint32_t cpu_count;          /* 1..4; INIT sets OC_DEFAULT_CPU_COUNT */
    uint32_t memory_mb;          /* 128..2048; INIT sets OC_DEFAULT_MEMORY_MB */
    const char *const *envs;     /* NULL-terminated "KEY=VALUE"; set for every exec, over
                                  * the template's ENV (a built template's) */
    const char *const *metadata; /* NULL-terminated "KEY=VALUE"; stored with the sandbox */
    /* version 2 */
    const oc_network_policy *network; /* egress policy; NULL: none */
} oc_sandbox_options;

#define OC_SANDBOX_OPTIONS_VERSION 2
#define OC_SANDBOX_OPTIONS_INIT                                                              \
    { OC_SANDBOX_OPTIONS_VERSION, NULL, OC_TIMEOUT_DEFAULT, OC_DEFAULT_CPU_COUNT,          \
      OC_DEFAULT_MEMORY_MB, NULL, NULL, NULL }
/* Fills opts with the defaults of that version (1 to OC_SANDBOX_OPTIONS_VERSION),
 * writing only the fields that version has. */
OC_API int oc_sandbox_options_init(oc_sandbox_options *opts, uint32_t version);

/* Creates and boots a sandbox; returns once its agent answers.  opts may be
 * NULL for the defaults.  If the calling process dies midway, the sandbox is
 * removed by the next process that lists or connects. */
OC_API int oc_sandbox_create(oc_sandbox **out, oc_context *ctx, const oc_sandbox_options *opts,
                             oc_error **error);
/* Opens a handle on an existing sandbox, from any process. */
OC_API int oc_sandbox_connect(oc_sandbox **out, oc_context *ctx, const char *id, oc_error **error);
OC_API oc_sandbox *oc_sandbox_ref(oc_sandbox *sb);
OC_API oc_sandbox *oc_sandbox_unref(oc_sandbox *sb);
OC_API const char *oc_sandbox_id(const oc_sandbox *sb);

/* Stops the VM and deletes the sandbox and its disk.  Killing a sandbox that
 * is already gone is OC_ENOTFOUND. */
OC_API int oc_sandbox_kill(oc_sandbox *sb, uint32_t flags, oc_error **error);
/* *out is an oc_sandbox_state. */
OC_API int oc_sandbox_status(oc_sandbox *sb, int *out, oc_error **error);
OC_API int oc_sandbox_is_running(oc_sandbox *sb, int *out, oc_error **error);
/* Sets the idle timeout in seconds (0: never) and restarts the idle clock. */
OC_API int oc_sandbox_set_timeout(oc_sandbox *sb, uint32_t timeout_s, uint32_t flags, oc_error **error);
/* Replaces the sandbox's egress policy (NULL, or one with no entries and no
 * block_all: none), whether it runs or is hibernated; from any process.
 * New connections of the guest follow it at once, connections already open
 * stay.  A bad entry is OC_EINVAL naming it (a name that does not resolve
 * too), and nothing changes. */
OC_API int oc_sandbox_set_network(oc_sandbox *sb, const oc_network_policy *policy, uint32_t flags,
                                  oc_error **error);

/* ---- ports ----
 *
 * A TCP port of the guest reached from the host: a listener on the host's
 * loopback, served by this process, whose every connection becomes a
 * connection to the port on the guest's own loopback (127.0.0.1, then ::1),
 * carried by the agent (docs/network.md).  The host port stays the same
 * across hibernate and wake, and a connection to a hibernated sandbox wakes
 * it.  A port stays open until it is unexposed, the sandbox is killed, or
 * the handle sb is released (its last oc_sandbox_unref()). */

/* Exposes guest_port (1 to 65535) at 127.0.0.1:host_port (0: any free
 * port).  *host_out (nullable; free with oc_free()) receives "127.0.0.1:N".
 * Exposing the same guest port again returns the same address; OC_EEXISTS
 * when host_port is taken. */
OC_API int oc_sandbox_expose_port(oc_sandbox *sb, uint16_t guest_port, uint16_t host_port,
                                  uint32_t flags, char **host_out, oc_error **error);
/* Closes the listener and every connection through it.  OC_ENOTFOUND when
 * the port is not exposed through this handle. */
OC_API int oc_sandbox_unexpose_port(oc_sandbox *sb, uint16_t guest_port, uint32_t flags,
                                    oc_error **error);

/* ---- hibernate and wake ----
 *
 * A hibernated sandbox has no QEMU process: its memory is in a libvirt
 * managed save image, its disk stays as it was.  exec, files and pty calls
 * on a hibernated sandbox wake it first; connect, status and info do not. */

/* How a wake brought the sandbox back. */
typedef enum {
    OC_WAKE_NONE = 0,      /* it was already running */
    OC_WAKE_RESTORED = 1,  /* from the save image: processes and memory as they were */
    OC_WAKE_COLD_BOOT = 2, /* booted from its disk: the image was missing, damaged or
                            * unusable, or the sandbox was stopped; synced files remain */
} oc_wake_kind;

/* "running" (none), "restored" or "cold-boot". */
OC_API const char *oc_wake_kind_name(int kind);

/* Saves the sandbox's memory and stops its VM.  Returns once the save image
 * and its directory are on disk (fsync).  Calls in flight on the sandbox
 * fail; the idle reaper instead skips sandboxes with calls in flight.
 * OC_ESTATE if the sandbox is not running. */
OC_API int oc_sandbox_hibernate(oc_sandbox *sb, uint32_t flags, oc_error **error);

/* Restarts the sandbox's guest from its disk and returns once its agent
 * answers, for a wedged guest: processes, sessions and memory are gone;
 * the disk, id, network policy, exposed ports and settings stay.  A soft
 * reboot first syncs the guest's writes (briefly, best effort: as `reboot`
 * inside it would); OC_REBOOT_HARD (a power cycle) does not wait on the
 * guest at all, for a VM that does not answer, and also boots a hibernated
 * sandbox from its disk, dropping its saved memory.  Both run the guest in
 * a new VM process.  A soft reboot of a sandbox that is not running is
 * OC_ESTATE.  The idle clock restarts. */
#define OC_REBOOT_HARD (1u << 0)
OC_API int oc_sandbox_reboot(oc_sandbox *sb, uint32_t flags, oc_error **error);

#define OC_TIMEOUT_KEEP (-1)

typedef struct {
    uint32_t version;
    int64_t timeout_s; /* new idle timeout; OC_TIMEOUT_KEEP: unchanged; 0: never */
} oc_wake_options;

#define OC_WAKE_OPTIONS_VERSION 1
#define OC_WAKE_OPTIONS_INIT { OC_WAKE_OPTIONS_VERSION, OC_TIMEOUT_KEEP }
OC_API int oc_wake_options_init(oc_wake_options *opts, uint32_t version);

/* Brings a hibernated (or stopped) sandbox back and returns once its agent
 * answers, with the guest clock set from the host.  *kind (may be NULL)
 * says how; a running sandbox is left alone (OC_WAKE_NONE).  A sandbox in
 * error because QEMU paused it on a disk error (its host filesystem full)
 * is resumed (OC_WAKE_NONE): free space first, or it pauses again.  opts
 * may be NULL.  The idle clock restarts. */
OC_API int oc_sandbox_wake(oc_sandbox *sb, const oc_wake_options *opts, int *kind,
                           oc_error **error);

/* ---- the idle reaper ----
 *
 * Every call through the library on a sandbox (exec, files, pty) restarts
 * its idle clock.  When a sandbox has been idle for its timeout, the reaper
 * hibernates it (or stops it if hibernating fails).  One reaper per host does
 * the work: others started meanwhile wait on a lock and take over when it
 * goes.  A reaper that starts late handles overdue sandboxes at once.  It
 * looks every OC_REAPER_INTERVAL_MS, so a sandbox hibernates at most that
 * much (plus the time hibernating takes) after its deadline. */

#define OC_REAPER_INTERVAL_MS 1000

typedef struct oc_reaper oc_reaper;

/* Starts a reaper thread in this process. */
OC_API int oc_reaper_start(oc_reaper **out, oc_context *ctx, uint32_t flags, oc_error **error);
/* 1 if this reaper holds the host's reaper lock (it is the one working). */
OC_API int oc_reaper_is_active(oc_reaper *reaper);
/* Stops the thread (waiting for a hibernate in progress) and frees it. */
OC_API void oc_reaper_stop(oc_reaper *reaper);

/* A snapshot of a sandbox's fields. */
typedef struct oc_sandbox_info oc_sandbox_info;

OC_API int oc_sandbox_info_get(oc_sandbox_info **out, oc_sandbox *sb, oc_error **error);
OC_API void oc_sandbox_info_free(oc_sandbox_info *info);
OC_API const char *oc_sandbox_info_id(const oc_sandbox_info *info);
OC_API const char *oc_sandbox_info_template(const oc_sandbox_info *info);
OC_API int oc_sandbox_info_state(const oc_sandbox_info *info);
OC_API int64_t oc_sandbox_info_created(const oc_sandbox_info *info); /* unix seconds */
OC_API const char *oc_sandbox_info_accelerator(const oc_sandbox_info *info); /* "kvm"/"tcg" */
OC_API uint32_t oc_sandbox_info_cpu_count(const oc_sandbox_info *info);
OC_API uint32_t oc_sandbox_info_memory_mb(const oc_sandbox_info *info);
OC_API uint32_t oc_sandbox_info_timeout(const oc_sandbox_info *info);
/* oc_wake_kind of the last wake (OC_WAKE_NONE if never woken). */
OC_API int oc_sandbox_info_last_wake(const oc_sandbox_info *info);
/* When the idle timeout expires if nothing happens (unix seconds); 0 if the
 * timeout is 0 or the sandbox is not running. */
OC_API int64_t oc_sandbox_info_idle_deadline(const oc_sandbox_info *info);
OC_API size_t oc_sandbox_info_metadata_count(const oc_sandbox_info *info);
/* Returns the key; *value receives the value. */
OC_API const char *oc_sandbox_info_metadata_at(const oc_sandbox_info *info, size_t i, const char **value);
OC_API const char *oc_sandbox_info_metadata_get(const oc_sandbox_info *info, const char *key);
OC_API size_t oc_sandbox_info_env_count(const oc_sandbox_info *info);
OC_API const char *oc_sandbox_info_env_at(const oc_sandbox_info *info, size_t i, const char **value);
/* How the sandbox was made: "boot" (cold boot), "snapshot" (from its
 * template's ready snapshot), "pool" (claimed from the warm pool) or
 * "checkpoint" (a fork of oc_sandbox_info_checkpoint()). */
OC_API const char *oc_sandbox_info_origin(const oc_sandbox_info *info);
/* The checkpoint the sandbox was forked or last restored from, or NULL. */
OC_API const char *oc_sandbox_info_checkpoint(const oc_sandbox_info *info);
/* Why the sandbox is in its state, with what to do, when the state alone
 * does not say: e.g. a stopped sandbox whose QEMU process was killed, or
 * one in error after a disk error or a guest crash.  NULL otherwise. */
OC_API const char *oc_sandbox_info_reason(const oc_sandbox_info *info);
/* The egress policy as set (see oc_network_policy): block_all (0 or 1),
 * and the allow_out and deny_out entries. */
OC_API int oc_sandbox_info_block_all(const oc_sandbox_info *info);
OC_API size_t oc_sandbox_info_allow_out_count(const oc_sandbox_info *info);
OC_API const char *oc_sandbox_info_allow_out_at(const oc_sandbox_info *info, size_t i);
OC_API size_t oc_sandbox_info_deny_out_count(const oc_sandbox_info *info);
OC_API const char *oc_sandbox_info_deny_out_at(const oc_sandbox_info *info, size_t i);

typedef struct oc_sandbox_list oc_sandbox_list;

/* Lists sandboxes.  metadata_filter: NULL-terminated "KEY=VALUE"; a sandbox
 * is listed only if it has every pair. */
OC_API int oc_sandbox_list_get(oc_sandbox_list **out, oc_context *ctx,
                               const char *const *metadata_filter, uint32_t flags, oc_error **error);
OC_API size_t oc_sandbox_list_count(const oc_sandbox_list *list);
OC_API const oc_sandbox_info *oc_sandbox_list_at(const oc_sandbox_list *list, size_t i);
OC_API void oc_sandbox_list_free(oc_sandbox_list *list);

/* ---- checkpoints and forks ----
 *
 * A checkpoint captures a running sandbox's memory, CPU and disk state; the
 * sandbox goes on after a pause of about one save.  It lives in the state
 * directory (checkpoints/ID/) on its own: killing its sandbox keeps it.
 * A fork is a new sandbox that resumes from a checkpoint's memory, so the
 * processes that ran at checkpoint time run on in it, with a disk of its
 * own (a qcow2 overlay on the checkpoint's frozen disk).  Every fork and
 * restore reseeds the guest's RNG and sets its hostname to its sandbox id.
 * A fork has the cpu count and memory of the checkpoint. */

typedef struct oc_checkpoint oc_checkpoint;

/* Checkpoints the sandbox (waking it if hibernated).  name: a label of 1 to
 * 128 printable characters, not unique.  Returns once the memory image and
 * the frozen disk are on disk (fsync). */
OC_API int oc_checkpoint_create(oc_checkpoint **out, oc_sandbox *sb, const char *name,
                                uint32_t flags, oc_error **error);
OC_API int oc_checkpoint_get(oc_checkpoint **out, oc_context *ctx, const char *id,
                             oc_error **error);
OC_API void oc_checkpoint_free(oc_checkpoint *cp);
OC_API const char *oc_checkpoint_id(const oc_checkpoint *cp);          /* "cp-..." */
OC_API const char *oc_checkpoint_name(const oc_checkpoint *cp);
OC_API const char *oc_checkpoint_sandbox_id(const oc_checkpoint *cp);  /* taken of */
OC_API const char *oc_checkpoint_template(const oc_checkpoint *cp);
OC_API int64_t oc_checkpoint_created_at(const oc_checkpoint *cp);      /* unix seconds */
OC_API uint64_t oc_checkpoint_size_bytes(const oc_checkpoint *cp);     /* memory + disk */
OC_API uint32_t oc_checkpoint_cpu_count(const oc_checkpoint *cp);
OC_API uint32_t oc_checkpoint_memory_mb(const oc_checkpoint *cp);

typedef struct oc_checkpoint_list oc_checkpoint_list;

/* Lists checkpoints, oldest first; sandbox_id: only those taken of that
 * sandbox (NULL: all). */
OC_API int oc_checkpoint_list_get(oc_checkpoint_list **out, oc_context *ctx,
                                  const char *sandbox_id, uint32_t flags, oc_error **error);
OC_API size_t oc_checkpoint_list_count(const oc_checkpoint_list *list);
OC_API const oc_checkpoint *oc_checkpoint_list_at(const oc_checkpoint_list *list, size_t i);
OC_API void oc_checkpoint_list_free(oc_checkpoint_list *list);

/* Deletes a checkpoint: it is gone from lists at once and cannot be forked
 * or restored again; its memory image is freed.  Its frozen disk is kept
 * while a sandbox or another checkpoint builds on it, and removed with the
 * last of them. */
OC_API int oc_checkpoint_delete(oc_context *ctx, const char *id, uint32_t flags,
                                oc_error **error);

/* Reverts the sandbox in place to the checkpoint (any checkpoint with the
 * sandbox's cpu count and memory): its memory, processes and disk become
 * the checkpoint's; the id, envs, metadata and timeout stay.  Calls in
 * flight fail. */
OC_API int oc_sandbox_restore_checkpoint(oc_sandbox *sb, const char *checkpoint_id,
                                         uint32_t flags, oc_error **error);

#define OC_MAX_FORK_COUNT 64

typedef struct {
    uint32_t version;
    int64_t timeout_s;           /* OC_TIMEOUT_DEFAULT: 300; 0: never */
    const char *const *envs;     /* as in oc_sandbox_options */
    const char *const *metadata;
    uint32_t count;              /* oc_sandbox_fork(): how many; 0 means 1 */
    /* version 2 */
    const oc_network_policy *network; /* egress policy of each fork; NULL: the policy the
                                       * checkpointed sandbox had (a fork is a copy);
                                       * OC_NETWORK_POLICY_INIT: none */
} oc_fork_options;

#define OC_FORK_OPTIONS_VERSION 2
#define OC_FORK_OPTIONS_INIT { OC_FORK_OPTIONS_VERSION, OC_TIMEOUT_DEFAULT, NULL, NULL, 1, NULL }
/* Fills opts with the defaults of that version (1 to OC_FORK_OPTIONS_VERSION),
 * writing only the fields that version has. */
OC_API int oc_fork_options_init(oc_fork_options *opts, uint32_t version);

/* Creates one sandbox from a checkpoint; opts->count must be 0 or 1. */
OC_API int oc_sandbox_create_from_checkpoint(oc_sandbox **out, oc_context *ctx,
                                             const char *checkpoint_id,
                                             const oc_fork_options *opts, oc_error **error);
/* Creates opts->count sandboxes from a checkpoint at once.  All or none: if
 * one fails, those made are killed.  *out receives an array of count
 * handles; unref each, then oc_free() the array. */
OC_API int oc_sandbox_fork(oc_sandbox ***out, oc_context *ctx, const char *checkpoint_id,
                           const oc_fork_options *opts, oc_error **error);

/* ---- template snapshots and the warm pool ----
 *
 * A template's ready snapshot is a checkpoint of a sandbox booted from it
 * with the default cpu count and memory, taken once its agent answered.
 * oc_sandbox_create() with those sizes forks it instead of booting, and
 * boots when it is missing or stale (the template, kernel, initramfs with
 * the agent, QEMU or libvirt changed since).
 *
 * With pool_size > 0 in oc_context_options, the context keeps that many
 * sandboxes ready per pooled template (forks of the ready snapshot), refilled
 * in the background within pool_memory_mb.  oc_sandbox_create() with the
 * default sizes claims one, gives it the requested envs, metadata and
 * timeout, and returns.  Pool members are hidden from lists until claimed;
 * any process's create can claim them; the context kills those it made
 * when it is freed. */

/* Builds the template's ready snapshot if it is missing or stale (a cold
 * boot and a save); does nothing when it is fresh.  *built (nullable): 1 if
 * it built one. */
OC_API int oc_template_prepare(oc_context *ctx, const char *template_name, uint32_t flags,
                               int *built, oc_error **error);
/* *ready: 1 if the template has a fresh ready snapshot. */
OC_API int oc_template_snapshot_ready(oc_context *ctx, const char *template_name, int *ready,
                                      oc_error **error);
/* *ready: unclaimed pool sandboxes of the template on this host (from any
 * process); *target: how many this context keeps (0 without a pool). */
OC_API int oc_pool_status(oc_context *ctx, const char *template_name, uint32_t *ready,
                          uint32_t *target, oc_error **error);
/* Kills the template's unclaimed pool sandboxes on this host (those a
 * process that died left behind, say); *killed (nullable) counts them.
 * A context that keeps a pool refills it afterwards. */
OC_API int oc_pool_drain(oc_context *ctx, const char *template_name, uint32_t *killed,
                         oc_error **error);

/* ---- templates ---- */

typedef struct oc_template_info oc_template_info;

OC_API int oc_template_get(oc_template_info **out, oc_context *ctx, const char *name,
                           oc_error **error);
OC_API void oc_template_info_free(oc_template_info *t);
OC_API const char *oc_template_info_name(const oc_template_info *t);
/* The template it was built from; NULL for one built from a root filesystem. */
OC_API const char *oc_template_info_parent(const oc_template_info *t);
OC_API int64_t oc_template_info_created_at(const oc_template_info *t); /* unix seconds */
OC_API uint64_t oc_template_info_size_bytes(const oc_template_info *t); /* its disk's size */
/* What its own files (disk versions, ready snapshot) take on the host. */
OC_API uint64_t oc_template_info_disk_bytes(const oc_template_info *t);
/* How it was built from its parent, a line a step (NULL-terminated; empty
 * when it has no parent). */
OC_API const char *const *oc_template_info_steps(const oc_template_info *t);
/* What its sandboxes' execs get by default (a built template's ENV, WORKDIR
 * and USER): "K=V" strings (NULL-terminated, possibly empty), and the
 * directory and user, NULL when none was set. */
OC_API const char *const *oc_template_info_env(const oc_template_info *t);
OC_API const char *oc_template_info_workdir(const oc_template_info *t);
OC_API const char *oc_template_info_user(const oc_template_info *t);
/* The agent program and its arguments its sandboxes' agent sessions run by
 * default (OC_BUILD_STEP_AGENT); NULL: OC_AGENT_DEFAULT_PROGRAM. */
OC_API const char *const *oc_template_info_agent(const oc_template_info *t);

typedef struct oc_template_list oc_template_list;

/* Lists the templates of this host, by name. */
OC_API int oc_template_list_get(oc_template_list **out, oc_context *ctx, uint32_t flags,
                                oc_error **error);
OC_API size_t oc_template_list_count(const oc_template_list *list);
OC_API const oc_template_info *oc_template_list_at(const oc_template_list *list, size_t i);
OC_API void oc_template_list_free(oc_template_list *list);

/* Deletes a template: its disk versions and ready snapshot.  Refused with
 * OC_ESTATE, naming them, while sandboxes, checkpoints or other templates
 * build on it.  When its unclaimed warm pool sandboxes are the only users,
 * they are killed with it. */
OC_API int oc_template_delete(oc_context *ctx, const char *name, uint32_t flags,
                              oc_error **error);

/* ---- building templates ----
 *
 * A template is built from a parent template and ordered steps, given as a
 * Dockerfile (FROM, RUN, COPY, ENV, WORKDIR, USER, ARG, and LABEL
 * opencomputer.agent; anything else is an error naming the line) or as an array of oc_build_step.  The steps run in
 * a hidden sandbox booted from the parent; after each step that changes the
 * disk, the disk is kept as a cached layer keyed by the content of the
 * parent, the steps so far and the bytes they copy.  A rebuild runs only
 * the steps from the first one that changed; an unchanged rebuild boots
 * nothing.  The new template's ENV, WORKDIR and USER become the defaults of
 * sandboxes created from it (exec's cwd and user, and envs under the
 * caller's), and its agent program that of their agent sessions.  All four
 * are inherited from the parent unless a step sets them. */

typedef enum {
    OC_BUILD_STEP_RUN = 1,     /* args: { command line } run by /bin/sh -c, or the argv
                                * with OC_BUILD_STEP_EXEC_FORM */
    OC_BUILD_STEP_APT = 2,     /* args: Debian package names (NAME or NAME=VERSION):
                                * apt-get update, apt-get install -y
                                * --no-install-recommends, as root; the package lists
                                * and .debs are removed after (list packages in one
                                * step: each step updates again) */
    OC_BUILD_STEP_COPY = 3,    /* args: sources relative to context_dir ..., destination
                                * (relative: under WORKDIR; a directory if it ends
                                * in '/', or for several sources or a directory) */
    OC_BUILD_STEP_ENV = 4,     /* args: { KEY, VALUE } */
    OC_BUILD_STEP_WORKDIR = 5, /* args: { absolute path }, created if missing */
    OC_BUILD_STEP_USER = 6,    /* args: { USER[:GROUP] } (names or numbers) that later
                                * RUN steps and the template's sandboxes run as */
    OC_BUILD_STEP_AGENT = 7,   /* args: { absolute path of a program in the image,
                                * its arguments... }: what oc_agent_start() runs
                                * when not told (Dockerfile: LABEL
                                * opencomputer.agent='["/path", "arg"]') */
} oc_build_step_kind;

/* RUN: args are the program and its arguments, run without a shell. */
#define OC_BUILD_STEP_EXEC_FORM (1u << 0)

typedef struct {
    uint32_t kind;             /* oc_build_step_kind */
    const char *const *args;   /* NULL-terminated, as the kind says */
    const char *chown;         /* COPY: USER[:GROUP] of what is copied; NULL: root */
    uint32_t chmod;            /* COPY: permission bits of what is copied; 0: the sources' */
    uint32_t flags;            /* OC_BUILD_STEP_* */
} oc_build_step;

/* A line of the build's log: "[3/7] RUN make", the step's output lines,
 * "[2/7] COPY app /app (cached)" for a step whose layer was cached, and
 * the build's progress.  Called on the calling thread, during the call. */
typedef void (*oc_build_log_fn)(const char *line, void *user_data);

#define OC_BUILD_DEFAULT_STEP_TIMEOUT_S 3600

typedef struct {
    uint32_t version;
    const char *dockerfile;          /* Dockerfile text; NULL: parent and steps below */
    const char *context_dir;         /* where COPY sources are; NULL: nothing is copied */
    const char *const *build_args;   /* NULL-terminated "K=V" for the Dockerfile's ARGs */
    const char *parent;              /* without a Dockerfile: the template to build on;
                                      * NULL: "base" */
    const oc_build_step *steps;      /* without a Dockerfile: the steps, in order */
    size_t step_count;
    uint32_t cpu_count;              /* of the build sandbox; INIT: OC_DEFAULT_CPU_COUNT */
    uint32_t memory_mb;              /* INIT: OC_DEFAULT_MEMORY_MB */
    uint32_t step_timeout_s;         /* per RUN or APT step; 0: none; INIT: 3600 */
    oc_build_log_fn log;             /* NULL: no log */
    void *log_user_data;
} oc_template_build_options;

#define OC_TEMPLATE_BUILD_OPTIONS_VERSION 1
#define OC_TEMPLATE_BUILD_OPTIONS_INIT                                                       \
    { OC_TEMPLATE_BUILD_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 0,                     \
      OC_DEFAULT_CPU_COUNT, OC_DEFAULT_MEMORY_MB, OC_BUILD_DEFAULT_STEP_TIMEOUT_S, NULL, NULL }
OC_API int oc_template_build_options_init(oc_template_build_options *opts, uint32_t version);

/* Builds template name ([a-z0-9][a-z0-9._-]{0,63}), or a new version of it
 * if it exists (sandboxes keep the version they were made from).  The name
 * and every step are checked before anything starts (OC_EINVAL naming the
 * step or Dockerfile line).  A failing step ends the build with an error
 * naming the step, its exit code and its last lines of output, and leaves
 * no template, sandbox or unfinished layer behind.  Blocks for the whole
 * build (minutes under TCG); one build at a time runs per state directory,
 * others wait. */
OC_API int oc_template_build(oc_context *ctx, const char *name,
                             const oc_template_build_options *opts, oc_error **error);

/* ---- exec ---- */

#define OC_EXEC_DEFAULT_TIMEOUT_MS 60000
/* Output beyond this per stream is dropped and the result says so. */
#define OC_EXEC_DEFAULT_MAX_OUTPUT (32u * 1024u * 1024u)
#define OC_EXEC_MAX_OUTPUT_LIMIT (1024u * 1024u * 1024u)

typedef struct {
    uint32_t version;
    const char *const *args;   /* NULL-terminated; if set, run command with these
                                  arguments directly, without a shell */
    const char *const *envs;   /* NULL-terminated "KEY=VALUE"; override the sandbox's */
    const char *cwd;           /* NULL: the template's WORKDIR, else the user's home
                                  (/root) */
    int64_t timeout_ms;        /* OC_TIMEOUT_DEFAULT: 60 s; 0: none */
    const void *stdin_data;    /* NULL: stdin is /dev/null */
    size_t stdin_len;
    size_t max_output;         /* per stream; 0: OC_EXEC_DEFAULT_MAX_OUTPUT */
    /* version 2 */
    const char *user;          /* USER[:GROUP] (names from the guest's /etc/passwd and
                                  /etc/group, or numbers) to run as; NULL: the
                                  template's USER, else root */
} oc_exec_options;

#define OC_EXEC_OPTIONS_VERSION 2
#define OC_EXEC_OPTIONS_INIT                                                               \
    { OC_EXEC_OPTIONS_VERSION, NULL, NULL, NULL, OC_TIMEOUT_DEFAULT, NULL, 0, 0, NULL }
/* Fills opts with the defaults of that version (1 to OC_EXEC_OPTIONS_VERSION),
 * writing only the fields that version has. */
OC_API int oc_exec_options_init(oc_exec_options *opts, uint32_t version);

typedef struct oc_exec_result oc_exec_result;

/* Runs a command to completion.  Without args, command runs under
 * /bin/sh -c.  A command that exits non-zero, is not found (127) or times
 * out is still a success of this call: look at the result. */
OC_API int oc_exec_run(oc_exec_result **out, oc_sandbox *sb, const char *command,
                       const oc_exec_options *opts, oc_error **error);
OC_API int oc_exec_result_exit_code(const oc_exec_result *r);
OC_API int oc_exec_result_signal(const oc_exec_result *r);      /* 0 if it exited */
OC_API int oc_exec_result_timed_out(const oc_exec_result *r);
/* NUL-terminated for convenience; *len (nullable) gets the byte count. */
OC_API const char *oc_exec_result_stdout(const oc_exec_result *r, size_t *len);
OC_API const char *oc_exec_result_stderr(const oc_exec_result *r, size_t *len);
OC_API int oc_exec_result_stdout_truncated(const oc_exec_result *r);
OC_API int oc_exec_result_stderr_truncated(const oc_exec_result *r);
OC_API uint64_t oc_exec_result_duration_us(const oc_exec_result *r);
OC_API void oc_exec_result_free(oc_exec_result *r);

/* ---- background exec sessions ----
 *
 * A session runs a command in the background: it keeps running when the
 * process that started it goes away, and across hibernate and wake.  The
 * agent keeps the last OC_EXEC_SESSION_SCROLLBACK bytes of its stdout and of
 * its stderr (older output is dropped; the process never blocks on output).
 * oc_exec_attach() follows that output (below).  A
 * sandbox has at most OC_EXEC_MAX_SESSIONS; exited ones are forgotten,
 * oldest first, when room is needed. */

#define OC_EXEC_SESSION_SCROLLBACK (1024u * 1024u)
#define OC_EXEC_MAX_SESSIONS 64

/* Starts command (or opts->args, as for oc_exec_run()) as a session and
 * returns at once; *session_id receives its id.  Like oc_exec_list() and
 * oc_exec_kill(), it fails with OC_ETIMEOUT when the agent has sent nothing
 * on it for 60 s.  opts->timeout_ms defaults
 * to none here; stdin_data and max_output must be unset. */
OC_API int oc_exec_start(uint32_t *session_id, oc_sandbox *sb, const char *command,
                         const oc_exec_options *opts, oc_error **error);

typedef struct oc_exec_session_info oc_exec_session_info;
typedef struct oc_exec_session_list oc_exec_session_list;

/* Lists the sandbox's sessions, running and exited. */
OC_API int oc_exec_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags,
                        oc_error **error);
OC_API size_t oc_exec_session_list_count(const oc_exec_session_list *list);
OC_API const oc_exec_session_info *oc_exec_session_list_at(const oc_exec_session_list *list,
                                                           size_t i);
OC_API void oc_exec_session_list_free(oc_exec_session_list *list);
OC_API uint32_t oc_exec_session_info_id(const oc_exec_session_info *si);
OC_API uint32_t oc_exec_session_info_pid(const oc_exec_session_info *si); /* 0: not runnable */
OC_API int oc_exec_session_info_running(const oc_exec_session_info *si);
/* Once it is not running: the exit status (128+signal if killed), and the
 * signal that ended it (0 if none). */
OC_API int oc_exec_session_info_exit_code(const oc_exec_session_info *si);
OC_API int oc_exec_session_info_signal(const oc_exec_session_info *si);
OC_API int64_t oc_exec_session_info_started_at_ms(const oc_exec_session_info *si);
/* The command line, or the argv joined by spaces. */
OC_API const char *oc_exec_session_info_command(const oc_exec_session_info *si);

/* Sends signal (0: SIGKILL) to the session's process group.  OC_ENOTFOUND
 * if the sandbox has no such session. */
OC_API int oc_exec_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error);

/* ---- following a session: attach handles ----
 *
 * A handle follows one session: its output goes to callbacks as it comes,
 * and it takes stdin, signals and (PTY) terminal sizes.  The callbacks run
 * on the handle's own thread, one at a time and in order: first the
 * scrollback (what the session's rings still hold), then on_replay_end,
 * then live output, with nothing missed or repeated at the seam.  on_end is
 * always the last call.  Output is lossless while the callbacks keep up,
 * however slowly: a process that writes faster waits for them, as on a
 * pipe.  A callback that blocks for more than a second while output piles
 * up is taken as a reader that stopped: the process goes on without it, and
 * the handle skips the oldest output (its own gap only, reported to
 * on_gap).
 *
 * A handle holds the sandbox awake: while it is attached the idle clock
 * does not run out.  It ends when the process exits, when it is detached,
 * or when the connection is lost (the sandbox was hibernated or killed):
 * the session itself goes on, so attach again after a wake. */

typedef struct oc_exec_handle oc_exec_handle;

typedef struct {
    uint32_t version;
    /* Output of the process (for a PTY: the terminal's output, all on
     * on_stdout).  data is only valid during the call.  NULL: dropped. */
    void (*on_stdout)(const char *data, size_t len, void *user_data);
    void (*on_stderr)(const char *data, size_t len, void *user_data);
    /* The scrollback has been delivered; what follows is live. */
    void (*on_replay_end)(void *user_data);
    /* The last call.  status: OC_OK when the process exited, with its
     * exit_code (128+signal if a signal ended it); OC_ECANCELLED after
     * oc_exec_detach(); another OC_E* code when the connection was lost, with
     * exit_code -1. */
    void (*on_end)(int status, int exit_code, void *user_data);
    void *user_data;
    /* `bytes` of stream 1 (stdout) or 2 (stderr) will not come: the
     * scrollback no longer held them when the handle attached (more than
     * OC_EXEC_SESSION_SCROLLBACK came before), or the handle stopped taking
     * output (a callback blocked) while more than that came.  Called just
     * before the output that follows the gap; received plus skipped bytes
     * are all the process wrote.  NULL: gaps pass silently. */
    void (*on_gap)(int stream, uint64_t bytes, void *user_data);
} oc_exec_callbacks;

#define OC_EXEC_CALLBACKS_VERSION 1

/* Attaches to a session of sb.  OC_ENOTFOUND if there is no such session.
 * callbacks may be NULL (then only oc_exec_wait() tells the end). */
OC_API int oc_exec_attach(oc_exec_handle **out, oc_sandbox *sb, uint32_t session_id,
                          const oc_exec_callbacks *callbacks, oc_error **error);
/* oc_exec_start() and oc_exec_attach() in one: the callbacks get all of the
 * output from the first byte. */
OC_API int oc_exec_spawn(oc_exec_handle **out, oc_sandbox *sb, const char *command,
                         const oc_exec_options *opts, const oc_exec_callbacks *callbacks,
                         oc_error **error);
OC_API uint32_t oc_exec_handle_session_id(const oc_exec_handle *h);
/* Whether the session runs on a terminal (a PTY session). */
OC_API int oc_exec_handle_is_pty(const oc_exec_handle *h);
/* Writes to the process's stdin; blocks while the sandbox holds
 * OC_EXEC_STDIN_WINDOW bytes the process has not read.  OC_ESTATE once the
 * handle has ended. */
#define OC_EXEC_STDIN_WINDOW (4u * 1024u * 1024u)
OC_API int oc_exec_send_stdin(oc_exec_handle *h, const void *data, size_t len, oc_error **error);
/* Closes the process's stdin (for every attacher).  For a PTY the terminal's
 * end-of-file character (Ctrl-D) is sent instead. */
OC_API int oc_exec_close_stdin(oc_exec_handle *h, oc_error **error);
/* Signals the session's process group (1..64). */
OC_API int oc_exec_signal(oc_exec_handle *h, int signal, oc_error **error);
/* Sets a PTY session's terminal size (1..4096 each); the program gets
 * SIGWINCH.  OC_EINVAL for a session that has no terminal. */
OC_API int oc_exec_resize(oc_exec_handle *h, uint32_t cols, uint32_t rows, oc_error **error);
/* Waits until the handle has ended and its on_end has returned, up to
 * timeout_ms (-1: no limit).  OC_OK with *exit_code (nullable) when the
 * process exited; OC_ETIMEOUT if it has not ended yet; otherwise the end
 * status given to on_end, with its message. */
OC_API int oc_exec_wait(oc_exec_handle *h, int64_t timeout_ms, int *exit_code,
                        oc_error **error);
/* Stops following: the process goes on, and may be attached again.  The
 * handle then ends with OC_ECANCELLED (unless the exit crossed it). */
OC_API void oc_exec_detach(oc_exec_handle *h);
/* Detaches if need be and frees the handle.  May be called from its own
 * callbacks: no callback comes after that one returns.  From any other
 * thread it waits for a callback in progress to return, so it must not be
 * called from a thread that a callback waits for. */
OC_API void oc_exec_handle_free(oc_exec_handle *h);

/* ---- terminals (PTY sessions) ----
 *
 * A PTY session runs a program on a real pseudo-terminal (`tty` prints
 * /dev/pts/N): its output comes to on_stdout, keystrokes go in with
 * oc_exec_send_stdin(), oc_exec_resize() changes its size.  It is a session
 * like any other: listed, killed and re-attached the same way. */

typedef struct {
    uint32_t version;
    uint32_t cols, rows;      /* 0: 80 x 24 */
    const char *shell;        /* NULL: /bin/bash, run as a login shell (-l) */
    const char *const *envs;  /* NULL-terminated "KEY=VALUE"; TERM defaults to
                                 xterm-256color */
    const char *cwd;          /* NULL: /root */
} oc_pty_options;

#define OC_PTY_OPTIONS_VERSION 1
#define OC_PTY_OPTIONS_INIT { OC_PTY_OPTIONS_VERSION, 0, 0, NULL, NULL, NULL }
OC_API int oc_pty_options_init(oc_pty_options *opts, uint32_t version);

/* Starts a terminal session and attaches to it. */
OC_API int oc_pty_create(oc_exec_handle **out, oc_sandbox *sb, const oc_pty_options *opts,
                         const oc_exec_callbacks *callbacks, oc_error **error);

/* ---- stateful shells ----
 *
 * A shell is a session running bash in which commands run one after the
 * other: the working directory, exported variables, functions and aliases
 * persist from one oc_shell_run() to the next.  Each command's stdin is
 * /dev/null.  One command at a time: a second oc_shell_run() while one is
 * running fails at once with OC_ESTATE ("shell busy"), never mixing output. */

typedef struct oc_shell oc_shell;

typedef struct {
    uint32_t version;
    const char *const *envs;  /* NULL-terminated "KEY=VALUE" */
    const char *cwd;          /* NULL: /root */
} oc_shell_options;

#define OC_SHELL_OPTIONS_VERSION 1
#define OC_SHELL_OPTIONS_INIT { OC_SHELL_OPTIONS_VERSION, NULL, NULL }
OC_API int oc_shell_options_init(oc_shell_options *opts, uint32_t version);

OC_API int oc_shell_open(oc_shell **out, oc_sandbox *sb, const oc_shell_options *opts,
                         oc_error **error);
/* Runs command in the shell and returns its stdout, stderr and exit code
 * (each stream up to OC_EXEC_DEFAULT_MAX_OUTPUT; beyond, the result says it
 * was truncated).  timeout_ms: OC_TIMEOUT_DEFAULT (60 s) or 0 (none); on
 * timeout the shell is killed (OC_ETIMEOUT) and further runs fail with
 * OC_ESTATE.  A command that ends the shell (`exit 3`) fails with OC_ESTATE
 * naming the shell's exit code. */
OC_API int oc_shell_run(oc_exec_result **out, oc_shell *sh, const char *command,
                        int64_t timeout_ms, oc_error **error);
OC_API uint32_t oc_shell_session_id(const oc_shell *sh);
/* Ends the shell (kills its session) and frees it.  Not while an
 * oc_shell_run() on it is in progress (from another thread): end that
 * first, e.g. with oc_exec_kill() on oc_shell_session_id(). */
OC_API void oc_shell_close(oc_shell *sh);

/* ---- agent sessions ----
 *
 * An agent session is a background exec session that runs an agent
 * program: a program that prints one JSON object per line on stdout (the
 * events: "ready", "configured", "assistant", "tool_use_summary", "result",
 * "turn_complete", "interrupted", "error", ...) and reads one JSON command
 * per line on stdin ({"type":"prompt","text":...}, {"type":"interrupt"},
 * {"type":"configure",...}).  docs/agent-sessions.md has the protocol.  The
 * default program is the one the sandbox's template names
 * (OC_BUILD_STEP_AGENT, oc_template_info_agent()), else
 * OC_AGENT_DEFAULT_PROGRAM, the reference runner of the base template: a
 * scripted test double for the protocol, not a model.
 *
 * The program runs as `/usr/bin/env OC_AGENT_SESSION=1 PROGRAM ARGS...`,
 * which tags it for oc_agent_list().  Like every session it goes on when
 * its starter goes away and across hibernate and wake; its history is the
 * session's scrollback (the last OC_EXEC_SESSION_SCROLLBACK bytes of its
 * output), which every attach replays before the live events.  A line that
 * is not a JSON object becomes an "error" event carrying the raw text, and
 * the session goes on; a line longer than OC_AGENT_MAX_LINE becomes an
 * "error" event with its start.  Output the history no longer holds is
 * reported by an "error" event with "lost_bytes".  Events made by the
 * library carry "source":"host". */

#define OC_AGENT_DEFAULT_PROGRAM "/usr/local/bin/oc-agent-runner"
#define OC_AGENT_MAX_LINE (1024u * 1024u)
/* What oc_agent_start() puts before the program in the session's command. */
#define OC_AGENT_COMMAND_PREFIX "/usr/bin/env OC_AGENT_SESSION=1 "

typedef struct oc_agent_session oc_agent_session;

typedef struct {
    uint32_t version;
    const char *program;            /* NULL: the template's agent program, else
                                     * OC_AGENT_DEFAULT_PROGRAM */
    const char *const *args;        /* NULL-terminated arguments after it; NULL
                                     * with program NULL: the template's */
    const char *prompt;             /* NULL: none; else the first prompt */
    /* Settings sent as the first command, {"type":"configure",...}, if any
     * is set: "model", "systemPrompt", "maxTurns", "cwd", and the members
     * of config_json (a JSON object, e.g. {"allowedTools":["Bash"]}). */
    const char *model;
    const char *system_prompt;
    uint32_t max_turns;             /* 0: unset */
    const char *cwd;                /* also the program's directory; NULL: /root */
    const char *config_json;
    const char *const *envs;        /* NULL-terminated "KEY=VALUE" */
} oc_agent_options;

#define OC_AGENT_OPTIONS_VERSION 1
#define OC_AGENT_OPTIONS_INIT { OC_AGENT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 0, \
                                NULL, NULL, NULL }
OC_API int oc_agent_options_init(oc_agent_options *opts, uint32_t version);

/* Called on the session handle's own thread, one at a time and in order, as
 * for oc_exec_callbacks: the history, on_replay_end, then live events;
 * on_end last. */
typedef struct {
    uint32_t version;
    /* One event: type is its "type" member ("" if it has none), json the
     * whole line (no newline).  Both valid only during the call. */
    void (*on_event)(const char *type, const char *json, void *user_data);
    /* The program's stderr, raw (its own logs).  NULL: dropped. */
    void (*on_stderr)(const char *data, size_t len, void *user_data);
    void (*on_replay_end)(void *user_data);
    /* As oc_exec_callbacks.on_end: OC_OK with the program's exit code,
     * OC_ECANCELLED after oc_agent_detach(), another code when the
     * connection was lost (hibernate, kill): attach again after a wake.
     * (oc_agent_close() ends the handle without calling it.) */
    void (*on_end)(int status, int exit_code, void *user_data);
    void *user_data;
} oc_agent_callbacks;

#define OC_AGENT_CALLBACKS_VERSION 1

/* Starts an agent session and follows it from its first event; the
 * configure and prompt commands are written before this returns.
 * callbacks may be NULL. */
OC_API int oc_agent_start(oc_agent_session **out, oc_sandbox *sb, const oc_agent_options *opts,
                          const oc_agent_callbacks *callbacks, oc_error **error);
/* Follows an agent session: its history, then live events.  OC_ENOTFOUND
 * if sb has no such session. */
OC_API int oc_agent_attach(oc_agent_session **out, oc_sandbox *sb, uint32_t session_id,
                           const oc_agent_callbacks *callbacks, oc_error **error);
OC_API uint32_t oc_agent_session_id(const oc_agent_session *s);
/* Write {"type":"prompt","text":text}, {"type":"interrupt"} or
 * {"type":"configure", ...members of config_json} to the program's stdin.
 * OC_ESTATE once the handle has ended. */
OC_API int oc_agent_send_prompt(oc_agent_session *s, const char *text, oc_error **error);
OC_API int oc_agent_interrupt(oc_agent_session *s, oc_error **error);
OC_API int oc_agent_configure(oc_agent_session *s, const char *config_json, oc_error **error);
/* As oc_exec_wait(). */
OC_API int oc_agent_wait(oc_agent_session *s, int64_t timeout_ms, int *exit_code,
                         oc_error **error);
/* Stops following without freeing the handle, from any thread (its
 * callbacks included): the program goes on, the handle ends with
 * OC_ECANCELLED (on_end, oc_agent_wait()), after which sending on it fails
 * with OC_ESTATE.  As oc_exec_detach(). */
OC_API void oc_agent_detach(oc_agent_session *s);
/* Stops following and frees the handle; the program goes on.  May be
 * called from its on_end (not from its other callbacks); from any other
 * thread, as oc_exec_handle_free(). */
OC_API void oc_agent_close(oc_agent_session *s);
/* Signals the program's process group (signal 0: SIGKILL). */
OC_API int oc_agent_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error);
/* Lists the sandbox's agent sessions (running and exited), as oc_exec_list()
 * does for all sessions. */
OC_API int oc_agent_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags,
                         oc_error **error);

/* ---- files ---- */

typedef enum {
    OC_FILE_TYPE_FILE = 1,
    OC_FILE_TYPE_DIR = 2,
    OC_FILE_TYPE_SYMLINK = 3,
    OC_FILE_TYPE_OTHER = 4,
} oc_file_type;

/* Every call below fails with OC_ETIMEOUT when the sandbox's agent sends
 * nothing on it for 60 s: a stuck or hostile guest cannot hang the caller.
 * The guest may still complete the operation. */

/* flags for oc_files_remove() */
#define OC_FILES_RECURSIVE (1u << 0)

/* oc_files_read() holds at most this much in memory; a larger file is
 * OC_ELIMIT: stream it with oc_files_read_to_fd(). */
#define OC_FILES_READ_MAX (1024u * 1024u * 1024u)

/* Reads a whole file; free *data with oc_free().  *data is NUL-terminated
 * (not counted in *len). */
OC_API int oc_files_read(oc_sandbox *sb, const char *path, void **data, size_t *len,
                         uint32_t flags, oc_error **error);
/* Creates or replaces a file atomically (mode 0644).  The parent directory
 * must exist. */
OC_API int oc_files_write(oc_sandbox *sb, const char *path, const void *data, size_t len,
                          uint32_t flags, oc_error **error);
/* Streaming forms: copy between a host file descriptor and a guest file. */
OC_API int oc_files_read_to_fd(oc_sandbox *sb, const char *path, int fd, uint32_t flags,
                               oc_error **error);
OC_API int oc_files_write_from_fd(oc_sandbox *sb, const char *path, int fd, uint32_t flags,
                                  oc_error **error);

typedef struct oc_file_info oc_file_info;

OC_API const char *oc_file_info_name(const oc_file_info *fi);
OC_API int oc_file_info_type(const oc_file_info *fi);
OC_API uint64_t oc_file_info_size(const oc_file_info *fi);
OC_API uint32_t oc_file_info_mode(const oc_file_info *fi);
OC_API int64_t oc_file_info_mtime_ns(const oc_file_info *fi);
OC_API const char *oc_file_info_link_target(const oc_file_info *fi); /* NULL unless a symlink */

OC_API int oc_files_stat(oc_file_info **out, oc_sandbox *sb, const char *path, uint32_t flags,
                         oc_error **error);
OC_API void oc_file_info_free(oc_file_info *fi);
/* *out: 1 if the path exists (as anything), 0 if not. */
OC_API int oc_files_exists(oc_sandbox *sb, const char *path, int *out, uint32_t flags,
                           oc_error **error);

typedef struct oc_file_list oc_file_list;

OC_API int oc_files_list(oc_file_list **out, oc_sandbox *sb, const char *path, uint32_t flags,
                         oc_error **error);
OC_API size_t oc_file_list_count(const oc_file_list *list);
OC_API const oc_file_info *oc_file_list_at(const oc_file_list *list, size_t i);
OC_API void oc_file_list_free(oc_file_list *list);

/* Creates a directory and any missing parents (mkdir -p). */
OC_API int oc_files_mkdir(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error);
/* Removes a file, symlink or empty directory; with OC_FILES_RECURSIVE, a
 * directory and everything in it. */
OC_API int oc_files_remove(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error);
OC_API int oc_files_rename(oc_sandbox *sb, const char *from, const char *to, uint32_t flags,
                           oc_error **error);

/* ---- importing templates and pruning the layer cache ----
 *
 * A template can be made of a root filesystem tarball (plain, gzip or xz
 * compressed) instead of being built: any glibc or musl Linux userland of
 * the host's architecture with a shell at /bin/sh or /usr/bin/sh (Debian,
 * Ubuntu, Alpine's minirootfs, busybox).  The guest's own init and agent
 * come from the initramfs, so nothing else is needed in the image.  The
 * tarball's owners (by number), modes and file capabilities are kept;
 * members that would land outside the root (absolute, '..', through a
 * symlink) are refused.  Nothing in the tarball runs on the host. */

typedef struct {
    uint32_t version;
    int prepare;             /* 1 (INIT): also build its ready snapshot, which boots
                              * it once: a template no sandbox can start from is not
                              * kept; 0: the first create boots it */
    oc_build_log_fn log;     /* progress lines; NULL: none */
    void *log_user_data;
} oc_template_import_options;

#define OC_TEMPLATE_IMPORT_OPTIONS_VERSION 1
#define OC_TEMPLATE_IMPORT_OPTIONS_INIT { OC_TEMPLATE_IMPORT_OPTIONS_VERSION, 1, NULL, NULL }
OC_API int oc_template_import_options_init(oc_template_import_options *opts, uint32_t version);

/* Makes template name ([a-z0-9][a-z0-9._-]{0,63}) of the root filesystem
 * in tar_path: an ext4 disk (as the base template's), with no parent.  A
 * name that exists is refused (OC_EEXISTS), as are a missing file
 * (OC_ENOTFOUND), one that is no tar and a tree without a shell (OC_EINVAL,
 * naming what is missing).  The template appears whole or not at all: on
 * any error nothing is left behind.  opts: NULL for the defaults.  Blocks
 * (seconds to minutes: unpacking, mke2fs and a boot under TCG). */
OC_API int oc_template_import(oc_context *ctx, const char *name, const char *tar_path,
                              const oc_template_import_options *opts, oc_error **error);
/* The tarball a template was imported from (as given, made absolute), or
 * NULL for one built or made otherwise. */
OC_API const char *oc_template_info_imported_from(const oc_template_info *t);

/* Template builds keep a layer per step in the state directory's cache; it
 * grows with every build.  A prune removes the layers that nothing needs:
 * it keeps those a template's disk was made from (so rebuilding it stays
 * cached), those any sandbox, checkpoint or template disk builds on, those
 * made in the last keep_days days, and what each kept one builds on.  It
 * waits for a running build. */
typedef struct {
    uint32_t version;
    uint32_t keep_days;      /* INIT: 7; 0: layers are not kept for their age */
} oc_template_prune_options;

#define OC_TEMPLATE_PRUNE_OPTIONS_VERSION 1
#define OC_TEMPLATE_PRUNE_DEFAULT_KEEP_DAYS 7
#define OC_TEMPLATE_PRUNE_OPTIONS_INIT                                                       \
    { OC_TEMPLATE_PRUNE_OPTIONS_VERSION, OC_TEMPLATE_PRUNE_DEFAULT_KEEP_DAYS }
OC_API int oc_template_prune_options_init(oc_template_prune_options *opts, uint32_t version);

/* *removed and *bytes_freed (nullable): the layers removed and what they
 * took on the host; *kept (nullable): the layers left.  opts: NULL for the
 * defaults. */
OC_API int oc_template_prune(oc_context *ctx, const oc_template_prune_options *opts,
                             uint32_t *removed, uint64_t *bytes_freed, uint32_t *kept,
                             oc_error **error);

#ifdef __cplusplus
}
#endif

#endif /* OPENCOMPUTER_H */
