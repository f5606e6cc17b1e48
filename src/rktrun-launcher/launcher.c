/*
 * rkt-run's setuid-root entry: the only code that runs with privilege before
 * the installed, root-owned Python policy code takes over.
 *
 * Why C: Linux ignores the setuid bit on interpreted scripts, and a Python
 * process would read PYTHON*, LD_*, locale and HOME-based files before any of
 * our code ran.  This launcher, before exec'ing anything:
 *   - makes sure fds 0-2 are open (else /dev/null) and closes every other fd;
 *   - copies the user's environment into a sealed memfd on fd 3: the policy
 *     code reads it there as data (templates, environment-update) and nothing
 *     else ever sees it;
 *   - resets signal dispositions and the signal mask, sets umask 022 and lifts RLIMIT_FSIZE;
 *   - checks that the interpreter, the installed code (every file under
 *     LIBDIR) and every directory above them are root-owned and not writable
 *     by group or others;
 *   - sets the effective and saved ids to root, keeping the real uid/gid
 *     (the user's identity, which the policy code reads from the kernel);
 *   - executes the fixed interpreter with -I -S -B on LIBDIR/rktrun_entry.py,
 *     with an environment of PATH only.
 * The mode (rkt-run, rktrunner-gc, or a helper named after an alias) is the
 * basename of argv[0]; any name is only a choice the user could make anyway.
 *
 * Build: gcc -O2 -Wall -DPYRKT_PYTHON='"/usr/bin/python3.11"' -DPYRKT_LIBDIR='"/usr/local/lib/pyrkt-rktrun"'
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PYRKT_PYTHON
#error "define PYRKT_PYTHON"
#endif
#ifndef PYRKT_LIBDIR
#error "define PYRKT_LIBDIR"
#endif

extern char **environ;

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "rkt-run: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	_exit(126);
}

/* path and every directory above it: root-owned, not group/other-writable */
static void check_chain(const char *path)
{
	char real[PATH_MAX];
	struct stat st;

	if (!realpath(path, real))
		die("cannot resolve the installed code", path);
	for (;;) {
		if (lstat(real, &st) != 0)
			die("cannot stat the installed code", real);
		if (st.st_uid != 0)
			die("installed code not owned by root: refusing to run", real);
		if (st.st_mode & (S_IWGRP | S_IWOTH))
			die("installed code writable by group or others: refusing to run", real);
		if (strcmp(real, "/") == 0)
			return;
		char *slash = strrchr(real, '/');
		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

static int check_entry(const char *fpath, const struct stat *st, int type, struct FTW *ftw)
{
	(void)ftw;
	if (type == FTW_NS || type == FTW_DNR)
		die("cannot read the installed code", fpath);
	if (st->st_uid != 0)
		die("installed code not owned by root: refusing to run", fpath);
	if (type != FTW_SL && (st->st_mode & (S_IWGRP | S_IWOTH)))
		die("installed code writable by group or others: refusing to run", fpath);
	return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("cannot pass the environment", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	int fd, sig;
	sigset_t all;

	/* 0, 1, 2 open: nothing we open later may become someone's stdout */
	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) < 0) {
			int n = open("/dev/null", O_RDWR);
			if (n != fd)
				_exit(126);
		}
	}

	/* limits the user lowered must not make root's writes stop half-way (rkt's store is shared,
	 * and the memfd below counts too):
	 * file size unlimited where root may raise it, else up to the hard limit */
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0 && getrlimit(RLIMIT_FSIZE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_FSIZE, &rl);
	}

	/* the user's environment, as data, on fd 3 */
	int mfd = memfd_create("rkt-run-env", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		die("memfd_create", strerror(errno));
	size_t total = 0;
	for (char **e = environ; e && *e; e++) {
		size_t n = strlen(*e) + 1;
		total += n;
		if (total > (8u << 20))
			die("environment too large", NULL);
		write_all(mfd, *e, n);
	}
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	if (lseek(mfd, 0, SEEK_SET) != 0)
		die("lseek", strerror(errno));
	if (mfd != 3) {
		if (dup2(mfd, 3) != 3)
			die("dup2", strerror(errno));
		close(mfd);
	} else if (fcntl(3, F_SETFD, 0) != 0) {
		die("fcntl", strerror(errno));
	}
	if (close_range(4, ~0U, 0) != 0) {
		for (fd = 4; fd < 65536; fd++)
			close(fd);
	}

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	umask(022);
	environ = NULL;


	check_chain(PYRKT_PYTHON);
	check_chain(PYRKT_LIBDIR);
	if (nftw(PYRKT_LIBDIR, check_entry, 16, FTW_PHYS) != 0)
		die("cannot check the installed code", PYRKT_LIBDIR);

	/* root for effective and saved ids; the real ids stay the user's (identity) */
	if (geteuid() != 0)
		die("not installed setuid root (make install-rkt-run)", NULL);
	if (setresgid(-1, 0, 0) != 0 || setresuid(-1, 0, 0) != 0)
		die("cannot set ids", strerror(errno));

	const char *base = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	base = base ? base + 1 : (argc > 0 && argv[0] ? argv[0] : "rkt-run");
	char mode[300];
	if (strcmp(base, "rkt-run") == 0)
		snprintf(mode, sizeof mode, "run");
	else if (strcmp(base, "rktrunner-gc") == 0)
		snprintf(mode, sizeof mode, "gc");
	else if (strlen(base) < 256)
		snprintf(mode, sizeof mode, "helper:%s", base);
	else
		die("command name too long", NULL);

	char **nargv = calloc((size_t)argc + 8, sizeof *nargv);
	if (!nargv)
		die("out of memory", NULL);
	int k = 0;
	nargv[k++] = "python3";
	nargv[k++] = "-I";
	nargv[k++] = "-S";
	nargv[k++] = "-B";
	nargv[k++] = PYRKT_LIBDIR "/rktrun_entry.py";
	nargv[k++] = mode;
	for (int i = 1; i < argc; i++)
		nargv[k++] = argv[i];
	nargv[k] = NULL;
	char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	execve(PYRKT_PYTHON, nargv, envp);
	die("cannot execute " PYRKT_PYTHON, strerror(errno));
	return 126;
}
