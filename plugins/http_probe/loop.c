/*
 * http_probe: the event loop thread. One libcurl multi handle driven by
 * curl_multi_socket_action and epoll runs every check; a min-heap of due
 * times schedules targets on fixed slots (origin + phase + k * interval), so
 * they spread over the interval and never drift. Finished checks are
 * measured into the ring that run() turns into records for api->emit, so a
 * blocked sink never stalls in-flight transfers or distorts their timing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http_probe.h"

#define HP_MAX_EVENTS 256
#define HP_MAX_WAIT_MS 1000          /* re-check stop/ring at least this often */
#define HP_SKIP_REPORT_US 10000000LL /* at most one "skipped" warning per 10 s */
#define HP_FDS_PER_CHECK 2           /* socket + resolver/eventfd headroom */
#define HP_FDS_RESERVED 64

struct hp_loop;

/* One in-flight check. */
struct hp_slot {
	CURL *easy;
	struct hp_target *t;
	struct hp_loop *lp;
	int64_t start_us; /* wall clock */
	uint64_t body_bytes;
	bool too_large;
	bool busy; /* added to the multi handle */
	struct hp_matcher m;
	/* phases per request of a redirect chain (see account_request) */
	int64_t seen_dns_us, seen_conn_us, seen_app_us; /* curl's counters at the last request boundary */
	int64_t connect_sum_us, tls_sum_us;
	unsigned connected_requests, tls_requests;
	/* the request under way, until on_prereq: its first socket and its TCP
	 * connection (monotonic µs, 0 if not yet), for a connection that never
	 * completes (see fill_phases) */
	int64_t req_socket_us, req_tcp_us;
	long done_local_port; /* of the last request whose connection completed */
	char errbuf[CURL_ERROR_SIZE];
	struct hp_slot *next_free;
};

struct hp_loop {
	struct hp_ctx *c;
	struct hp_lane *ln;
	CURLM *multi;
	int ep;
	int64_t timer_due_us; /* curl's timeout, monotonic; INT64_MAX if none */
	int64_t origin_us;
	size_t *heap; /* target indexes ordered by next_due_us */
	size_t heap_n;
	size_t *ready; /* FIFO of targets waiting for an in-flight place */
	size_t ready_head, ready_n;
	struct hp_slot *slots;
	struct hp_slot *free_slots;
	size_t in_flight;
	int64_t next_skip_report_us;
	int64_t action_us; /* monotonic: when the current curl_multi_socket_action call began */
};

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- the schedule heap ------------------------------------------------- */

static int64_t due_of(struct hp_loop *lp, size_t i)
{
	return lp->c->targets[lp->heap[i]].next_due_us;
}

static void heap_swap(struct hp_loop *lp, size_t a, size_t b)
{
	size_t t = lp->heap[a];
	lp->heap[a] = lp->heap[b];
	lp->heap[b] = t;
}

static void heap_push(struct hp_loop *lp, size_t target)
{
	size_t i = lp->heap_n++;
	lp->heap[i] = target;
	while (i > 0 && due_of(lp, (i - 1) / 2) > due_of(lp, i)) {
		heap_swap(lp, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static size_t heap_pop(struct hp_loop *lp)
{
	size_t top = lp->heap[0];
	lp->heap[0] = lp->heap[--lp->heap_n];
	for (size_t i = 0;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < lp->heap_n && due_of(lp, l) < due_of(lp, m))
			m = l;
		if (r < lp->heap_n && due_of(lp, r) < due_of(lp, m))
			m = r;
		if (m == i)
			break;
		heap_swap(lp, i, m);
		i = m;
	}
	return top;
}

/* --- curl callbacks ---------------------------------------------------- */

/*
 * libcurl 7.88 books no connect time for a connection whose TLS handshake
 * never completes, so the TCP connect of the request under way is timed
 * here: from its first socket (created right after the name lookup, just
 * before connect()) to the start of the loop pass in which libcurl, the TCP
 * handshake done, first waits to read (for the TLS server's answer). That
 * pass began when the loop saw the socket writable, where libcurl's own
 * timer stops too.
 */
static int on_sockopt(void *userp, curl_socket_t fd, curlsocktype purpose)
{
	struct hp_slot *s = userp;
	if (purpose == CURLSOCKTYPE_IPCXN && !s->req_socket_us)
		s->req_socket_us = mono_us();
	return CURL_SOCKOPT_OK;
}

static void note_tcp_up(CURL *e, struct hp_loop *lp)
{
	struct hp_slot *s = NULL;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
	/* a socket opened for this request, so not the resolver's */
	if (s && s->req_socket_us && !s->req_tcp_us)
		s->req_tcp_us = lp->action_us > s->req_socket_us ? lp->action_us : s->req_socket_us;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct hp_loop *lp = userp;
	struct epoll_event ev = {0};
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(lp->ep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN) /* a TCP connect waits for writability only */
		note_tcp_up(e, lp);
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	if (socketp) {
		epoll_ctl(lp->ep, EPOLL_CTL_MOD, s, &ev);
		return 0;
	}
	/* A new socket for curl; mark it so later calls modify it. */
	if (epoll_ctl(lp->ep, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
		epoll_ctl(lp->ep, EPOLL_CTL_MOD, s, &ev);
	curl_multi_assign(lp->multi, s, lp);
	return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct hp_loop *lp = userp;
	lp->timer_due_us = timeout_ms < 0 ? INT64_MAX : mono_us() + (int64_t)timeout_ms * 1000;
	return 0;
}

/* Body bytes: counted and matched as they stream, never stored whole. */
static size_t on_body(char *p, size_t size, size_t nmemb, void *userp)
{
	struct hp_slot *s = userp;
	size_t n = size * nmemb;
	uint64_t room = (uint64_t)s->t->max_body - s->body_bytes;
	size_t take = n <= room ? n : (size_t)room;
	hp_matcher_feed(&s->m, (const unsigned char *)p, take);
	s->body_bytes += take;
	if (take < n) {
		s->too_large = true;
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

/*
 * curl's phase counters are cumulative over the requests of a redirect chain,
 * but CONNECT grows on every request while APPCONNECT grows only on TLS ones:
 * appconnect - connect is no TLS time once a plain http:// request came
 * first. So the growth of the counters is booked per request: once when its
 * connection is up (on_prereq) and once when the check ends, for a request
 * whose connection came up after its last call (none usually).
 */
static void account_request(struct hp_slot *s)
{
	curl_off_t dns = 0, conn = 0, app = 0;
	curl_easy_getinfo(s->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
	curl_easy_getinfo(s->easy, CURLINFO_CONNECT_TIME_T, &conn);
	curl_easy_getinfo(s->easy, CURLINFO_APPCONNECT_TIME_T, &app);
	int64_t d_conn = conn - s->seen_conn_us, d_app = app - s->seen_app_us;
	if (d_conn > 0) {
		int64_t tcp = d_conn - (dns - s->seen_dns_us);
		s->connect_sum_us += tcp > 0 ? tcp : 0;
		s->connected_requests++;
		s->seen_conn_us = conn;
		s->seen_dns_us = dns;
	}
	if (d_app > 0) {
		int64_t tls = d_app - (d_conn > 0 ? d_conn : 0);
		s->tls_sum_us += tls > 0 ? tls : 0;
		s->tls_requests++;
		s->seen_app_us = app;
	}
}

/* Once per request, after its connection (TCP, and TLS for https) is up. */
static int on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct hp_slot *s = userp;
	account_request(s);
	s->req_socket_us = s->req_tcp_us = 0;
	s->done_local_port = local_port;
	return CURL_PREREQFUNC_OK;
}

/* --- starting a check ---------------------------------------------------- */

static int start_check(struct hp_loop *lp, struct hp_target *t)
{
	struct hp_ctx *c = lp->c;
	struct hp_slot *s = lp->free_slots;
	if (s->easy) {
		curl_easy_reset(s->easy);
	} else if (!(s->easy = curl_easy_init())) {
		return -1;
	}
	if (hp_matcher_init(&s->m, t->pattern, (size_t)t->max_body))
		return -1;
	lp->free_slots = s->next_free;
	s->t = t;
	s->lp = lp;
	s->body_bytes = 0;
	s->too_large = false;
	s->seen_dns_us = s->seen_conn_us = s->seen_app_us = 0;
	s->connect_sum_us = s->tls_sum_us = 0;
	s->connected_requests = s->tls_requests = 0;
	s->req_socket_us = s->req_tcp_us = 0;
	s->done_local_port = 0;
	s->errbuf[0] = '\0';

	CURL *e = s->easy;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, s);
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->timeout_ms);
	/* Honest timings: every check resolves, connects and handshakes anew. */
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	/* a probe talks to the target itself: no proxy from the environment,
	 * which also spares a getenv() round per check */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->follow ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, t->max_redirects);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, t->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, t->tls_verify ? 2L : 0L);
	curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
	if (t->ca_file || c->ca_file) {
		/* only this file: Debian's libcurl also reads a CA directory */
		curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file ? t->ca_file : c->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	curl_easy_setopt(e, CURLOPT_IPRESOLVE, t->ipresolve);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, t->httpver);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	if (c->user_agent)
		curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	if (strcmp(t->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		if (t->body) {
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
		}
		if (strcmp(t->method, t->body ? "POST" : "GET") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->method);
	}

	s->start_us = hp_api->now_us();
	if (curl_multi_add_handle(lp->multi, e) != CURLM_OK) {
		s->next_free = lp->free_slots;
		lp->free_slots = s;
		return -1;
	}
	s->busy = true;
	t->state = HP_RUNNING;
	lp->in_flight++;
	lp->ln->checks++;
	return 0;
}

/* --- finishing a check ----------------------------------------------------- */

static int is_tls_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return 1;
	default:
		return 0;
	}
}

static const char *result_of(CURLcode rc)
{
	if (is_tls_error(rc))
		return "tls_error";
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT: return "timeout";
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return "dns_error";
	case CURLE_COULDNT_CONNECT: return "connect_error";
	case CURLE_TOO_MANY_REDIRECTS: return "too_many_redirects";
	default: return "error";
	}
}

/* "Dec  7 21:48:04 2026 GMT" (OpenSSL's ASN1_TIME_print) → µs since epoch. */
static int parse_expire(const char *s, int64_t *us)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4] = "";
	struct tm tm = {0};
	if (sscanf(s, "%3s %d %d:%d:%d %d", mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &tm.tm_year) != 6)
		return -1;
	const char *m = strstr(months, mon);
	if (!m || strlen(mon) != 3 || (m - months) % 3)
		return -1;
	tm.tm_mon = (int)((m - months) / 3);
	tm.tm_year -= 1900;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*us = (int64_t)t * 1000000;
	return 0;
}

/* The earliest notAfter of the served chain: when the chain stops working. */
static int tls_expiry(CURL *e, int64_t *us)
{
	struct curl_certinfo *ci = NULL;
	int found = 0;
	static const char key[] = "Expire date:";
	if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci)
		return 0;
	for (int i = 0; i < ci->num_of_certs; i++) {
		for (struct curl_slist *l = ci->certinfo[i]; l; l = l->next) {
			int64_t v;
			if (strncasecmp(l->data, key, sizeof(key) - 1) == 0 && parse_expire(l->data + sizeof(key) - 1, &v) == 0 &&
			    (!found || v < *us)) {
				*us = v;
				found = 1;
			}
		}
	}
	return found;
}

/*
 * The record's phases, each summed over the requests that completed it.
 * Returns true when the last request's TCP connection came up but the
 * connection never completed: with https, the TLS handshake did not.
 */
static bool fill_phases(struct hp_slot *s, struct hp_result *res)
{
	curl_off_t dns = 0, pre = 0, first_byte = 0;
	unsigned booked = s->connected_requests, tls_booked = s->tls_requests;
	bool unfinished = false;
	account_request(s);
	if (s->req_socket_us && s->connected_requests == booked) {
		/* Sockets were opened after the last completed connection and
		 * libcurl booked no connect time for them. A local port other
		 * than the last completed connection's also shows a TCP
		 * connection, in case it came up unseen by note_tcp_up (then it
		 * came up by the loop's last pass, at the latest). */
		long port = 0;
		curl_easy_getinfo(s->easy, CURLINFO_LOCAL_PORT, &port);
		int64_t up = s->req_tcp_us;
		if (!up && port > 0 && port != s->done_local_port)
			up = s->lp->action_us > s->req_socket_us ? s->lp->action_us : s->req_socket_us;
		if (up) {
			s->connect_sum_us += up - s->req_socket_us;
			s->connected_requests++;
			unfinished = true;
		}
	} else if (s->req_socket_us && s->tls_requests == tls_booked) {
		unfinished = true; /* connected (booked by a newer libcurl), not completed */
	}
	curl_easy_getinfo(s->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
	curl_easy_getinfo(s->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
	curl_easy_getinfo(s->easy, CURLINFO_STARTTRANSFER_TIME_T, &first_byte);
	res->dns_us = dns > 0 || s->connected_requests ? dns : HP_PHASE_NONE;
	res->connect_us = s->connected_requests ? s->connect_sum_us : HP_PHASE_NONE;
	res->tls_us = s->tls_requests ? s->tls_sum_us : HP_PHASE_NONE;
	res->ttfb_us = first_byte <= 0 ? HP_PHASE_NONE : first_byte > pre ? first_byte - pre : 0;
	return unfinished;
}

static bool is_https(CURL *e)
{
	char *url = NULL;
	return curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url &&
	       strncasecmp(url, "https:", 6) == 0;
}

/* Fills res from a finished transfer: classification, phases, TLS expiry. */
static void fill_result(struct hp_slot *s, CURLcode rc, struct hp_result *res)
{
	struct hp_target *t = s->t;
	CURL *e = s->easy;
	char *ip = NULL;
	curl_off_t v;

	*res = (struct hp_result){0};
	res->t = t;
	res->start_us = s->start_us;
	res->result = "ok";
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res->code);
	curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &res->httpver);
	curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &res->redirects);
	curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
	if (ip) {
		size_t n = strnlen(ip, sizeof(res->ip) - 1);
		memcpy(res->ip, ip, n);
		res->ip[n] = '\0';
	}
	bool unfinished = fill_phases(s, res);
	res->total_us = curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &v) == CURLE_OK ? v : 0;
	res->has_expiry = tls_expiry(e, &res->expires_us);
	res->body_bytes = s->body_bytes;

	if (s->too_large) {
		res->result = "body_too_large";
		snprintf(res->msg, sizeof(res->msg), "body larger than max_body (%" PRId64 " bytes)", t->max_body);
	} else if (rc != CURLE_OK) {
		res->result = result_of(rc);
		snprintf(res->msg, sizeof(res->msg), "%s%s",
		         unfinished && is_https(e) ? "TLS handshake did not complete: " : "",
		         s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
	} else {
		hp_matcher_finish(&s->m);
		if (!hp_status_ok(t->status, res->code)) {
			res->result = "status_mismatch";
			snprintf(res->msg, sizeof(res->msg), "status %ld not in %s", res->code, t->status->text);
		} else if (t->pattern && s->m.failed) {
			PCRE2_UCHAR pm[128];
			pcre2_get_error_message(s->m.failed, pm, sizeof(pm));
			res->result = "error";
			snprintf(res->msg, sizeof(res->msg), "pattern match failed: %s", (char *)pm);
		} else if (t->pattern && s->m.matched == t->invert) {
			res->result = "pattern_mismatch";
			snprintf(res->msg, sizeof(res->msg),
			         t->invert ? "pattern found in body (pattern_must_not_match)"
			                   : "pattern not found in %" PRIu64 " body bytes",
			         s->body_bytes);
		}
	}
	/* no response, no body to judge */
	res->pattern_matched = t->pattern && res->code != 0 ? s->m.matched : -1;
}

static void finish_checks(struct hp_loop *lp)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(lp->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct hp_slot *s = NULL;
		CURL *e = msg->easy_handle;
		CURLcode rc = msg->data.result;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
		/* start_ready() kept a ring place for every check in flight */
		fill_result(s, rc, hp_ring_slot(lp->ln));
		hp_ring_commit(lp->ln);
		curl_multi_remove_handle(lp->multi, e);
		s->busy = false;
		s->t->state = HP_IDLE;
		hp_matcher_reset(&s->m);
		s->next_free = lp->free_slots;
		lp->free_slots = s;
		lp->in_flight--;
	}
}

/* --- scheduling ------------------------------------------------------------ */

/* The first slot after now on the target's fixed grid. */
static int64_t next_slot(struct hp_loop *lp, const struct hp_target *t, int64_t now)
{
	int64_t first = lp->origin_us + t->phase_us;
	if (now < first)
		return first;
	return first + ((now - first) / t->interval_us + 1) * t->interval_us;
}

static void dispatch_due(struct hp_loop *lp, int64_t now)
{
	struct hp_ctx *c = lp->c;
	struct hp_lane *ln = lp->ln;
	while (lp->heap_n && due_of(lp, 0) <= now) {
		size_t i = heap_pop(lp);
		struct hp_target *t = &c->targets[i];
		if (t->state != HP_IDLE) {
			/* still running or waiting: skip this slot, never queue it */
			t->skipped++;
			ln->skipped++;
		} else {
			t->state = HP_READY;
			lp->ready[(lp->ready_head + lp->ready_n++) % ln->n_targets] = i;
		}
		if (!c->run_once) {
			t->next_due_us = next_slot(lp, t, now);
			heap_push(lp, i);
		}
	}
	if (ln->skipped != ln->skipped_logged && now >= lp->next_skip_report_us) {
		hp_api->log(c->inst, WM_LOG_WARN,
		            "%" PRIu64 " checks skipped so far (%" PRIu64 " new): their previous check was still "
		            "running or waiting at the next slot; raise max_in_flight or interval",
		            ln->skipped, ln->skipped - ln->skipped_logged);
		ln->skipped_logged = ln->skipped;
		lp->next_skip_report_us = now + HP_SKIP_REPORT_US;
	}
}

/* Starts waiting checks while the in-flight cap and the ring allow. */
static void start_ready(struct hp_loop *lp)
{
	struct hp_ctx *c = lp->c;
	struct hp_lane *ln = lp->ln;
	for (;;) {
		/* every in-flight check owns one ring place, so completions never wait */
		size_t room = hp_ring_room(ln);
		while (lp->ready_n && lp->in_flight < (size_t)ln->max_in_flight && lp->in_flight < room) {
			size_t i = lp->ready[lp->ready_head];
			struct hp_target *t = &c->targets[i];
			if (start_check(lp, t) < 0) {
				hp_api->log(c->inst, WM_LOG_ERROR, "cannot start a check of %s (out of memory?)", t->url);
				return;
			}
			lp->ready_head = (lp->ready_head + 1) % ln->n_targets;
			lp->ready_n--;
		}
		if (!lp->ready_n || lp->in_flight >= (size_t)ln->max_in_flight)
			return;
		/* Blocked by a full ring (a slow sink): ask run() for a wake-up,
		 * then look again in case it freed places meanwhile. */
		atomic_store(&ln->loop_waits_for_ring, true);
		if (hp_ring_room(ln) <= lp->in_flight)
			return;
		atomic_store(&ln->loop_waits_for_ring, false);
	}
}

/* --- the loop ---------------------------------------------------------------- */

static void raise_fd_limit(struct hp_ctx *c)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)c->max_in_flight * HP_FDS_PER_CHECK + HP_FDS_RESERVED;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < need)
			hp_api->log(c->inst, WM_LOG_WARN,
			            "open file limit %llu is low for max_in_flight %" PRId64 "; checks may fail to connect",
			            (unsigned long long)rl.rlim_cur, c->max_in_flight);
	}
}

static size_t slot_count(const struct hp_lane *ln)
{
	return (size_t)ln->max_in_flight < ln->n_targets ? (size_t)ln->max_in_flight : ln->n_targets;
}

static int loop_init(struct hp_loop *lp, struct hp_lane *ln)
{
	struct hp_ctx *c = ln->c;
	memset(lp, 0, sizeof(*lp));
	lp->c = c;
	lp->ln = ln;
	lp->ep = -1;
	lp->timer_due_us = INT64_MAX;
	size_t nslots = slot_count(ln);
	lp->heap = calloc(ln->n_targets, sizeof(*lp->heap));
	lp->ready = calloc(ln->n_targets, sizeof(*lp->ready));
	lp->slots = calloc(nslots, sizeof(*lp->slots));
	if (!lp->heap || !lp->ready || !lp->slots)
		return -1;
	for (size_t i = 0; i < nslots; i++) {
		lp->slots[i].next_free = lp->free_slots;
		lp->free_slots = &lp->slots[i];
	}
	if ((lp->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln->wake_fd};
	if (epoll_ctl(lp->ep, EPOLL_CTL_ADD, ln->wake_fd, &ev) < 0)
		return -1;
	if (!(lp->multi = curl_multi_init()))
		return -1;
	curl_multi_setopt(lp->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(lp->multi, CURLMOPT_SOCKETDATA, lp);
	curl_multi_setopt(lp->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(lp->multi, CURLMOPT_TIMERDATA, lp);

	/* Phases spread all targets evenly over their interval, across lanes. */
	lp->origin_us = mono_us();
	for (size_t i = ln->idx; i < c->n_targets; i += c->n_lanes) {
		struct hp_target *t = &c->targets[i];
		t->state = HP_IDLE;
		t->phase_us = c->run_once ? 0 : (int64_t)((double)i * (double)t->interval_us / (double)c->n_targets);
		t->next_due_us = lp->origin_us + t->phase_us;
		heap_push(lp, i);
	}
	return 0;
}

static void loop_free(struct hp_loop *lp)
{
	size_t nslots = slot_count(lp->ln);
	for (size_t i = 0; lp->slots && i < nslots; i++) {
		struct hp_slot *s = &lp->slots[i];
		if (s->easy) {
			if (s->busy)
				curl_multi_remove_handle(lp->multi, s->easy);
			curl_easy_cleanup(s->easy);
		}
		hp_matcher_free(&s->m);
	}
	if (lp->multi)
		curl_multi_cleanup(lp->multi);
	if (lp->ep >= 0)
		close(lp->ep);
	free(lp->slots);
	free(lp->heap);
	free(lp->ready);
}

static void drain_wake(struct hp_lane *ln)
{
	uint64_t v;
	while (read(ln->wake_fd, &v, sizeof(v)) > 0)
		;
}

static int loop_run(struct hp_loop *lp)
{
	struct hp_ctx *c = lp->c;
	struct epoll_event evs[HP_MAX_EVENTS];
	int running = 0;

	while (!atomic_load(&c->abandon)) {
		int64_t now = mono_us(), deadline = INT64_MAX;
		if (atomic_load(&c->stop)) {
			/* draining: nothing new starts; the checks under way may
			 * end within stop_grace and their records go out */
			deadline = atomic_load(&c->stop_deadline_us);
			if (!lp->in_flight)
				break;
			if (now >= deadline) {
				hp_api->log(c->inst, WM_LOG_WARN, "stopping: %zu check(s) still under way abandoned (stop_grace)",
				            lp->in_flight);
				break;
			}
		} else {
			dispatch_due(lp, now);
			start_ready(lp);
			if (c->run_once && !lp->heap_n && !lp->ready_n && !lp->in_flight)
				break;
		}

		int64_t wake = lp->timer_due_us < deadline ? lp->timer_due_us : deadline;
		if (deadline == INT64_MAX && lp->heap_n && due_of(lp, 0) < wake) /* not draining */
			wake = due_of(lp, 0);
		int64_t wait_ms = HP_MAX_WAIT_MS;
		if (wake != INT64_MAX) {
			int64_t d = wake - now;
			wait_ms = d <= 0 ? 0 : (d + 999) / 1000;
			if (wait_ms > HP_MAX_WAIT_MS)
				wait_ms = HP_MAX_WAIT_MS;
		}
		int n = epoll_wait(lp->ep, evs, HP_MAX_EVENTS, (int)wait_ms);
		if (n < 0 && errno != EINTR) {
			hp_api->log(c->inst, WM_LOG_ERROR, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lp->ln->wake_fd) {
				drain_wake(lp->ln);
				continue;
			}
			int flags = 0;
			if (evs[i].events & EPOLLIN)
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				flags |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				flags |= CURL_CSELECT_ERR;
			lp->action_us = mono_us();
			curl_multi_socket_action(lp->multi, fd, flags, &running);
		}
		if (lp->timer_due_us <= mono_us()) {
			lp->timer_due_us = INT64_MAX;
			lp->action_us = mono_us();
			curl_multi_socket_action(lp->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		}
		finish_checks(lp);
	}
	return 0;
}

void *hp_loop_main(void *arg)
{
	struct hp_lane *ln = arg;
	struct hp_ctx *c = ln->c;
	struct hp_loop lp;
	int rc = -1;
	raise_fd_limit(c);
	if (loop_init(&lp, ln) < 0) {
		hp_api->log(c->inst, WM_LOG_ERROR, "cannot set up the event loop: %s", strerror(errno));
	} else {
		rc = loop_run(&lp);
	}
	if (lp.c)
		loop_free(&lp);
	ln->rc = rc;
	atomic_store(&ln->done, true);
	pthread_mutex_lock(&c->mu);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
	return NULL;
}
