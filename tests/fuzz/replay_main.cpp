// replay_main.cpp: runs corpus files through a fuzz target's LLVMFuzzerTestOneInput without
// libFuzzer, so that an ordinary build (gcc, no sanitizer needed) replays the corpus as a test.
//
//   <target>-replay DIR_OR_FILE...
//
// Each file is one input. A broken invariant aborts; the file being replayed is then named on
// stderr. An argument that does not exist, or a run with no input at all, fails: a misplaced
// corpus must not pass as an empty success.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

namespace {

std::string current_input;  // set before each run, read by the crash handler

// Names the input that crashed, then lets the signal end the process as it would have.
extern "C" void name_crashing_input(int signal) {
  const char prefix[] = "replay: crashed on input ";
  (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!write(STDERR_FILENO, current_input.data(), current_input.size());
  (void)!write(STDERR_FILENO, "\n", 1);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

bool read_file(const fs::path& path, std::vector<uint8_t>& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    fs::path arg(argv[i]);
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::recursive_directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
    } else if (fs::is_regular_file(arg, ec)) {
      files.push_back(arg);
    } else {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      return 2;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: %s DIR_OR_FILE...  (no input found)\n", argv[0]);
    return 2;
  }
  std::sort(files.begin(), files.end());  // the same order on every machine
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL})
    std::signal(signal, name_crashing_input);

  std::vector<uint8_t> input;
  for (const auto& file : files) {
    if (!read_file(file, input)) {
      std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
      return 2;
    }
    current_input = file.string();
    // A buffer of exactly the input's size, so that a read past the end is a read past the buffer.
    std::unique_ptr<uint8_t[]> exact(new uint8_t[input.size() + (input.empty() ? 1 : 0)]);
    std::copy(input.begin(), input.end(), exact.get());
    LLVMFuzzerTestOneInput(exact.get(), input.size());
  }
  std::printf("replayed %zu input(s)\n", files.size());
  return 0;
}
