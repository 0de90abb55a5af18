// The few libuv calls the addon makes (a poll handle for a host's channel, an async
// handle for finished runs, an idle handle while the loop polls for them). node-gyp builds see Node's own uv.h; cmake-js builds with
// the N-API headers alone do not, so they get these declarations of libuv 1.x calls,
// which the node binary exports (libuv keeps its ABI within a major version).
#pragma once

#if __has_include(<uv.h>)
#include <uv.h>
#else
#include <cstddef>
extern "C" {
typedef struct uv_loop_s uv_loop_t;
typedef struct uv_handle_s uv_handle_t;
typedef struct uv_poll_s uv_poll_t;
typedef struct uv_async_s uv_async_t;
typedef struct uv_idle_s uv_idle_t;
typedef void (*uv_idle_cb)(uv_idle_t* handle);
typedef void (*uv_poll_cb)(uv_poll_t* handle, int status, int events);
typedef void (*uv_async_cb)(uv_async_t* handle);
typedef void (*uv_close_cb)(uv_handle_t* handle);
enum { UV_ASYNC = 1, UV_IDLE = 6, UV_POLL = 8 };
enum { UV_READABLE = 1 };
size_t uv_handle_size(int type);
int uv_poll_init(uv_loop_t* loop, uv_poll_t* handle, int fd);
int uv_poll_start(uv_poll_t* handle, int events, uv_poll_cb cb);
int uv_poll_stop(uv_poll_t* handle);
int uv_async_init(uv_loop_t* loop, uv_async_t* handle, uv_async_cb cb);
int uv_async_send(uv_async_t* handle);
int uv_idle_init(uv_loop_t* loop, uv_idle_t* idle);
int uv_idle_start(uv_idle_t* idle, uv_idle_cb cb);
int uv_idle_stop(uv_idle_t* idle);
void uv_close(uv_handle_t* handle, uv_close_cb close_cb);
void uv_ref(uv_handle_t* handle);
void uv_unref(uv_handle_t* handle);
void* uv_handle_get_data(const uv_handle_t* handle);
void uv_handle_set_data(uv_handle_t* handle, void* data);
}
#endif
