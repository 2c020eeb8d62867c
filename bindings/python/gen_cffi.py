#!/usr/bin/python3
"""gen_cffi.py OUT.c: writes the C source of the cffi extension module
opencomputer._oc (API mode: compiled against <opencomputer.h>, so a
mismatch between these declarations and the header is a compile error).

meson compiles the output as a Python extension; this script only needs
python3-cffi, not setuptools.
"""
import sys

import cffi

CDEF = r"""
typedef struct oc_error oc_error;
typedef struct oc_context oc_context;
typedef struct oc_sandbox oc_sandbox;
typedef struct oc_sandbox_info oc_sandbox_info;
typedef struct oc_sandbox_list oc_sandbox_list;
typedef struct oc_exec_result oc_exec_result;
typedef struct oc_file_info oc_file_info;
typedef struct oc_file_list oc_file_list;
typedef struct oc_exec_session_info oc_exec_session_info;
typedef struct oc_exec_session_list oc_exec_session_list;
typedef struct oc_exec_handle oc_exec_handle;
typedef struct oc_shell oc_shell;
typedef struct oc_checkpoint oc_checkpoint;
typedef struct oc_checkpoint_list oc_checkpoint_list;
typedef struct oc_template_info oc_template_info;
typedef struct oc_template_list oc_template_list;

int oc_error_code_of(const oc_error *error);
const char *oc_error_message(const oc_error *error);
void oc_error_free(oc_error *error);
const char *oc_strerror(int code);
void oc_free(void *ptr);

typedef struct {
    uint32_t version;
    const char *uri;
    const char *state_dir;
    uint32_t pool_size;
    uint32_t pool_memory_mb;
    const char *const *pool_templates;
    uint32_t flags;
} oc_context_options;
#define OC_CONTEXT_OPTIONS_VERSION ...
#define OC_CONTEXT_REQUIRE_KVM ...
#define OC_DEFAULT_POOL_MEMORY_MB ...
int oc_context_new(oc_context **out, const oc_context_options *opts, oc_error **error);
oc_context *oc_context_unref(oc_context *ctx);
const char *oc_context_accelerator(oc_context *ctx);

typedef struct {
    uint32_t version;
    const char *const *allow_out;
    const char *const *deny_out;
    int block_all;
} oc_network_policy;
#define OC_NETWORK_POLICY_VERSION ...

typedef struct {
    uint32_t version;
    const char *template_name;
    int64_t timeout_s;
    uint32_t cpu_count;
    uint32_t memory_mb;
    const char *const *envs;
    const char *const *metadata;
    const oc_network_policy *network;
} oc_sandbox_options;
#define OC_SANDBOX_OPTIONS_VERSION ...
#define OC_TIMEOUT_DEFAULT ...
#define OC_TIMEOUT_KEEP ...
#define OC_DEFAULT_CPU_COUNT ...
#define OC_DEFAULT_MEMORY_MB ...
int oc_sandbox_create(oc_sandbox **out, oc_context *ctx, const oc_sandbox_options *opts,
                      oc_error **error);
int oc_sandbox_connect(oc_sandbox **out, oc_context *ctx, const char *id, oc_error **error);
oc_sandbox *oc_sandbox_unref(oc_sandbox *sb);
const char *oc_sandbox_id(const oc_sandbox *sb);
int oc_sandbox_kill(oc_sandbox *sb, uint32_t flags, oc_error **error);
int oc_sandbox_status(oc_sandbox *sb, int *out, oc_error **error);
int oc_sandbox_is_running(oc_sandbox *sb, int *out, oc_error **error);
int oc_sandbox_set_timeout(oc_sandbox *sb, uint32_t timeout_s, uint32_t flags, oc_error **error);
int oc_sandbox_set_network(oc_sandbox *sb, const oc_network_policy *policy, uint32_t flags,
                           oc_error **error);
int oc_sandbox_expose_port(oc_sandbox *sb, uint16_t guest_port, uint16_t host_port,
                           uint32_t flags, char **host_out, oc_error **error);
int oc_sandbox_unexpose_port(oc_sandbox *sb, uint16_t guest_port, uint32_t flags,
                             oc_error **error);
const char *oc_sandbox_state_name(int state);
int oc_sandbox_hibernate(oc_sandbox *sb, uint32_t flags, oc_error **error);
#define OC_REBOOT_HARD ...
int oc_sandbox_reboot(oc_sandbox *sb, uint32_t flags, oc_error **error);
typedef struct {
    uint32_t version;
    int64_t timeout_s;
} oc_wake_options;
#define OC_WAKE_OPTIONS_VERSION ...
int oc_sandbox_wake(oc_sandbox *sb, const oc_wake_options *opts, int *kind, oc_error **error);
const char *oc_wake_kind_name(int kind);

int oc_sandbox_info_get(oc_sandbox_info **out, oc_sandbox *sb, oc_error **error);
void oc_sandbox_info_free(oc_sandbox_info *info);
const char *oc_sandbox_info_id(const oc_sandbox_info *info);
const char *oc_sandbox_info_template(const oc_sandbox_info *info);
int oc_sandbox_info_state(const oc_sandbox_info *info);
int64_t oc_sandbox_info_created(const oc_sandbox_info *info);
const char *oc_sandbox_info_accelerator(const oc_sandbox_info *info);
uint32_t oc_sandbox_info_cpu_count(const oc_sandbox_info *info);
uint32_t oc_sandbox_info_memory_mb(const oc_sandbox_info *info);
uint32_t oc_sandbox_info_timeout(const oc_sandbox_info *info);
int oc_sandbox_info_last_wake(const oc_sandbox_info *info);
int64_t oc_sandbox_info_idle_deadline(const oc_sandbox_info *info);
size_t oc_sandbox_info_metadata_count(const oc_sandbox_info *info);
const char *oc_sandbox_info_metadata_at(const oc_sandbox_info *info, size_t i, const char **value);
size_t oc_sandbox_info_env_count(const oc_sandbox_info *info);
const char *oc_sandbox_info_env_at(const oc_sandbox_info *info, size_t i, const char **value);
const char *oc_sandbox_info_origin(const oc_sandbox_info *info);
const char *oc_sandbox_info_checkpoint(const oc_sandbox_info *info);
const char *oc_sandbox_info_reason(const oc_sandbox_info *info);
int oc_sandbox_info_block_all(const oc_sandbox_info *info);
size_t oc_sandbox_info_allow_out_count(const oc_sandbox_info *info);
const char *oc_sandbox_info_allow_out_at(const oc_sandbox_info *info, size_t i);
size_t oc_sandbox_info_deny_out_count(const oc_sandbox_info *info);
const char *oc_sandbox_info_deny_out_at(const oc_sandbox_info *info, size_t i);
int oc_sandbox_list_get(oc_sandbox_list **out, oc_context *ctx,
                        const char *const *metadata_filter, uint32_t flags, oc_error **error);
size_t oc_sandbox_list_count(const oc_sandbox_list *list);
const oc_sandbox_info *oc_sandbox_list_at(const oc_sandbox_list *list, size_t i);
void oc_sandbox_list_free(oc_sandbox_list *list);

int oc_checkpoint_create(oc_checkpoint **out, oc_sandbox *sb, const char *name,
                         uint32_t flags, oc_error **error);
int oc_checkpoint_get(oc_checkpoint **out, oc_context *ctx, const char *id, oc_error **error);
void oc_checkpoint_free(oc_checkpoint *cp);
const char *oc_checkpoint_id(const oc_checkpoint *cp);
const char *oc_checkpoint_name(const oc_checkpoint *cp);
const char *oc_checkpoint_sandbox_id(const oc_checkpoint *cp);
const char *oc_checkpoint_template(const oc_checkpoint *cp);
int64_t oc_checkpoint_created_at(const oc_checkpoint *cp);
uint64_t oc_checkpoint_size_bytes(const oc_checkpoint *cp);
uint32_t oc_checkpoint_cpu_count(const oc_checkpoint *cp);
uint32_t oc_checkpoint_memory_mb(const oc_checkpoint *cp);
int oc_checkpoint_list_get(oc_checkpoint_list **out, oc_context *ctx, const char *sandbox_id,
                           uint32_t flags, oc_error **error);
size_t oc_checkpoint_list_count(const oc_checkpoint_list *list);
const oc_checkpoint *oc_checkpoint_list_at(const oc_checkpoint_list *list, size_t i);
void oc_checkpoint_list_free(oc_checkpoint_list *list);
int oc_checkpoint_delete(oc_context *ctx, const char *id, uint32_t flags, oc_error **error);
int oc_sandbox_restore_checkpoint(oc_sandbox *sb, const char *checkpoint_id, uint32_t flags,
                                  oc_error **error);
typedef struct {
    uint32_t version;
    int64_t timeout_s;
    const char *const *envs;
    const char *const *metadata;
    uint32_t count;
    const oc_network_policy *network;
} oc_fork_options;
#define OC_FORK_OPTIONS_VERSION ...
int oc_sandbox_create_from_checkpoint(oc_sandbox **out, oc_context *ctx,
                                      const char *checkpoint_id, const oc_fork_options *opts,
                                      oc_error **error);
int oc_sandbox_fork(oc_sandbox ***out, oc_context *ctx, const char *checkpoint_id,
                    const oc_fork_options *opts, oc_error **error);
int oc_template_prepare(oc_context *ctx, const char *template_name, uint32_t flags, int *built,
                        oc_error **error);
int oc_template_snapshot_ready(oc_context *ctx, const char *template_name, int *ready,
                               oc_error **error);
int oc_pool_status(oc_context *ctx, const char *template_name, uint32_t *ready,
                   uint32_t *target, oc_error **error);

int oc_template_get(oc_template_info **out, oc_context *ctx, const char *name,
                    oc_error **error);
void oc_template_info_free(oc_template_info *t);
const char *oc_template_info_name(const oc_template_info *t);
const char *oc_template_info_parent(const oc_template_info *t);
int64_t oc_template_info_created_at(const oc_template_info *t);
uint64_t oc_template_info_size_bytes(const oc_template_info *t);
uint64_t oc_template_info_disk_bytes(const oc_template_info *t);
const char *const *oc_template_info_steps(const oc_template_info *t);
const char *const *oc_template_info_env(const oc_template_info *t);
const char *oc_template_info_workdir(const oc_template_info *t);
const char *oc_template_info_user(const oc_template_info *t);
const char *const *oc_template_info_agent(const oc_template_info *t);
int oc_template_list_get(oc_template_list **out, oc_context *ctx, uint32_t flags,
                         oc_error **error);
size_t oc_template_list_count(const oc_template_list *list);
const oc_template_info *oc_template_list_at(const oc_template_list *list, size_t i);
void oc_template_list_free(oc_template_list *list);
int oc_template_delete(oc_context *ctx, const char *name, uint32_t flags, oc_error **error);

#define OC_BUILD_STEP_RUN ...
#define OC_BUILD_STEP_APT ...
#define OC_BUILD_STEP_COPY ...
#define OC_BUILD_STEP_ENV ...
#define OC_BUILD_STEP_WORKDIR ...
#define OC_BUILD_STEP_USER ...
#define OC_BUILD_STEP_AGENT ...
#define OC_BUILD_STEP_EXEC_FORM ...
typedef struct {
    uint32_t kind;
    const char *const *args;
    const char *chown;
    uint32_t chmod;
    uint32_t flags;
} oc_build_step;
typedef void (*oc_build_log_fn)(const char *line, void *user_data);
typedef struct {
    uint32_t version;
    const char *dockerfile;
    const char *context_dir;
    const char *const *build_args;
    const char *parent;
    const oc_build_step *steps;
    size_t step_count;
    uint32_t cpu_count;
    uint32_t memory_mb;
    uint32_t step_timeout_s;
    oc_build_log_fn log;
    void *log_user_data;
} oc_template_build_options;
#define OC_TEMPLATE_BUILD_OPTIONS_VERSION ...
int oc_template_build_options_init(oc_template_build_options *opts, uint32_t version);
int oc_template_build(oc_context *ctx, const char *name,
                      const oc_template_build_options *opts, oc_error **error);
/* defined in _template.py */
extern "Python" void _oc_on_build_log(const char *line, void *user_data);
typedef struct {
    uint32_t version;
    int prepare;
    oc_build_log_fn log;
    void *log_user_data;
} oc_template_import_options;
#define OC_TEMPLATE_IMPORT_OPTIONS_VERSION ...
int oc_template_import_options_init(oc_template_import_options *opts, uint32_t version);
int oc_template_import(oc_context *ctx, const char *name, const char *tar_path,
                       const oc_template_import_options *opts, oc_error **error);
const char *oc_template_info_imported_from(const oc_template_info *t);
typedef struct {
    uint32_t version;
    uint32_t keep_days;
} oc_template_prune_options;
#define OC_TEMPLATE_PRUNE_OPTIONS_VERSION ...
#define OC_TEMPLATE_PRUNE_DEFAULT_KEEP_DAYS ...
int oc_template_prune_options_init(oc_template_prune_options *opts, uint32_t version);
int oc_template_prune(oc_context *ctx, const oc_template_prune_options *opts,
                      uint32_t *removed, uint64_t *bytes_freed, uint32_t *kept,
                      oc_error **error);

typedef struct {
    uint32_t version;
    const char *const *args;
    const char *const *envs;
    const char *cwd;
    int64_t timeout_ms;
    const void *stdin_data;
    size_t stdin_len;
    size_t max_output;
    const char *user;
} oc_exec_options;
#define OC_EXEC_OPTIONS_VERSION ...
int oc_exec_run(oc_exec_result **out, oc_sandbox *sb, const char *command,
                const oc_exec_options *opts, oc_error **error);
int oc_exec_result_exit_code(const oc_exec_result *r);
int oc_exec_result_signal(const oc_exec_result *r);
int oc_exec_result_timed_out(const oc_exec_result *r);
const char *oc_exec_result_stdout(const oc_exec_result *r, size_t *len);
const char *oc_exec_result_stderr(const oc_exec_result *r, size_t *len);
int oc_exec_result_stdout_truncated(const oc_exec_result *r);
int oc_exec_result_stderr_truncated(const oc_exec_result *r);
uint64_t oc_exec_result_duration_us(const oc_exec_result *r);
void oc_exec_result_free(oc_exec_result *r);

int oc_exec_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags, oc_error **error);
size_t oc_exec_session_list_count(const oc_exec_session_list *list);
const oc_exec_session_info *oc_exec_session_list_at(const oc_exec_session_list *list, size_t i);
void oc_exec_session_list_free(oc_exec_session_list *list);
uint32_t oc_exec_session_info_id(const oc_exec_session_info *si);
uint32_t oc_exec_session_info_pid(const oc_exec_session_info *si);
int oc_exec_session_info_running(const oc_exec_session_info *si);
int oc_exec_session_info_exit_code(const oc_exec_session_info *si);
int oc_exec_session_info_signal(const oc_exec_session_info *si);
int64_t oc_exec_session_info_started_at_ms(const oc_exec_session_info *si);
const char *oc_exec_session_info_command(const oc_exec_session_info *si);
int oc_exec_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error);

typedef struct {
    uint32_t version;
    void (*on_stdout)(const char *data, size_t len, void *user_data);
    void (*on_stderr)(const char *data, size_t len, void *user_data);
    void (*on_replay_end)(void *user_data);
    void (*on_end)(int status, int exit_code, void *user_data);
    void *user_data;
    void (*on_gap)(int stream, uint64_t bytes, void *user_data);
    ...;
} oc_exec_callbacks;
#define OC_EXEC_CALLBACKS_VERSION ...
int oc_exec_attach(oc_exec_handle **out, oc_sandbox *sb, uint32_t session_id,
                   const oc_exec_callbacks *callbacks, oc_error **error);
int oc_exec_spawn(oc_exec_handle **out, oc_sandbox *sb, const char *command,
                  const oc_exec_options *opts, const oc_exec_callbacks *callbacks,
                  oc_error **error);
uint32_t oc_exec_handle_session_id(const oc_exec_handle *h);
int oc_exec_handle_is_pty(const oc_exec_handle *h);
int oc_exec_send_stdin(oc_exec_handle *h, const void *data, size_t len, oc_error **error);
int oc_exec_close_stdin(oc_exec_handle *h, oc_error **error);
int oc_exec_signal(oc_exec_handle *h, int signal, oc_error **error);
int oc_exec_resize(oc_exec_handle *h, uint32_t cols, uint32_t rows, oc_error **error);
int oc_exec_wait(oc_exec_handle *h, int64_t timeout_ms, int *exit_code, oc_error **error);
void oc_exec_detach(oc_exec_handle *h);
void oc_exec_handle_free(oc_exec_handle *h);

/* the callbacks' trampolines, defined in _stream.py (ffi.def_extern) */
extern "Python" void _oc_on_stdout(const char *data, size_t len, void *user_data);
extern "Python" void _oc_on_stderr(const char *data, size_t len, void *user_data);
extern "Python" void _oc_on_replay_end(void *user_data);
extern "Python" void _oc_on_end(int status, int exit_code, void *user_data);
extern "Python" void _oc_on_gap(int stream, uint64_t bytes, void *user_data);

typedef struct {
    uint32_t version;
    uint32_t cols, rows;
    const char *shell;
    const char *const *envs;
    const char *cwd;
} oc_pty_options;
#define OC_PTY_OPTIONS_VERSION ...
int oc_pty_create(oc_exec_handle **out, oc_sandbox *sb, const oc_pty_options *opts,
                  const oc_exec_callbacks *callbacks, oc_error **error);

typedef struct oc_agent_session oc_agent_session;
typedef struct {
    uint32_t version;
    const char *program;
    const char *const *args;
    const char *prompt;
    const char *model;
    const char *system_prompt;
    uint32_t max_turns;
    const char *cwd;
    const char *config_json;
    const char *const *envs;
} oc_agent_options;
#define OC_AGENT_OPTIONS_VERSION ...
typedef struct {
    uint32_t version;
    void (*on_event)(const char *type, const char *json, void *user_data);
    void (*on_stderr)(const char *data, size_t len, void *user_data);
    void (*on_replay_end)(void *user_data);
    void (*on_end)(int status, int exit_code, void *user_data);
    void *user_data;
} oc_agent_callbacks;
#define OC_AGENT_CALLBACKS_VERSION ...
int oc_agent_start(oc_agent_session **out, oc_sandbox *sb, const oc_agent_options *opts,
                   const oc_agent_callbacks *callbacks, oc_error **error);
int oc_agent_attach(oc_agent_session **out, oc_sandbox *sb, uint32_t session_id,
                    const oc_agent_callbacks *callbacks, oc_error **error);
uint32_t oc_agent_session_id(const oc_agent_session *s);
int oc_agent_send_prompt(oc_agent_session *s, const char *text, oc_error **error);
int oc_agent_interrupt(oc_agent_session *s, oc_error **error);
int oc_agent_configure(oc_agent_session *s, const char *config_json, oc_error **error);
int oc_agent_wait(oc_agent_session *s, int64_t timeout_ms, int *exit_code, oc_error **error);
void oc_agent_detach(oc_agent_session *s);
void oc_agent_close(oc_agent_session *s);
int oc_agent_kill(oc_sandbox *sb, uint32_t session_id, int signal, oc_error **error);
int oc_agent_list(oc_exec_session_list **out, oc_sandbox *sb, uint32_t flags, oc_error **error);
/* defined in _agent.py; on_stderr, on_replay_end and on_end use the exec
   trampolines above */
extern "Python" void _oc_on_agent_event(const char *type, const char *json, void *user_data);

typedef struct {
    uint32_t version;
    const char *const *envs;
    const char *cwd;
} oc_shell_options;
#define OC_SHELL_OPTIONS_VERSION ...
int oc_shell_open(oc_shell **out, oc_sandbox *sb, const oc_shell_options *opts,
                  oc_error **error);
int oc_shell_run(oc_exec_result **out, oc_shell *sh, const char *command, int64_t timeout_ms,
                 oc_error **error);
uint32_t oc_shell_session_id(const oc_shell *sh);
void oc_shell_close(oc_shell *sh);

#define OC_FILES_RECURSIVE ...
int oc_files_read(oc_sandbox *sb, const char *path, void **data, size_t *len,
                  uint32_t flags, oc_error **error);
int oc_files_write(oc_sandbox *sb, const char *path, const void *data, size_t len,
                   uint32_t flags, oc_error **error);
const char *oc_file_info_name(const oc_file_info *fi);
int oc_file_info_type(const oc_file_info *fi);
uint64_t oc_file_info_size(const oc_file_info *fi);
uint32_t oc_file_info_mode(const oc_file_info *fi);
int64_t oc_file_info_mtime_ns(const oc_file_info *fi);
const char *oc_file_info_link_target(const oc_file_info *fi);
int oc_files_stat(oc_file_info **out, oc_sandbox *sb, const char *path, uint32_t flags,
                  oc_error **error);
void oc_file_info_free(oc_file_info *fi);
int oc_files_exists(oc_sandbox *sb, const char *path, int *out, uint32_t flags, oc_error **error);
int oc_files_list(oc_file_list **out, oc_sandbox *sb, const char *path, uint32_t flags,
                  oc_error **error);
size_t oc_file_list_count(const oc_file_list *list);
const oc_file_info *oc_file_list_at(const oc_file_list *list, size_t i);
void oc_file_list_free(oc_file_list *list);
int oc_files_mkdir(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error);
int oc_files_remove(oc_sandbox *sb, const char *path, uint32_t flags, oc_error **error);
int oc_files_rename(oc_sandbox *sb, const char *from, const char *to, uint32_t flags,
                    oc_error **error);
"""


def main():
    if len(sys.argv) != 2:
        print('usage: gen_cffi.py OUT.c', file=sys.stderr)
        return 2
    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source('opencomputer._oc', '#include <opencomputer.h>')
    ffi.emit_c_code(sys.argv[1])
    return 0


if __name__ == '__main__':
    sys.exit(main())
