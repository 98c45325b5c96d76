// Typed wrappers for libcurl's variadic functions, which Swift cannot call directly.
#ifndef FORESIGHT_CCURL_SHIM_H
#define FORESIGHT_CCURL_SHIM_H
#include <curl/curl.h>

static inline CURLcode fs_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode fs_curl_setopt_blob(CURL *h, CURLoption o, void *data, size_t len) {
    struct curl_blob b; b.data = data; b.len = len; b.flags = CURL_BLOB_COPY;
    return curl_easy_setopt(h, o, &b);
}

typedef size_t (*fs_curl_data_callback)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode fs_curl_setopt_write_function(CURL *h, fs_curl_data_callback f) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f); }
static inline CURLcode fs_curl_setopt_header_function(CURL *h, fs_curl_data_callback f) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, f); }
static inline CURLcode fs_curl_setopt_read_function(CURL *h, fs_curl_data_callback f) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, f); }

typedef int (*fs_curl_xfer_callback)(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static inline CURLcode fs_curl_setopt_xferinfo_function(CURL *h, fs_curl_xfer_callback f) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, f); }

static inline CURLcode fs_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }

static inline CURLSHcode fs_curl_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }
typedef void (*fs_curl_lock_function)(CURL *handle, curl_lock_data data, curl_lock_access access, void *userptr);
typedef void (*fs_curl_unlock_function)(CURL *handle, curl_lock_data data, void *userptr);
static inline CURLSHcode fs_curl_share_setopt_lock(CURLSH *s, fs_curl_lock_function f) { return curl_share_setopt(s, CURLSHOPT_LOCKFUNC, f); }
static inline CURLSHcode fs_curl_share_setopt_unlock(CURLSH *s, fs_curl_unlock_function f) { return curl_share_setopt(s, CURLSHOPT_UNLOCKFUNC, f); }
static inline CURLSHcode fs_curl_share_setopt_pointer(CURLSH *s, CURLSHoption o, void *v) { return curl_share_setopt(s, o, v); }
static inline CURLcode fs_curl_setopt_share(CURL *h, CURLSH *s) { return curl_easy_setopt(h, CURLOPT_SHARE, s); }
#endif
