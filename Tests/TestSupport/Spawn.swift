import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid (Foundation's Process can
/// miss a child's exit on Linux and hang in waitUntilExit).
public struct Spawned {
    public let pid: pid_t

    /// Starts `argv` (looked up in PATH) with `environment`, in `directory`, with the given file
    /// descriptors as its standard input, output and error.
    public static func start(_ argv: [String], environment: [String: String], directory: String, stdin: Int32, stdout: Int32, stderr: Int32) throws -> Spawned {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a stop reaches its children too.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        // Change directory in a tiny shell, then exec the command itself (same pid).
        let wrapped = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + argv
        let cArgs = wrapped.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw SpawnError(command: argv.joined(separator: " "), code: rc) }
        return Spawned(pid: pid)
    }

    /// Waits for the exit and returns the exit status (128 + signal when killed).
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }

    /// Sends `signal` to the process group.
    public func signal(_ s: Int32) { kill(-pid, s) }

    public var isRunning: Bool {
        var status: Int32 = 0
        return waitpid(pid, &status, WNOHANG) == 0
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var command: String
    public var code: Int32
    public var description: String { "cannot start \(command): \(String(cString: strerror(code)))" }
}

/// Runs a shell command to completion with this process's environment, directory and standard
/// input, output and error; returns its exit status.
public func runShell(_ command: String) throws -> Int32 {
    try Spawned.start(["/bin/sh", "-c", command], environment: ProcessInfo.processInfo.environment,
                      directory: FileManager.default.currentDirectoryPath, stdin: 0, stdout: 1, stderr: 2).wait()
}

/// Runs a command to completion, capturing its output through temporary files.
public func runCommand(_ argv: [String], stdin: String?, environment: [String: String], directory: String) throws -> (Int32, String, String) {
    let base = NSTemporaryDirectory() + "foresight-cmd-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: base + ".in", contents: Data((stdin ?? "").utf8))
    FileManager.default.createFile(atPath: base + ".out", contents: nil)
    FileManager.default.createFile(atPath: base + ".err", contents: nil)
    defer { for s in [".in", ".out", ".err"] { try? FileManager.default.removeItem(atPath: base + s) } }
    let fin = open(base + ".in", O_RDONLY), fout = open(base + ".out", O_WRONLY), ferr = open(base + ".err", O_WRONLY)
    defer { close(fin); close(fout); close(ferr) }
    let child = try Spawned.start(argv, environment: environment, directory: directory, stdin: fin, stdout: fout, stderr: ferr)
    let status = child.wait()
    let out = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    return (status, out, err)
}
