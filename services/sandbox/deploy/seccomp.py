"""The sandbox's seccomp profile: the system calls its pods may make (deploy/k8s/README.md, "The sandbox").

Kept here, next to the code that needs it, and named by the sandbox's ContextSpec
(services/sandbox/deploy/__init__.py); deploy/k8s/generate.py writes it as JSON next to the sandbox's
manifests, for the nodes. tests/sandbox/integration/test_sandbox_k8s.py compiles it with libseccomp and
runs bubblewrap under it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


# The seccomp profile of the sandbox. bubblewrap creates user, mount, pid, net, ipc and uts namespaces
# (clone with CLONE_NEW* flags, unshare), mounts its new root (mount, pivot_root, umount2), and may set the
# sandbox's host name. The runtime's default profile allows none of that without CAP_SYS_ADMIN, which the
# pod does not have (capabilities: drop ALL), so under RuntimeDefault bwrap fails and the sandbox reports
# NOT_SERVING. `Unconfined` would work but turns seccomp off for the service and for the learners' code,
# and the namespace's Pod Security level (baseline, see base/namespace.yaml) refuses it. So: a Localhost
# profile = containerd's default allow-list (contrib/seccomp/seccomp_default.go, as for a container without
# capabilities), plus the calls bwrap needs, minus calls CPython does not need whose kernel code has a
# record of privilege escalations. Trade-off: the learners' code may create namespaces too (it runs under
# the same filter); the gVisor component (components/sandbox-gvisor) moves all of it off the host kernel.
# No "architectures": the filter covers the node's native ABI only, so 32-bit system calls are refused.
def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


RUNTIME_DEFAULT_SYSCALLS = _names(
    """
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
    clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
    clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create
    epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
    execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
    fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
    futex_time64 futex_waitv futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32
    getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
    getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
    getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
    inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
    io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
    io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32
    lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
    madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall
    mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
    mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
    nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 poll
    ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
    pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
    recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir
    rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
    sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
    sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
    sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
    setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
    setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
    setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket
    socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
    syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
    timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
    utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
    arch_prctl arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls
    """
)  # the last line: per-architecture calls (amd64, arm64); runc and crun skip names the node does not know
# What bubblewrap needs beyond that allow-list (see the comment above).
BWRAP_SYSCALLS: Mapping[str, str] = {
    "clone": "new namespaces (CLONE_NEWUSER|NEWNS|NEWPID|NEWNET|NEWIPC|NEWUTS|NEWCGROUP)",
    "clone3": "the same through clone3, which glibc also uses for threads",
    "unshare": "a second user namespace once /dev is set up",
    "mount": "the sandbox's root: tmpfs, read-only binds, /dev",
    "umount2": "detaching the old root",
    "pivot_root": "switching to the new root",
    "sethostname": "bwrap --hostname, in the sandbox's own uts namespace",
}
# Allowed by the default profile, refused here: CPython and the standard library do not use them. (ptrace,
# which containerd adds on kernels >= 4.8, is left out of the list above for the same reason.) clone3 is not
# one of them: glibc starts threads with it and falls back to clone only on ENOSYS, not on EPERM.
SANDBOX_REFUSED_SYSCALLS: Mapping[str, str] = {
    "io_uring_setup": "io_uring: a large kernel surface with a long list of privilege escalations",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "modify_ldt": "16-bit segments (x86)",
}
# The default profile's personality(2) values: Linux, UNAME26 ... and the query (0xffffffff).
PERSONALITY_VALUES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)


def sandbox_seccomp_profile() -> dict[str, Any]:
    allowed = (set(RUNTIME_DEFAULT_SYSCALLS) | set(BWRAP_SYSCALLS)) - set(SANDBOX_REFUSED_SYSCALLS)
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": sorted(allowed), "action": "SCMP_ACT_ALLOW"},
            *(
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
                }
                for value in PERSONALITY_VALUES
            ),
        ],
    }
