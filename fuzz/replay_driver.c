/*
 * replay_driver - runs a fuzz harness over files without libFuzzer, so the
 * committed corpus is an ordinary test on every CI runner and compiler.
 *
 * Usage: fuzz-replay-NAME PATH...
 * Each PATH is a file or a directory whose regular files (not dot-files) are
 * replayed in name order. Every input runs in its own child process, so a
 * crash, abort or (under ASan) leak is pinned to the file that caused it and
 * the remaining inputs still run. Exit status 0 only if at least one input
 * ran and none failed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

typedef struct tally {
    unsigned ran;
    unsigned failed;
} tally;

/* Reads a whole file into an exactly sized heap buffer (so ASan sees reads
 * past the end, as under libFuzzer). Returns NULL on error. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap == 0 ? 4096 : cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (nbuf == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);

    uint8_t *exact = malloc(n == 0 ? 1 : n);
    if (exact == NULL) {
        free(buf);
        return NULL;
    }
    if (n > 0) {
        memcpy(exact, buf, n);
    }
    free(buf);
    *len = n;
    return exact;
}

static void run_file(const char *path, tally *t)
{
    size_t len = 0;
    uint8_t *data = read_file(path, &len);

    t->ran++;
    if (data == NULL) {
        fprintf(stderr, "FAIL %s: cannot read: %s\n", path, strerror(errno));
        t->failed++;
        return;
    }

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "FAIL %s: fork: %s\n", path, strerror(errno));
        free(data);
        t->failed++;
        return;
    }
    if (pid == 0) {
        int rc = LLVMFuzzerTestOneInput(data, len);
        free(data);
        /* exit(), not _exit(): LeakSanitizer checks this input at exit. */
        exit(rc == 0 || rc == -1 ? 0 : 3);
    }
    free(data);

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "FAIL %s: waitpid: %s\n", path, strerror(errno));
            t->failed++;
            return;
        }
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "FAIL %s: killed by signal %d\n", path, WTERMSIG(status));
        t->failed++;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL %s: exit status %d\n", path, WEXITSTATUS(status));
        t->failed++;
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns 0, or -1 if the directory could not be listed. */
static int run_dir(const char *dir, tally *t)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    int ret = 0;

    if (d == NULL) {
        return -1;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (nn == NULL) {
                ret = -1;
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(plen);
        if (names[n] == NULL) {
            ret = -1;
            goto out;
        }
        snprintf(names[n], plen, "%s/%s", dir, e->d_name);
        n++;
    }
    if (n > 0) {
        qsort(names, n, sizeof *names, cmp_names);
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            run_file(names[i], t);
        }
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    closedir(d);
    return ret;
}

int main(int argc, char **argv)
{
    tally t = {0, 0};
    const char *prog = argc > 0 ? argv[0] : "fuzz-replay";

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-DIRECTORY...\n", prog);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", prog, argv[i], strerror(errno));
            return 2;
        }
        if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &t) != 0) {
                fprintf(stderr, "%s: cannot list %s: %s\n", prog, argv[i], strerror(errno));
                return 2;
            }
        } else {
            run_file(argv[i], &t);
        }
    }

    printf("%s: %u inputs ran; %u passed, %u failed\n", prog, t.ran, t.ran - t.failed,
           t.failed);
    if (t.ran == 0) {
        fprintf(stderr, "%s: no inputs found; an empty corpus tests nothing\n", prog);
        return 1;
    }
    return t.failed == 0 ? 0 : 1;
}
