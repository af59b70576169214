/* Unit tests for datagen/control.c's guard of PUT /rate: the decision (token, header, peer)
 * and the token file checks (bad files refused at start with the flag and path named). */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static void test_authorize(void)
{
        /* no token configured: loopback peers only */
        CHECK_INT(kos_control_authorize(NULL, NULL, 1), 0);
        CHECK_INT(kos_control_authorize(NULL, NULL, 0), 403);
        CHECK_INT(kos_control_authorize(NULL, "Bearer anything", 0), 403);
        /* a token configured: the peer address does not matter, the token does */
        CHECK_INT(kos_control_authorize("s3cret", "Bearer s3cret", 0), 0);
        CHECK_INT(kos_control_authorize("s3cret", "bearer  s3cret", 0), 0);
        CHECK_INT(kos_control_authorize("s3cret", NULL, 1), 401);
        CHECK_INT(kos_control_authorize("s3cret", "", 0), 401);
        CHECK_INT(kos_control_authorize("s3cret", "Bearer ", 0), 401);
        CHECK_INT(kos_control_authorize("s3cret", "Basic czNjcmV0", 0), 401);
        CHECK_INT(kos_control_authorize("s3cret", "Bearer s3cre", 0), 403);
        CHECK_INT(kos_control_authorize("s3cret", "Bearer s3cret2", 0), 403);
        CHECK_INT(kos_control_authorize("s3cret", "Bearer S3cret", 0), 403);
        CHECK_INT(kos_control_authorize("s3cret", "Bearer s3cret ", 0), 403);
}

static const char *write_file(const char *content, size_t len)
{
        static char path[] = "/tmp/kos-test-control-XXXXXX";
        strcpy(path, "/tmp/kos-test-control-XXXXXX");
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, content, len) != (ssize_t)len)
                abort();
        close(fd);
        return path;
}

static void token_file(const char *content, size_t len, int want, const char *needle)
{
        kos_control_t *c = kos_control_new(1000);
        char err[512] = "";
        const char *path = write_file(content, len);
        CHECK_INT(kos_control_set_token_file(c, path, err, sizeof(err)), want);
        if (needle && !strstr(err, needle))
                fprintf(stderr, "  error \"%s\" does not mention \"%s\"\n", err, needle);
        CHECK(!needle || strstr(err, needle));
        if (want == -1)
                CHECK(strstr(err, "--control-token-file") != NULL);
        unlink(path);
        kos_control_destroy(c);
}

static void test_token_files(void)
{
        token_file("abc123-._~+/=\n", 14, 0, NULL);
        token_file("  tok\r\n\n", 8, 0, NULL);
        token_file("", 0, -1, "empty");
        token_file("\n \n", 3, -1, "empty");
        token_file("two words\n", 10, -1, "not a bearer token");
        token_file("tok\"en", 6, -1, "not a bearer token");
        token_file("tok\0en", 6, -1, "NUL");
        char big[8192];
        memset(big, 'a', sizeof(big));
        token_file(big, sizeof(big), -1, NULL);
        kos_control_t *c = kos_control_new(1000);
        char err[512];
        CHECK_INT(kos_control_set_token_file(c, "/nonexistent/token", err, sizeof(err)), -1);
        CHECK(strstr(err, "/nonexistent/token") != NULL);
        kos_control_destroy(c);
}

int main(void)
{
        test_authorize();
        test_token_files();
        return check_result("control");
}
