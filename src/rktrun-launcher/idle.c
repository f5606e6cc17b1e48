/*
 * The app of an rkt-run worker pod: it does nothing until SIGTERM, SIGINT or
 * SIGHUP (rkt stop, rktrunner-gc), then exits 0.
 *
 * Why a program of rkt-run's own: the worker's app used to be `/bin/sh -c
 * 'while :; do sleep 3600 & wait; done'`, so an image without a shell and a
 * sleep could not be a worker. This one is linked statically and bind-mounted
 * read-only into the worker (--volume kind=host,readOnly=true), so it needs
 * nothing from the image. The signals are blocked and taken with sigwaitinfo:
 * no handler, no libc state, nothing else to go wrong.
 *
 * Build: gcc -O2 -static -o idle idle.c (make install-rkt-run)
 */
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * `idle --warm /sys/fs/cgroup/.../cgroup.procs` (spawned by rkt-run for a worker enter, as root):
 * write this process's pid into the cgroup.procs of the cgroup it is in, which moves it nowhere,
 * and exit. On a cgroup v1 host the first such write after a quiet while waits for an RCU grace
 * period (5-15 ms); this process waits for it instead of rkt-run, whose own write (the enter's)
 * then does not. A separate process, not a thread: a thread blocked in that write would hold up
 * every setresuid(2) of rkt-run (glibc makes all threads change ids together).
 */
static int warm(const char *path)
{
	static const char prefix[] = "/sys/fs/cgroup/", suffix[] = "/cgroup.procs";
	size_t n = strlen(path);
	char pid[32];

	if (strncmp(path, prefix, sizeof prefix - 1) != 0 || n < sizeof suffix ||
	    strcmp(path + n - (sizeof suffix - 1), suffix) != 0 || strstr(path, "/../"))
		return 2;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	int len = snprintf(pid, sizeof pid, "%d", (int)getpid());
	return write(fd, pid, (size_t)len) == len ? 0 : 1;
}

int main(int argc, char **argv)
{
	sigset_t set;

	if (argc == 3 && strcmp(argv[1], "--warm") == 0)
		return warm(argv[2]);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;)
		if (sigwaitinfo(&set, NULL) > 0)
			return 0;
}
