# The one list of native sources. binding.gyp includes it; CMakeLists.txt reads
# it through native/sources.cmake; test/build.test.ts fails if either drifts.
{
  'variables': {
    'tfslice_sources': [
      'native/addon.cc',
      'native/channel.cc',
      'native/errors.cc',
      'native/runner.cc',
      'native/session.cc',
      'native/shm.cc',
      'native/tensor.cc',
      'native/tf_api.cc',
    ],
  },
}
