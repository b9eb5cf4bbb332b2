/* Ordered acknowledgement: per source stream, the highest position such
 * that it and everything emitted before it is done. */
#ifndef WMH_ACKS_H
#define WMH_ACKS_H
#include <stdatomic.h>
#include <stdint.h>

struct wm_record;
struct wmh_acks;

struct wmh_acks *wmh_acks_new(void);
void wmh_acks_free(struct wmh_acks *a);
/* Registers a record (in emission order) if it carries a position. */
int wmh_acks_track(struct wmh_acks *a, struct wm_record *r);
/* Marks r done. Returns 1 and sets stream and offset when the contiguous
 * acknowledged position of r's stream advanced (the caller then acks it),
 * else 0. */
int wmh_acks_done(struct wmh_acks *a, const struct wm_record *r, uint32_t *stream, int64_t *offset);
/* Says the caller has passed r's acknowledgement on (or had none to pass):
 * only then does r stop counting as outstanding, so wait_idle never returns
 * while an ack() to the source is still on its way. */
void wmh_acks_settled(struct wmh_acks *a, const struct wm_record *r);
void wmh_acks_settled_n(struct wmh_acks *a, uint64_t n); /* n tracked records at once */
/* Waits until nothing tracked is outstanding; 0, or -1 on timeout or when
 * *abort becomes true. */
int wmh_acks_wait_idle(struct wmh_acks *a, int64_t timeout_us, atomic_int *abort);
uint64_t wmh_acks_outstanding(struct wmh_acks *a);
/* Wakes waiters (on abort). */
void wmh_acks_wake(struct wmh_acks *a);
#endif
