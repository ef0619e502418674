#ifndef MLREPO_CSHIMS_H
#define MLREPO_CSHIMS_H
#include <stdint.h>

/// Starts write-back of a file range without waiting (sync_file_range(2) with
/// SYNC_FILE_RANGE_WRITE); a no-op returning 0 where the call does not exist.
int mlrepo_start_writeback(int fd, int64_t offset, int64_t length);



/// Installs a SIGBUS handler that explains the usual cause (a memory-mapped input file
/// was truncated while being read), prints one line to stderr and exits with status 1.
/// For command-line use only; a library host keeps its own signal handling.
void mlrepo_install_sigbus_handler(void);

/// posix_spawn of `path` with `argv`/`envp`, in folder `cwd` (posix_spawn_file_actions_addchdir_np).
/// Returns 0 and the child's pid in *pid, or an errno value.
int mlrepo_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int *pid);

/// 1 when the CPU (and the OS, for the ymm state) supports AVX2 and FMA, else 0.
int mlrepo_cpu_has_avx2_fma(void);
#endif
