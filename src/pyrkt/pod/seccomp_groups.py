"""rkt's seccomp isolators: wildcard groups, the default filter, and their OCI form.

An app's seccomp filter comes from one appc isolator, `os/linux/seccomp-retain-set`
(only the listed syscalls work) or `os/linux/seccomp-remove-set` (the listed ones
do not), from the image or from `--seccomp mode=retain|remove[,errno=E],…`. A set
mixes syscall names with rkt's namespaced wildcards:

- `@appc.io/all`, `@appc.io/empty`: every syscall, none. As in rkt, a retain-set
  holding `@appc.io/all` turns filtering off, and a set that names
  `@appc.io/empty` falls back to the default filter.
- `@rkt/default-blacklist`, `@rkt/default-whitelist` and their Docker twins
  `@docker/default-blacklist`, `@docker/default-whitelist` (rkt defines its own
  as Docker's 1.12 profiles).
- `@systemd/clock`, `default-whitelist`, `mount`, `network-io`, `obsolete`,
  `privileged`, `process`, `raw-io` (and `io-event`, which rkt's seccomp guide
  recommends): systemd's `SystemCallFilter=` groups of the same names.

With no seccomp isolator rkt applies `@rkt/default-whitelist` as a retain-set;
`--insecure-options=seccomp` turns that default off. A blocked syscall kills
the app with SIGSYS unless the isolator names an `errno`, which the syscall
then returns instead (systemd's `SystemCallErrorNumber=`, which rkt uses).

One deliberate extension: the whitelists also allow the syscalls Linux gained
after Docker 1.12 that today's Docker profile allows (`rseq`, `statx`, `clone3`,
`close_range`, …). Without them every program linked against glibc 2.35+ is
killed before `main` (it registers `rseq` at start-up), so rkt's 2016 list
would run nothing on this decade's distributions.

Pure data and functions: no libseccomp here (the runtime loads the filter).
"""

from __future__ import annotations

import errno as _errno

from pyrkt.records import dataclass

TYPE_CHECKING = False  # bench/README.md "Speed rules"
if TYPE_CHECKING:
    from typing import Any

APPC_ALL = "@appc.io/all"
APPC_EMPTY = "@appc.io/empty"
RETAIN = "os/linux/seccomp-retain-set"
REMOVE = "os/linux/seccomp-remove-set"
ARCHITECTURES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")

# Docker 1.12's default profile, as the set of syscalls it allows (rkt's @rkt/default-whitelist)
_DOCKER_WHITELIST = """
accept accept4 access alarm arch_prctl bind brk capget capset chdir chmod chown chown32 chroot
clock_getres clock_gettime clock_nanosleep clone close connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2
execve execveat exit exit_group faccessat fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futimesat getcpu
getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
io_cancel ioctl io_destroy io_getevents ioprio_get ioprio_set io_setup io_submit ipc kill lchown lchown32
lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise memfd_create mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 modify_ldt
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget
msgrcv msgsnd msync munlock munlockall munmap nanosleep newfstatat _newselect open openat pause
personality pipe pipe2 poll ppoll prctl pread64 preadv prlimit64 pselect6 pwrite64 pwritev read
readahead readlink readlinkat readv recv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl
semget semop semtimedop send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid
setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32
setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid
setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigreturn socket socketcall socketpair splice stat stat64 statfs
statfs64 symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee tgkill time timer_create
timer_delete timerfd_create timerfd_gettime timerfd_settime timer_getoverrun timer_gettime
timer_settime times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimes vfork vmsplice wait4 waitid waitpid write writev
"""

# syscalls added to Linux since Docker 1.12 that glibc/musl use routinely and today's
# Docker profile allows; and the 64-bit-time variants of allowed calls (32-bit x86 apps)
_MODERN = """
rseq statx clone3 close_range faccessat2 openat2 pidfd_open pidfd_send_signal pidfd_getfd epoll_pwait2
preadv2 pwritev2 membarrier futex_waitv futex_wait futex_wake futex_requeue io_pgetevents
process_mrelease pkey_alloc pkey_free pkey_mprotect landlock_create_ruleset landlock_add_rule
landlock_restrict_self cachestat fchmodat2 map_shadow_stack uretprobe
clock_gettime64 clock_getres_time64 clock_nanosleep_time64 futex_time64 ppoll_time64 pselect6_time64
recvmmsg_time64 rt_sigtimedwait_time64 sched_rr_get_interval_time64 semtimedop_time64 timer_gettime64
timer_settime64 timerfd_gettime64 timerfd_settime64 utimensat_time64 io_pgetevents_time64
mq_timedreceive_time64 mq_timedsend_time64
"""

# Docker 1.12's documented blocked list (rkt's @rkt/default-blacklist)
_DOCKER_BLACKLIST = """
acct add_key adjtimex bpf clock_adjtime clock_settime create_module delete_module finit_module
get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load kexec_load keyctl
lookup_dcookie mbind mount move_pages name_to_handle_at nfsservctl open_by_handle_at perf_event_open
pivot_root process_vm_readv process_vm_writev ptrace query_module quotactl reboot request_key
set_mempolicy setns settimeofday stime swapon swapoff sysfs _sysctl umount umount2 unshare uselib
userfaultfd ustat vm86 vm86old
"""

# systemd's SystemCallFilter= groups (as systemd 252 defines them), under rkt's @systemd/ names
_SYSTEMD = {
    "clock": "adjtimex clock_adjtime clock_adjtime64 clock_settime clock_settime64 settimeofday",
    "default-whitelist": """
        arch_prctl brk cacheflush clock_getres clock_getres_time64 clock_gettime clock_gettime64
        clock_nanosleep clock_nanosleep_time64 execve exit exit_group futex futex_time64 futex_waitv
        get_robust_list get_thread_area getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
        getgroups32 getpgid getpgrp getpid getppid getrandom getresgid getresgid32 getresuid getresuid32
        getrlimit getsid gettid gettimeofday getuid getuid32 membarrier mmap mmap2 mprotect munmap
        nanosleep pause prlimit64 restart_syscall rseq rt_sigreturn sched_getaffinity sched_yield
        set_robust_list set_thread_area set_tid_address set_tls sigreturn time ugetrlimit uretprobe""",
    "mount": "chroot fsconfig fsmount fsopen fspick mount mount_setattr move_mount open_tree pivot_root umount umount2",
    "network-io": """
        accept accept4 bind connect getpeername getsockname getsockopt listen recv recvfrom recvmmsg
        recvmmsg_time64 recvmsg send sendmmsg sendmsg sendto setsockopt shutdown socket socketcall socketpair""",
    "obsolete": """
        _sysctl afs_syscall bdflush break create_module ftime get_kernel_syms getpmsg gtty idle lock mpx
        prof profil putpmsg query_module security sgetmask ssetmask stime stty sysfs tuxcall ulimit uselib
        ustat vserver""",
    "privileged": """
        chown chown32 fchown fchown32 fchownat lchown lchown32
        adjtimex clock_adjtime clock_adjtime64 clock_settime clock_settime64 settimeofday
        delete_module finit_module init_module
        ioperm iopl pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read s390_pci_mmio_write
        kexec_file_load kexec_load reboot swapoff swapon
        _sysctl acct bpf capset chroot fanotify_init fanotify_mark nfsservctl open_by_handle_at pivot_root
        quotactl quotactl_fd setdomainname setfsuid setfsuid32 setgroups setgroups32 sethostname setresuid
        setresuid32 setreuid setreuid32 setuid setuid32 vhangup""",
    "process": """
        capget clone clone3 execveat fork getrusage kill pidfd_open pidfd_send_signal prctl rt_sigqueueinfo
        rt_tgsigqueueinfo setns swapcontext tgkill times tkill unshare vfork wait4 waitid waitpid""",
    "raw-io": "ioperm iopl pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read s390_pci_mmio_write",
    "io-event": """
        _newselect epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
        epoll_wait_old eventfd eventfd2 poll ppoll ppoll_time64 pselect6 pselect6_time64 select""",
}


_CACHE: dict[str, tuple[str, ...]] = {}


def _groups() -> dict[str, tuple[str, ...]]:
    """Every wildcard group by name, built on first use (nothing is split at import)."""
    if _CACHE:
        return _CACHE
    whitelist = tuple(dict.fromkeys(_DOCKER_WHITELIST.split() + _MODERN.split()))
    blacklist = tuple(_DOCKER_BLACKLIST.split())
    out = {
        "@docker/default-whitelist": whitelist, "@rkt/default-whitelist": whitelist,
        "@docker/default-blacklist": blacklist, "@rkt/default-blacklist": blacklist,
    }
    for name, text in _SYSTEMD.items():
        out[f"@systemd/{name}"] = tuple(text.split())
    _CACHE.update(out)
    return _CACHE


GROUP_NAMES = ("@appc.io/all", "@appc.io/empty", "@docker/default-blacklist", "@docker/default-whitelist",
               "@rkt/default-blacklist", "@rkt/default-whitelist") + tuple(f"@systemd/{n}" for n in _SYSTEMD)


class SeccompSetError(ValueError):
    """A seccomp set rkt would not accept; one line."""


def group(name: str) -> tuple[str, ...]:
    """The syscalls of a wildcard group (not the two @appc.io ones)."""
    groups = _groups()
    if name not in groups:
        raise SeccompSetError(f"unknown seccomp group {name!r} (known: {', '.join(GROUP_NAMES)})")
    return groups[name]


def check_item(item: str) -> None:
    """A set item is a syscall name or a known group; raise SeccompSetError otherwise."""
    if item.startswith("@"):
        if item not in GROUP_NAMES:
            raise SeccompSetError(f"unknown seccomp group {item!r} (known: {', '.join(GROUP_NAMES)})")
        return
    import re  # here: rkt run's default filter needs no regex (bench/README.md "Speed rules")

    if not re.fullmatch(r"_?[a-z][a-z0-9_]*", item):
        raise SeccompSetError(f"{item!r} is not a syscall name or a @group")


def check_errno(name: str) -> int:
    """The number of a symbolic errno (`man 3 errno`)."""
    value = getattr(_errno, name, None) if name.isupper() and name.startswith("E") else None
    if not isinstance(value, int):
        raise SeccompSetError(f"unknown errno {name!r} (a name from `man 3 errno`, like EPERM or ENOSYS)")
    return value


@dataclass(frozen=True)
class SeccompPlan:
    """What an app's seccomp isolator amounts to: no filter, or an allow/deny list."""

    mode: str  # "none" | "retain" | "remove"
    syscalls: tuple[str, ...] = ()
    errno: str | None = None

    def to_oci(self) -> dict[str, Any] | None:
        """The OCI `linux.seccomp` object (None: no filter)."""
        if self.mode == "none":
            return None
        errno_num = check_errno(self.errno) if self.errno else None
        blocked = "SCMP_ACT_ERRNO" if errno_num is not None else "SCMP_ACT_KILL_PROCESS"
        if self.mode == "retain":
            out: dict[str, Any] = {"defaultAction": blocked, "architectures": list(ARCHITECTURES),
                                   "syscalls": [{"names": list(self.syscalls), "action": "SCMP_ACT_ALLOW"}]}
            if errno_num is not None:
                out["defaultErrnoRet"] = errno_num
            return out
        rule: dict[str, Any] = {"names": list(self.syscalls), "action": blocked}
        if errno_num is not None:
            rule["errnoRet"] = errno_num
        return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": list(ARCHITECTURES), "syscalls": [rule]}


def default_plan(errno: str | None = None) -> SeccompPlan:
    """rkt's filter for an app with no seccomp isolator: retain @rkt/default-whitelist, SIGSYS otherwise."""
    return SeccompPlan("retain", group("@rkt/default-whitelist"), errno)


def plan_for(isolators: list[dict[str, Any]], insecure: bool = False) -> SeccompPlan:
    """The filter for an app's isolators (rkt's rules); `insecure` is --insecure-options=seccomp."""
    if insecure:
        return SeccompPlan("none")
    found = [i for i in isolators if i.get("name") in (RETAIN, REMOVE)]
    if len(found) > 1:
        raise SeccompSetError("an app may have only one seccomp isolator (retain-set or remove-set)")
    if not found:
        return default_plan()
    iso = found[0]
    value = iso.get("value") or {}
    if not isinstance(value, dict):
        raise SeccompSetError(f"isolator {iso.get('name')}: value must be an object with a set")
    items = value.get("set") or []
    if not isinstance(items, list) or not items:
        raise SeccompSetError(f"isolator {iso.get('name')}: empty set")
    errno = value.get("errno") or None
    if errno is not None:
        check_errno(str(errno))
    mode = "retain" if iso.get("name") == RETAIN else "remove"
    names: list[str] = []
    for item in items:
        item = str(item)
        check_item(item)
        if item == APPC_ALL and mode == "retain":
            return SeccompPlan("none")
        if item in (APPC_ALL, APPC_EMPTY):
            # rkt: removing everything or retaining nothing falls back to the default filter
            return default_plan(str(errno) if errno else None)
        names.extend(group(item) if item.startswith("@") else (item,))
    return SeccompPlan(mode, tuple(dict.fromkeys(names)), str(errno) if errno else None)
