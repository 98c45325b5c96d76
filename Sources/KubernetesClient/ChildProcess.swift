import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left: its exit status (128 + signal when killed), its standard
/// output and standard error, and whether it was killed for running too long.
public struct ChildProcessResult: Sendable {
    public var status: Int32
    public var output: Data
    public var errorOutput: Data
    public var timedOut: Bool
}

/// Runs a program to completion with posix_spawn, reading its standard output and error at the
/// same time (a child that fills one pipe while we wait on the other would deadlock), and kills
/// it with SIGKILL after `timeout` seconds. Foundation's `Process` is not used: on Linux it can
/// miss a child's exit and hang in `waitUntilExit`.
public func runChildProcess(executable: String, arguments: [String], environment: [String: String], timeout: Double) throws -> ChildProcessResult {
    // Close-on-exec, so a child another thread spawns later does not inherit our pipes (and
    // keep them open after ours exits); the dup2 onto 1 and 2 below clears it for our child.
    var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
    guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    // A process group of its own, so a timeout kills what the plugin started too.
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attributes, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    close(outPipe[1]); close(errPipe[1])
    guard rc == 0 else {
        close(outPipe[0]); close(errPipe[0])
        throw POSIXError(.init(rawValue: rc) ?? .ENOENT)
    }
    var output = Data(), errorOutput = Data()
    var open: [Int32] = [outPipe[0], errPipe[0]]
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    var buffer = [UInt8](repeating: 0, count: 65536)
    while !open.isEmpty {
        let remaining = deadline.timeIntervalSinceNow
        if remaining <= 0 { timedOut = true; kill(-pid, SIGKILL); break }
        var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, 1) * 1000) + 1)
        if ready < 0 && errno != EINTR { break }
        for p in fds where p.revents != 0 {
            let n = read(p.fd, &buffer, buffer.count)
            if n > 0 {
                if p.fd == outPipe[0] { output.append(contentsOf: buffer[0..<n]) } else { errorOutput.append(contentsOf: buffer[0..<n]) }
            } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                open.removeAll { $0 == p.fd }
            }
        }
    }
    close(outPipe[0]); close(errPipe[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exit: Int32 = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return ChildProcessResult(status: exit, output: output, errorOutput: errorOutput, timedOut: timedOut)
}
