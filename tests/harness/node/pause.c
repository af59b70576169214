/* The pod sandbox process of the test node (tests/harness/node.sh): PID 1 of each pod, it holds
 * the pod's namespaces, reaps the zombies of the pod and exits on SIGINT/SIGTERM, like
 * Kubernetes' own pause. Built statically by scripts/build-image.sh --pause into a one-file image
 * (no image registry is reachable here, so the usual registry.k8s.io/pause cannot be pulled). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
        (void)sig;
        _exit(0);
}

static void on_child(int sig)
{
        (void)sig;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

int main(void)
{
        if (getpid() != 1)
                fprintf(stderr, "pause: not PID 1; still waiting\n");
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_stop;
        if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL))
                return 1;
        sa.sa_handler = on_child;
        sa.sa_flags = SA_NOCLDSTOP;
        if (sigaction(SIGCHLD, &sa, NULL))
                return 2;
        for (;;)
                pause();
        return 42;
}
