/* Signals that land inside the shim.  A program that sleeps in
 * epoll_wait/poll relies on the signal interrupting that sleep (nginx sets
 * a flag in its handler and looks at it when epoll_wait returns EINTR).
 * Between the program's call and the shim's real system call there is
 * stack work, a window much wider than libc's: a signal handled there
 * would leave the thread asleep with the flag set.  So the shim installs
 * its own trampoline in front of every handler the program sets
 * (sigaction), counting handled signals per thread; a wait whose count
 * moved since it started returns EINTR instead of sleeping, as the kernel
 * would have.  The program sees its own handlers in sigaction's answers. */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "shim.h"

static __thread unsigned sig_gen __attribute__((tls_model("initial-exec")));
static struct sigaction handlers[_NSIG];
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

unsigned shim_sig_gen(void) { return __atomic_load_n(&sig_gen, __ATOMIC_RELAXED); }

static void trampoline(int sig, siginfo_t *si, void *uc)
{
	const struct sigaction *h = &handlers[sig];

	__atomic_store_n(&sig_gen, sig_gen + 1, __ATOMIC_RELAXED);
	if (h->sa_flags & SA_SIGINFO) {
		if (h->sa_sigaction)
			h->sa_sigaction(sig, si, uc);
	} else if (h->sa_handler != SIG_DFL && h->sa_handler != SIG_IGN) {
		h->sa_handler(sig);
	}
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction mine, prev;
	int wrapped, r;

	if (!real_sigaction) {
		/* looked up here: sanitizer runtimes set handlers before the
		 * shim's constructor runs */
		real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))
			dlsym(RTLD_NEXT, "sigaction");
		if (!real_sigaction)
			return shim_err(ENOSYS);
	}
	if (!shim_active || sig <= 0 || sig >= _NSIG)
		return real_sigaction(sig, act, old);
	wrapped = act && !(act->sa_flags & SA_SIGINFO ? !act->sa_sigaction
			   : act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN);
	if (act && wrapped) {
		mine = *act;
		mine.sa_flags |= SA_SIGINFO;
		mine.sa_sigaction = trampoline;
	}
	r = real_sigaction(sig, act ? (wrapped ? &mine : act) : NULL, &prev);
	if (r < 0)
		return r;
	if (old) {
		*old = prev;
		if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction == trampoline)
			*old = handlers[sig];
	}
	if (act)
		handlers[sig] = *act;
	return 0;
}
