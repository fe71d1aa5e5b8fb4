// Where tiervm-agent's log lines go.  Under systemd (JOURNAL_STREAM names
// the stream stderr is connected to, see systemd.exec(5)) they go to the
// journal directly, with their real priority (warn -> PRIORITY=4, ...) and
// without a timestamp of their own (journald adds one); elsewhere to
// stderr as "<ISO time> <level> <text>".
//
// Stateless functions; SetUpLogging replaces spdlog's default logger, so
// call it once from main before any other thread logs.
#ifndef TIERVM_HOST_AGENT_DAEMON_LOGGING_H_
#define TIERVM_HOST_AGENT_DAEMON_LOGGING_H_

#include <string>

#include <spdlog/common.h>

namespace tiervm::agent {

// True when `journal_stream` (the JOURNAL_STREAM value, "DEV:INODE"; may
// be null) names the file `fd` is open on: systemd connected that fd to
// journald.  A stale variable inherited through a shell that redirected
// stderr elsewhere does not match.
bool FdIsJournalStream(const char* journal_stream, int fd);

// Installs the default logger at `level`: the journal when stderr is the
// journal stream (per FdIsJournalStream and getenv), stderr otherwise.
// Returns "journal" or "stderr".
std::string SetUpLogging(spdlog::level::level_enum level, const std::string& ident);

}  // namespace tiervm::agent

#endif  // TIERVM_HOST_AGENT_DAEMON_LOGGING_H_
