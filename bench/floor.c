// The floor every binding is measured against: a plain C program over the
// TensorFlow C API. Loads a SavedModel, then loops TF_SessionRun on one float32
// feed and one fetch, optionally from several threads sharing the session.
//
//   floor --model DIR --feed OP:IDX --fetch OP:IDX --shape 1,4 [--config HEX]
//         [--iterations N] [--seconds S] [--warmup N] [--threads T] [--reuse-input]
//         [--no-copy-output] [--gap-us U [--sleep-gap]]
//
// Per call, by default: a new input tensor with the data copied in, TF_SessionRun,
// the output copied out. --reuse-input feeds one tensor made up front (no copy in);
// --no-copy-output leaves the output in TensorFlow's buffer. --gap-us waits U µs
// between calls, untimed (spinning, or sleeping with --sleep-gap): how TensorFlow's
// call slows when calls are not back to back (README, Performance). Prints one JSON line:
// {"load_ms":..,"wall_ms":..,"calls":..,"samples_us":[..]} (latency of every call).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tensorflow/c/c_api.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char* what, TF_Status* s) {
  fprintf(stderr, "%s: %s\n", what, s ? TF_Message(s) : "");
  exit(1);
}

struct bench {
  TF_Session* session;
  TF_Output feed, fetch;
  int64_t dims[8];
  int rank;
  size_t in_bytes;
  float* data;  // the input values, copied into each new tensor
  TF_Tensor* reused;
  int reuse_input, copy_output, warmup, per_thread;
  double gap_us;       // idle time between calls (spun, or slept with sleep_gap), not timed
  int sleep_gap;
  double deadline_us;  // lanes stop early once the time budget is spent
  int* done;           // calls each lane completed
  double* samples;  // per_thread samples for each thread, laid out thread by thread
  float* sink;      // output copies land here
};

struct lane {
  struct bench* b;
  int index;
};

static void one_call(struct bench* b, TF_Status* status, float* out_copy) {
  TF_Tensor* in = b->reused;
  if (!b->reuse_input) {
    in = TF_AllocateTensor(TF_FLOAT, b->dims, b->rank, b->in_bytes);
    memcpy(TF_TensorData(in), b->data, b->in_bytes);
  }
  TF_Tensor* out = NULL;
  TF_SessionRun(b->session, NULL, &b->feed, &in, 1, &b->fetch, &out, 1, NULL, 0, NULL, status);
  if (TF_GetCode(status) != TF_OK) die("TF_SessionRun", status);
  if (b->copy_output) memcpy(out_copy, TF_TensorData(out), TF_TensorByteSize(out));
  TF_DeleteTensor(out);
  if (!b->reuse_input) TF_DeleteTensor(in);
}

static void* run_lane(void* arg) {
  struct lane* lane = arg;
  struct bench* b = lane->b;
  TF_Status* status = TF_NewStatus();
  float* out_copy = malloc(64 << 20);
  double* samples = b->samples + (size_t)lane->index * b->per_thread;
  int i = 0;
  for (; i < b->per_thread; i++) {
    if (b->gap_us > 0) {
      if (b->sleep_gap) {
        usleep((useconds_t)b->gap_us);
      } else {
        for (double g0 = now_us(); now_us() - g0 < b->gap_us;) {
        }
      }
    }
    double t0 = now_us();
    if (t0 > b->deadline_us) break;
    one_call(b, status, out_copy);
    samples[i] = now_us() - t0;
  }
  b->done[lane->index] = i;
  b->sink[lane->index] = out_copy[0];
  free(out_copy);
  TF_DeleteStatus(status);
  return NULL;
}

static TF_Output resolve(TF_Graph* g, const char* name) {
  char op[512];
  snprintf(op, sizeof op, "%s", name);
  int index = 0;
  char* colon = strrchr(op, ':');
  if (colon) {
    *colon = 0;
    index = atoi(colon + 1);
  }
  TF_Operation* oper = TF_GraphOperationByName(g, op);
  if (!oper) {
    fprintf(stderr, "no operation %s\n", op);
    exit(1);
  }
  TF_Output o = {oper, index};
  return o;
}

int main(int argc, char** argv) {
  const char *model = NULL, *feed = NULL, *fetch = NULL, *shape = NULL, *config = "";
  int iterations = 1000, threads = 1;
  double seconds = 1e9;
  struct bench b;
  memset(&b, 0, sizeof b);
  b.copy_output = 1;
  b.warmup = 100;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--model")) model = argv[++i];
    else if (!strcmp(argv[i], "--feed")) feed = argv[++i];
    else if (!strcmp(argv[i], "--fetch")) fetch = argv[++i];
    else if (!strcmp(argv[i], "--shape")) shape = argv[++i];
    else if (!strcmp(argv[i], "--config")) config = argv[++i];
    else if (!strcmp(argv[i], "--iterations")) iterations = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup")) b.warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[++i]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reuse-input")) b.reuse_input = 1;
    else if (!strcmp(argv[i], "--no-copy-output")) b.copy_output = 0;
    else if (!strcmp(argv[i], "--gap-us")) b.gap_us = atof(argv[++i]);
    else if (!strcmp(argv[i], "--sleep-gap")) b.sleep_gap = 1;
    else {
      fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!model || !feed || !fetch || !shape || threads < 1) {
    fprintf(stderr, "usage: floor --model DIR --feed OP:IDX --fetch OP:IDX --shape 1,4 [...]\n");
    return 2;
  }
  size_t elements = 1;
  for (char* s = strtok(strdup(shape), ","); s; s = strtok(NULL, ",")) {
    b.dims[b.rank++] = atoll(s);
    elements *= (size_t)atoll(s);
  }
  b.in_bytes = elements * sizeof(float);
  b.data = malloc(b.in_bytes + 1);
  for (size_t i = 0; i < elements; i++) b.data[i] = (float)((i % 97) / 97.0);

  TF_Status* status = TF_NewStatus();
  TF_SessionOptions* options = TF_NewSessionOptions();
  size_t config_len = strlen(config) / 2;
  unsigned char* config_bytes = malloc(config_len + 1);
  for (size_t i = 0; i < config_len; i++) sscanf(config + 2 * i, "%2hhx", &config_bytes[i]);
  if (config_len) {
    TF_SetConfig(options, config_bytes, config_len, status);
    if (TF_GetCode(status) != TF_OK) die("TF_SetConfig", status);
  }
  // The load is timed from the graph's creation: a process's first TF_NewGraph registers
  // TensorFlow's ops (20-30 ms), part of loading a first model, as tfslice's load_ms counts it.
  double t0 = now_us();
  TF_Graph* graph = TF_NewGraph();
  const char* tags[] = {"serve"};
  b.session = TF_LoadSessionFromSavedModel(options, NULL, model, tags, 1, graph, NULL, status);
  double load_ms = (now_us() - t0) / 1000;
  if (TF_GetCode(status) != TF_OK) die("TF_LoadSessionFromSavedModel", status);
  b.feed = resolve(graph, feed);
  b.fetch = resolve(graph, fetch);
  if (b.reuse_input) {
    b.reused = TF_AllocateTensor(TF_FLOAT, b.dims, b.rank, b.in_bytes);
    memcpy(TF_TensorData(b.reused), b.data, b.in_bytes);
  }
  b.per_thread = iterations / threads;
  b.samples = malloc(sizeof(double) * (size_t)b.per_thread * threads);
  b.sink = calloc((size_t)threads, sizeof(float));
  b.done = calloc((size_t)threads, sizeof(int));
  pthread_t* ids = malloc(sizeof(pthread_t) * threads);
  struct lane* lanes = malloc(sizeof(struct lane) * threads);
  {
    // Warm up once, before the clock starts, so wall time covers timed calls only.
    float* out_copy = malloc(64 << 20);
    for (int i = 0; i < b.warmup; i++) one_call(&b, status, out_copy);
    free(out_copy);
  }
  double wall0 = now_us();
  b.deadline_us = wall0 + seconds * 1e6;
  for (int i = 0; i < threads; i++) {
    lanes[i].b = &b;
    lanes[i].index = i;
    pthread_create(&ids[i], NULL, run_lane, &lanes[i]);
  }
  for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  double wall_ms = (now_us() - wall0) / 1000;
  int calls = 0;
  for (int t = 0; t < threads; t++) calls += b.done[t];
  printf("{\"load_ms\":%.3f,\"wall_ms\":%.3f,\"calls\":%d,\"samples_us\":[", load_ms, wall_ms, calls);
  int first = 1;
  for (int t = 0; t < threads; t++) {
    for (int i = 0; i < b.done[t]; i++) {
      printf(first ? "%.3f" : ",%.3f", b.samples[(size_t)t * b.per_thread + i]);
      first = 0;
    }
  }
  printf("]}\n");
  if (b.reused) TF_DeleteTensor(b.reused);
  TF_CloseSession(b.session, status);
  TF_DeleteSession(b.session, status);
  TF_DeleteGraph(graph);
  TF_DeleteSessionOptions(options);
  TF_DeleteStatus(status);
  return 0;
}
