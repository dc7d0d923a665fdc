// child_process.hpp: a helper program run by a test (nginx, rthub-listen), its stdout readable
// line by line, always reaped.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace rthub_test {

class ChildProcess {
 public:
  // Starts argv[0] with `argv`; stdout is captured, stderr goes to `stderr_path` ("" for
  // /dev/null).
  explicit ChildProcess(std::vector<std::string> argv, const std::string& stderr_path = {});
  ~ChildProcess();  // SIGKILL and reap, if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The next line of stdout (without '\n'), waiting up to `timeout_ms`; false at EOF or timeout.
  bool read_line(std::string& line, int timeout_ms);
  // Reads lines until one contains `text`; false when none did within `timeout_ms`.
  bool wait_for_line(const std::string& text, int timeout_ms, std::string* found = nullptr);
  void signal(int sig);
  // Waits for the exit; the exit status, or -1 after `timeout_ms` (the process is then killed).
  int wait_exit(int timeout_ms);
  pid_t pid() const { return pid_; }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

}  // namespace rthub_test
