/* What a C program's resolver does with our answers: getaddrinfo(NAME) COUNT times (AF_UNSPEC, SOCK_STREAM, the
   way most programs ask), one line per call: the addresses in the order the C library returns them, or
   "ERR <gai_strerror>". Built twice by the tests: with gcc against glibc, with musl-gcc -static against musl.
   Usage: getaddrinfo_probe NAME COUNT */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[2]);
    for (int i = 0; i < count; i++) {
        struct addrinfo hints, *res, *ai;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(argv[1], NULL, &hints, &res);
        if (rc != 0) {
            printf("ERR %s\n", gai_strerror(rc));
            continue;
        }
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            char text[INET6_ADDRSTRLEN];
            const void *addr = ai->ai_family == AF_INET
                ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            inet_ntop(ai->ai_family, addr, text, sizeof text);
            printf("%s%s", ai == res ? "" : " ", text);
        }
        printf("\n");
        freeaddrinfo(res);
    }
    return 0;
}
