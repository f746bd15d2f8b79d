/* zlib-tune.c: how large and how slow zlib is on a plan folder's compressible pieces, for one
 * setting (level, memLevel and deflateTune's good, lazy, nice, chain; 0 0 0 0 keeps zlib's table).
 *
 * Reads file paths from standard input, cuts each file into 1 MiB pieces (the order of
 * PlanVault's 512 KiB average chunks), skips pieces at or above 7.5 bits per byte as PlanVault's
 * probe would, and compresses the rest one at a time. Prints bytes in, bytes out and the process
 * CPU time spent in zlib. STRIDE=N keeps one compressible piece in N (for callgrind).
 * Build: cc -O2 -o zlib-tune zlib-tune.c -lz -lm (zlib-tune.sh does it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

enum { PIECE = 1 << 20 };

static double entropy(const unsigned char *p, size_t n) {
    size_t counts[256] = {0};
    for (size_t i = 0; i < n; i++) counts[p[i]]++;
    double h = 0;
    for (int i = 0; i < 256; i++) {
        if (counts[i]) { double q = (double)counts[i] / n; h -= q * log2(q); }
    }
    return h;
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: zlib-tune LEVEL MEMLEVEL GOOD LAZY NICE CHAIN < file-list\n");
        return 2;
    }
    int level = atoi(argv[1]), mem = atoi(argv[2]);
    int good = atoi(argv[3]), lazy = atoi(argv[4]), nice = atoi(argv[5]), chain = atoi(argv[6]);
    long stride = getenv("STRIDE") ? atol(getenv("STRIDE")) : 1;
    if (stride < 1) stride = 1;
    unsigned char *in = malloc(PIECE), *out = malloc(2 * PIECE);
    if (!in || !out) return 1;
    unsigned long long bytes_in = 0, bytes_out = 0;
    long seen = 0;
    double seconds = 0;
    char path[4096];
    while (fgets(path, sizeof path, stdin)) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "rb");
        if (!f) { fprintf(stderr, "zlib-tune: cannot open %s\n", path); return 1; }
        size_t n;
        while ((n = fread(in, 1, PIECE, f)) > 0) {
            if (n >= 64 && entropy(in, n) >= 7.5) continue;
            if (seen++ % stride) continue;
            double started = cpu_seconds();
            z_stream s;
            memset(&s, 0, sizeof s);
            if (deflateInit2(&s, level, Z_DEFLATED, 15, mem, Z_DEFAULT_STRATEGY) != Z_OK) return 1;
            if (good > 0 && deflateTune(&s, good, lazy, nice, chain) != Z_OK) return 1;
            s.next_in = in; s.avail_in = (uInt)n;
            s.next_out = out; s.avail_out = 2 * PIECE;
            if (deflate(&s, Z_FINISH) != Z_STREAM_END) return 1;
            size_t packed = s.total_out;
            deflateEnd(&s);
            seconds += cpu_seconds() - started;
            bytes_in += n;
            bytes_out += packed < n ? packed : n; /* stored as is when zlib does not help */
        }
        fclose(f);
    }
    printf("level %d memlevel %d tune %d %d %d %d: in %.1f MB, out %.3f MB, zlib %.2f s\n",
           level, mem, good, lazy, nice, chain, bytes_in / 1e6, bytes_out / 1e6, seconds);
    return 0;
}
