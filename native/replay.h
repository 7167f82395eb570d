// Anti-replay window, RFC 6479: a ring of 64 32-bit words, 2016 usable
// counters behind the highest seen; the same semantics as
// src/secsock/replay.ts (docs/PROTOCOL.md §3). `check` only looks; `mark`
// runs after the datagram authenticated, so a forgery never moves the window.
#ifndef INSEL_REPLAY_H
#define INSEL_REPLAY_H
#include <stdint.h>

#define REPLAY_WORDS 64
#define REPLAY_WINDOW ((REPLAY_WORDS - 1) * 32)

typedef struct {
  uint32_t ring[REPLAY_WORDS];
  uint64_t last;
} replay_t;

enum { REPLAY_OK = 0, REPLAY_SEEN = 1, REPLAY_TOO_OLD = 2 };

static inline int replay_check(const replay_t *w, uint64_t c) {
  if (c > w->last) return REPLAY_OK;
  if (c + REPLAY_WINDOW < w->last) return REPLAY_TOO_OLD;
  return (w->ring[(c / 32) % REPLAY_WORDS] >> (c % 32)) & 1 ? REPLAY_SEEN : REPLAY_OK;
}

static inline void replay_mark(replay_t *w, uint64_t c) {
  uint64_t index = c / 32;
  if (c > w->last) {
    // Moving forward clears the words the window slid over, whole at a time.
    uint64_t current = w->last / 32, diff = index - current;
    if (diff > REPLAY_WORDS) diff = REPLAY_WORDS;
    for (uint64_t i = 1; i <= diff; i++) w->ring[(current + i) % REPLAY_WORDS] = 0;
    w->last = c;
  }
  w->ring[index % REPLAY_WORDS] |= 1u << (c % 32);
}

#endif
