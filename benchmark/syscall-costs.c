// What the system calls of one small append and its wake-up cost on this machine, when
// they come 1 ms apart (as in the latency benchmark at 1,000/s) and back to back: the
// floor under the "native append" stage of latency-stages.js. Plain C, so that no
// runtime is measured with them.
//   gcc -O2 -o /tmp/syscall-costs benchmark/syscall-costs.c && /tmp/syscall-costs
// Per call, p50 / p99 in µs of 3,000: flock(LOCK_EX), a 165-byte pwrite (one 100 B
// record's batch) at the end of a file, flock(LOCK_UN), and a FUTEX_WAKE of a waiter
// sleeping in another process on a shared mapping (as an append wakes a consumer).
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N 3000

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void report(const char *what, double *xs) {
  qsort(xs, N, sizeof *xs, by_value);
  printf("  %-28s p50 %6.1f   p99 %6.1f\n", what, xs[N / 2], xs[N * 99 / 100]);
}

int main(void) {
  char dir[] = "/tmp/syscall-costs-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  char path[64];
  snprintf(path, sizeof path, "%s/lock", dir);
  int lock = open(path, O_RDWR | O_CREAT, 0644);
  snprintf(path, sizeof path, "%s/log", dir);
  int log = open(path, O_RDWR | O_CREAT, 0644);
  snprintf(path, sizeof path, "%s/word", dir);
  int wf = open(path, O_RDWR | O_CREAT, 0644);
  if (lock < 0 || log < 0 || wf < 0 || ftruncate(wf, 4096)) return 1;
  _Atomic unsigned *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, wf, 0);
  if (word == MAP_FAILED) return 1;
  char rec[165];
  memset(rec, 0x61, sizeof rec);
  double *lk = malloc(N * sizeof(double)), *wr = malloc(N * sizeof(double));
  double *un = malloc(N * sizeof(double)), *wk = malloc(N * sizeof(double));
  off_t end = 0;
  for (int gap = 1000; gap >= 0; gap -= 1000) {
    atomic_store(word, 0);
    pid_t waiter = fork();
    if (waiter == 0) {
      for (;;) {
        unsigned seen = atomic_load(word);
        if (seen >= N) _exit(0);
        syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0);
      }
    }
    usleep(100000);
    for (int i = 0; i < N; i++) {
      if (gap) usleep(gap);
      double t0 = now_us();
      flock(lock, LOCK_EX);
      double t1 = now_us();
      if (pwrite(log, rec, sizeof rec, end) != sizeof rec) return 1;
      end += sizeof rec;
      double t2 = now_us();
      flock(lock, LOCK_UN);
      double t3 = now_us();
      atomic_fetch_add(word, 1);
      syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
      double t4 = now_us();
      lk[i] = t1 - t0, wr[i] = t2 - t1, un[i] = t3 - t2, wk[i] = t4 - t3;
    }
    waitpid(waiter, NULL, 0);
    printf(gap ? "1 ms apart (µs):\n" : "back to back (µs):\n");
    report("flock(LOCK_EX)", lk);
    report("pwrite, 165 bytes", wr);
    report("flock(LOCK_UN)", un);
    report("FUTEX_WAKE, waiter elsewhere", wk);
  }
  snprintf(path, sizeof path, "rm -rf %s", dir);
  return system(path);
}
