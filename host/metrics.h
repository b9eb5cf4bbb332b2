/* `wmhost run --metrics HOST:PORT`: the pipelines' counters in Prometheus'
 * text format at GET /metrics, served by one thread of the host. */
#ifndef WMH_METRICS_H
#define WMH_METRICS_H
#include <stddef.h>

struct wmh_pipeline;
struct wmh_metrics;

/* Remembers now as the process's start (wmhost_start_time_seconds). */
void wmh_metrics_mark_start(void);
/* Checks the address form only (HOST:PORT, [IPV6]:PORT or :PORT); 0 when
 * it is well formed, else -1 with a message. */
int wmh_metrics_parse(const char *addr, char *host, size_t hostlen, char *port, size_t portlen, char *err,
                      size_t errlen);
/* Listens on addr (so a taken port fails before any pipeline starts); NULL
 * with a message when it cannot. */
struct wmh_metrics *wmh_metrics_listen(const char *addr, char *err, size_t errlen);
/* Starts the thread that serves the counters of the pipelines in list, once
 * they have started (they must outlive wmh_metrics_stop); -1 with a message. */
int wmh_metrics_serve(struct wmh_metrics *m, struct wmh_pipeline *list, char *err, size_t errlen);
/* Stops serving, joins the thread, closes the socket; accepts NULL. Call it
 * before the pipelines are joined. */
void wmh_metrics_stop(struct wmh_metrics *m);
/* The exposition text for list (caller frees); NULL when out of memory. */
char *wmh_metrics_render(struct wmh_pipeline *list, size_t *len);
#endif
