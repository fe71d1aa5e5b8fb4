#include "daemon/logging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace tiervm::agent {

bool FdIsJournalStream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::string SetUpLogging(spdlog::level::level_enum level, const std::string& ident) {
  std::shared_ptr<spdlog::logger> logger;
  std::string where;
  if (FdIsJournalStream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO)) {
    // The sink sends the bare message with PRIORITY= and SYSLOG_IDENTIFIER=.
    logger = std::make_shared<spdlog::logger>(
        ident, std::make_shared<spdlog::sinks::systemd_sink_st>(ident));
    where = "journal";
  } else {
    logger = std::make_shared<spdlog::logger>(ident,
                                              std::make_shared<spdlog::sinks::stderr_sink_st>());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
    where = "stderr";
  }
  logger->set_level(level);
  spdlog::set_default_logger(std::move(logger));
  return where;
}

}  // namespace tiervm::agent
