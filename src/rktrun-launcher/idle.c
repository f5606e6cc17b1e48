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
#include <signal.h>
#include <stddef.h>

int main(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;)
		if (sigwaitinfo(&set, NULL) > 0)
			return 0;
}
