/* kvzipf: Zipfian key-value load against a real redis-server over its unix
 * socket (RESP protocol), for the TierVM VM harness (benchmarks/vm).
 *
 *   kvzipf --socket PATH --keys N --value-bytes V --load
 *       SETs keys 0..N-1 (pipelined), each value V bytes.
 *   kvzipf --socket PATH --keys N --run --duration-s D [--theta T]
 *       GETs keys drawn from a Zipf(theta) distribution over ranks; rank r
 *       maps to key (r * P) mod N with P a large prime, so the hot keys are
 *       scattered over the server's heap instead of being the first-loaded
 *       (and first-placed) ones.  Every report_ms one JSON line:
 *       {"t_s", "ops", "ops_per_s", "misses"}.
 * redis-benchmark has no Zipfian key choice, hence this client.  The Zipf
 * sampler is the rejection-free inverse method of Gray et al. ("Quickly
 * generating billion-record synthetic databases", SIGMOD'94), as used by
 * YCSB, written from the paper's formulas.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PIPE 32

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static double urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (rng >> 11) * (1.0 / 9007199254740992.0);
}

static int fd = -1;
static char rbuf[1 << 20];
static size_t rlen, rpos;

static void die(const char *m) {
  fprintf(stderr, "kvzipf: %s: %s\n", m, strerror(errno));
  exit(1);
}

static void send_all(const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= (size_t)w;
  }
}

static int getc_(void) {
  if (rpos == rlen) {
    ssize_t r;
    do r = read(fd, rbuf, sizeof rbuf); while (r < 0 && errno == EINTR);
    if (r <= 0) {
      fprintf(stderr, "kvzipf: server closed the connection\n");
      exit(1);
    }
    rlen = (size_t)r;
    rpos = 0;
  }
  return (unsigned char)rbuf[rpos++];
}

static long read_line_num(void) { /* after the type byte, up to CRLF */
  long v = 0, sign = 1;
  int c;
  while ((c = getc_()) != '\r') {
    if (c == '-') sign = -1;
    else if (c >= '0' && c <= '9') v = v * 10 + (c - '0');
  }
  getc_();
  return v * sign;
}

/* Reads one reply; returns 0 for a nil bulk string (a miss), 1 otherwise. */
static int read_reply(void) {
  int t = getc_();
  if (t == '+' || t == '-' || t == ':') {
    int c, prev = 0;
    int err = t == '-';
    while (!((c = getc_()) == '\n' && prev == '\r')) {
      if (err) fputc(c, stderr);
      prev = c;
    }
    if (err) {
      fprintf(stderr, "\nkvzipf: server error\n");
      exit(1);
    }
    return 1;
  }
  if (t == '$') {
    long n = read_line_num();
    if (n < 0) return 0;
    for (long i = 0; i < n + 2; i++) getc_();
    return 1;
  }
  fprintf(stderr, "kvzipf: unexpected reply type '%c'\n", t);
  exit(1);
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) {
    fprintf(stderr, "kvzipf: bad %s '%s' (want %ld..%ld)\n", what, s, lo, hi);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  const char *sock = NULL;
  long keys = 0, vbytes = 1024, duration_s = 60, report_ms = 2000;
  int load = 0, run = 0;
  double theta = 0.99;
  static struct option opts[] = {
      {"socket", 1, 0, 's'},     {"keys", 1, 0, 'k'},
      {"value-bytes", 1, 0, 'v'}, {"load", 0, 0, 'l'},
      {"run", 0, 0, 'r'},        {"duration-s", 1, 0, 'd'},
      {"theta", 1, 0, 't'},      {"report-ms", 1, 0, 'i'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 's': sock = optarg; break;
      case 'k': keys = parse_long(optarg, "--keys", 1, 1L << 32); break;
      case 'v': vbytes = parse_long(optarg, "--value-bytes", 1, 1 << 20);
        break;
      case 'l': load = 1; break;
      case 'r': run = 1; break;
      case 'd': duration_s = parse_long(optarg, "--duration-s", 1, 1 << 20);
        break;
      case 'i': report_ms = parse_long(optarg, "--report-ms", 100, 600000);
        break;
      case 't': {
        char *end;
        theta = strtod(optarg, &end);
        if (*end || !(theta > 0 && theta < 1)) {
          fprintf(stderr, "kvzipf: --theta must be in (0, 1)\n");
          return 2;
        }
        break;
      }
      default:
        fprintf(stderr, "usage: kvzipf --socket PATH --keys N "
                        "[--value-bytes V] (--load | --run [--duration-s D] "
                        "[--theta T] [--report-ms MS])\n");
        return 2;
    }
  }
  if (!sock || !keys || load == run) {
    fprintf(stderr, "kvzipf: need --socket, --keys and one of --load/--run\n");
    return 2;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof sa.sun_path) {
    fprintf(stderr, "kvzipf: socket path too long\n");
    return 2;
  }
  strcpy(sa.sun_path, sock);
  fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
    die("connect");

  char *cmd = malloc((size_t)vbytes + 256);
  if (!cmd) die("malloc");
  if (load) {
    char *val = malloc((size_t)vbytes);
    if (!val) die("malloc");
    for (long i = 0; i < vbytes; i++) val[i] = 'a' + (char)(i % 26);
    for (long k = 0; k < keys; k += PIPE) {
      long n = keys - k < PIPE ? keys - k : PIPE;
      for (long j = 0; j < n; j++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "k%ld", k + j);
        int hl = snprintf(cmd, 256, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%ld\r\n",
                          kl, key, vbytes);
        memcpy(cmd + hl, val, (size_t)vbytes);
        memcpy(cmd + hl + vbytes, "\r\n", 2);
        send_all(cmd, (size_t)hl + (size_t)vbytes + 2);
      }
      for (long j = 0; j < n; j++) read_reply();
    }
    printf("{\"loaded_keys\":%ld,\"value_bytes\":%ld}\n", keys, vbytes);
    return 0;
  }
  /* Gray et al.: zeta(n, theta), alpha, eta. */
  double zetan = 0, zeta2 = 1 + pow(0.5, theta);
  for (long i = 1; i <= keys; i++) zetan += pow((double)i, -theta);
  double alpha = 1 / (1 - theta);
  double eta = (1 - pow(2.0 / keys, 1 - theta)) / (1 - zeta2 / zetan);
  const uint64_t prime = 2654435761ULL;
  double t0 = now_s(), last = t0;
  unsigned long ops = 0, misses = 0;
  for (;;) {
    for (int j = 0; j < PIPE; j++) {
      double u = urand(), uz = u * zetan, rank;
      if (uz < 1) rank = 0;
      else if (uz < zeta2) rank = 1;
      else rank = floor(keys * pow(eta * u - eta + 1, alpha));
      if (rank >= keys) rank = keys - 1;
      uint64_t key = ((uint64_t)rank * prime) % (uint64_t)keys;
      char ks[32];
      int kl = snprintf(ks, sizeof ks, "k%llu", (unsigned long long)key);
      int hl = snprintf(cmd, 256, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", kl, ks);
      send_all(cmd, (size_t)hl);
    }
    for (int j = 0; j < PIPE; j++) misses += !read_reply();
    ops += PIPE;
    double t = now_s();
    if ((t - last) * 1000 >= report_ms) {
      printf("{\"t_s\":%.2f,\"ops\":%lu,\"ops_per_s\":%.0f,\"misses\":%lu}\n",
             t - t0, ops, ops / (t - last), misses);
      fflush(stdout);
      ops = misses = 0;
      last = t;
      if (t - t0 >= duration_s) break;
    }
  }
  return 0;
}
